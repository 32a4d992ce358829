// New Background Session: an editor with the task (as many lines as it needs), the agent
// (installed ones first; a missing one says how to install it), Isolated / Workspace, plan
// first, and the model. The session starts at once; its editor opens.

import * as vscode from "vscode";
import { AsideServer } from "./aside";
import { mediaUri } from "./panel";

export function openNewSession(
  context: vscode.ExtensionContext,
  server: AsideServer,
  repo: string | undefined,
  task: string,
  started: (id: string, title: string) => void,
): void {
  const panel = vscode.window.createWebviewPanel("aside.new", "New Background Session", vscode.ViewColumn.Active, {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, "media")],
  });
  const media = (...parts: string[]) => mediaUri(panel.webview, context.extensionUri, ...parts);
  const config = vscode.workspace.getConfiguration("aside");
  const csp = panel.webview.cspSource;
  panel.webview.html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${csp}; script-src ${csp};">
<link rel="stylesheet" href="${media("web", "app.css")}">
<link rel="stylesheet" href="${media("session.css")}">
</head>
<body data-page="vscode-new">
<h1>New Background Session</h1>
<form id="new-form" class="new-form">
  <label>Task<textarea id="task" rows="8" placeholder="What should the agent do?"></textarea></label>
  <label>Agent <select id="agent"></select></label>
  <div id="agent-note" class="muted"></div>
  <fieldset><legend>Where it works</legend>
    <label><input type="radio" name="mode" value="isolated" id="mode-isolated"> Isolated — a worktree of its own</label>
    <label><input type="radio" name="mode" value="workspace" id="mode-workspace"> Workspace — your checkout</label>
  </fieldset>
  <label><input type="checkbox" id="plan"> Plan first (the agent plans; you start it from the plan)</label>
  <label>Model <input id="model" placeholder="the agent's default"></label>
  <label>Budget <input id="budget" placeholder="200k or $3 (default: your config's)"></label>
  <label id="machine-field" hidden>Runs on <select id="machine"><option value="">This machine</option></select></label>
  <div><button type="submit" class="primary" id="start">Start</button></div>
  <div id="result" class="notice" hidden></div>
</form>
<script type="module" src="${media("new.js")}"></script>
</body></html>`;
  panel.webview.onDidReceiveMessage(async (m) => {
    if (m?.type === "ready") {
      try {
        const meta = await server.api("GET", "/api/meta");
        void panel.webview.postMessage({
          type: "meta",
          agents: meta.agents,
          agent: config.get<string>("defaultAgent") || meta.default_agent,
          mode: config.get<string>("defaultMode") || "isolated",
          task,
          repo: repo || meta.cwd,
          machines: meta.machines || [],
        });
      } catch (e) {
        void panel.webview.postMessage({ type: "result", ok: false, message: (e as Error).message });
      }
      return;
    }
    if (m?.type === "start") {
      if (!repo) {
        void panel.webview.postMessage({ type: "result", ok: false, message: "Open a folder in a git repository first: the agent works in it." });
        return;
      }
      try {
        const s = await server.api("POST", "/api/sessions", {
          task: m.task,
          repo,
          agent: m.agent,
          mode: m.mode,
          plan: !!m.plan,
          model: m.model || undefined,
          machine: m.machine || undefined,
          budget: m.budget || undefined,
        });
        panel.dispose();
        started(s.id, s.title);
      } catch (e) {
        void panel.webview.postMessage({ type: "result", ok: false, message: (e as Error).message });
      }
    }
  });
}
