// The session editor: one webview per session, drawing its conversation with the web view's own
// module (`conversation.js`: the blocks aside merged and described) as aside streams it, with
// the changed files (each opens VS Code's diff editor), a follow-up box and the session's
// actions, each done by aside with its own rules and words.

import * as vscode from "vscode";
import { AsideError, AsideServer, Subscription } from "./aside";
import { Session } from "./tree";

/** What the extension does for a session beside its editor (terminals, windows, diffs). */
export interface SessionCommands {
  openDiff(session: Session, file: string): Promise<void>;
  run(command: string, id: string): Promise<void>;
  /** `aside apply|merge NAME:ID` for a session on another machine, in the workspace's
   * repository: what it said. */
  bringHome(session: Session, action: string): Promise<string>;
}

export class SessionPanel {
  private static readonly open = new Map<string, SessionPanel>();
  private stream: Subscription | undefined;
  private session: Session | undefined;
  private pending: unknown[] = [];
  private flushTimer: NodeJS.Timeout | undefined;

  /** Shows session `id`'s editor (the one already open, or a new one). */
  static show(context: vscode.ExtensionContext, server: AsideServer, commands: SessionCommands, id: string, title?: string): SessionPanel {
    const existing = SessionPanel.open.get(id);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel("aside.session", title || `aside ${id}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, "media")],
    });
    const view = new SessionPanel(context, server, commands, id, panel);
    SessionPanel.open.set(id, view);
    return view;
  }

  /** The editors open now, by session id. */
  static panels(): Map<string, SessionPanel> {
    return SessionPanel.open;
  }

  private constructor(
    context: vscode.ExtensionContext,
    private readonly server: AsideServer,
    private readonly commands: SessionCommands,
    readonly id: string,
    readonly panel: vscode.WebviewPanel,
  ) {
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, "media", "aside.svg");
    panel.webview.html = html(panel.webview, context.extensionUri);
    panel.webview.onDidReceiveMessage((m) => this.receive(m));
    panel.onDidDispose(() => {
      this.stream?.close();
      if (this.flushTimer) clearTimeout(this.flushTimer);
      SessionPanel.open.delete(id);
    });
  }

  private post(message: unknown): void {
    void this.panel.webview.postMessage(message);
  }

  /** Events go to the page in batches (a long session's replay is thousands at once). */
  private queue(event: unknown): void {
    this.pending.push(event);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        const events = this.pending;
        this.pending = [];
        this.post({ type: "events", events });
      }, 30);
    }
  }

  private async refresh(): Promise<void> {
    try {
      const out = await this.server.api("GET", `/api/sessions/${encodeURIComponent(this.id)}`);
      this.session = out.session;
      this.panel.title = out.session.title || this.id;
      this.post({ type: "show", session: out.session, files: out.changed_files, plan: out.plan });
    } catch (e) {
      this.post({ type: "result", ok: false, message: (e as Error).message });
    }
  }

  private start(): void {
    this.stream?.close();
    // A long session opens at its end (about the last 1,000 events, from their turn).
    this.stream = this.server.stream(
      `/api/sessions/${encodeURIComponent(this.id)}/events?tail=1000`,
      (m) => {
        if (m.event === "event") this.queue(JSON.parse(m.data));
        else if (m.event === "window") this.post({ type: "window", start: JSON.parse(m.data).start });
        else if (m.event === "session") {
          this.session = JSON.parse(m.data);
          this.post({ type: "session", session: this.session });
        }
      },
      (live) => this.post({ type: "live", live }),
    );
  }

  private async receive(m: any): Promise<void> {
    switch (m?.type) {
      case "ready":
        await this.refresh();
        this.start();
        return;
      case "refresh":
        await this.refresh();
        return;
      case "act": {
        // A session on another machine: its work comes into this workspace's repository.
        if (this.session?.machine && (m.action === "apply" || m.action === "merge")) {
          try {
            const said = await this.commands.bringHome(this.session, m.action);
            this.post({ type: "result", ok: true, message: said, action: m.action, out: {} });
          } catch (e) {
            this.post({ type: "result", ok: false, message: (e as Error).message, action: m.action });
          }
          await this.refresh();
          return;
        }
        try {
          const out = await this.server.api("POST", `/api/sessions/${encodeURIComponent(this.id)}/${m.action}`, m.body || {});
          this.post({ type: "result", ok: true, message: describe(m.action, out), action: m.action, out });
          // An adopted session goes on as one of aside's: its own editor opens.
          if (m.action === "adopt" && out.id) await this.commands.run("aside.openSession", out.id);
        } catch (e) {
          const err = e as AsideError;
          this.post({ type: "result", ok: false, message: err.message, action: m.action });
        }
        await this.refresh();
        return;
      }
      case "earlier": {
        try {
          const out = await this.server.api("GET", `/api/sessions/${encodeURIComponent(this.id)}/earlier?before=${Number(m.before)}`);
          this.post({ type: "earlier", events: out.events, start: out.start });
        } catch (e) {
          this.post({ type: "result", ok: false, message: (e as Error).message });
        }
        return;
      }
      case "diff":
        if (this.session) await this.commands.openDiff(this.session, String(m.path));
        return;
      case "command":
        await this.commands.run(String(m.command), this.id);
        return;
    }
  }
}

/** What an action did, in words. */
function describe(action: string, out: any): string {
  switch (action) {
    case "prompt": return "Sent to the agent";
    case "cancel": return out.message ? `Cancelling the turn; ${out.message}` : "Cancelling the turn";
    case "resume": return "Resumed: the agent continues where it stopped";
    case "stop": return "Stopped: the agent's processes are released; nothing was lost";
    case "apply": return out.message || `Applied to your workspace as uncommitted changes:\n${(out.files || []).join("\n")}`;
    case "merge": return out.message || `Merged as ${String(out.commit || "").slice(0, 10)}`;
    case "approve": case "deny": return "Answered";
    case "adopt": return out.id ? `Adopted as session ${out.id}` : "Adopted";
    default: return out.message || "Done";
  }
}

function nonce(): string {
  let text = "";
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (let i = 0; i < 32; i++) text += chars.charAt(Math.floor(Math.random() * chars.length));
  return text;
}

/** A file of the extension's `media/` folder as `webview` may load it. */
export function mediaUri(webview: vscode.Webview, root: vscode.Uri, ...parts: string[]): string {
  return webview.asWebviewUri(vscode.Uri.joinPath(root, "media", ...parts)).toString();
}

function html(webview: vscode.Webview, root: vscode.Uri): string {
  const media = (...parts: string[]) => mediaUri(webview, root, ...parts);
  const n = nonce();
  // Agent text is untrusted: the page builds every node from text; nothing runs but these
  // scripts (and the modules they import), no inline style or script.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${webview.cspSource}; style-src ${webview.cspSource}; script-src 'nonce-${n}' ${webview.cspSource};">
<link rel="stylesheet" href="${media("web", "app.css")}">
<link rel="stylesheet" href="${media("session.css")}">
</head>
<body data-page="vscode-session">
<header class="head">
  <h1 id="title">…</h1>
  <span id="status" class="pill"></span>
  <span id="live" class="live" title="Live"></span>
</header>
<div id="meta" class="muted"></div>
<div id="reason" class="error-text"></div>
<div id="actions" class="actions">
  <button id="act-cancel" hidden>Cancel</button>
  <button id="act-stop" hidden>Stop</button>
  <button id="act-resume" hidden>Resume</button>
  <button id="act-apply" class="primary">Apply Changes</button>
  <button id="act-merge">Merge</button>
  <button id="act-adopt" hidden>Adopt</button>
  <button id="act-window">Open in New Window</button>
  <button id="act-terminal">Resume in Terminal</button>
</div>
<div id="result" class="notice" hidden></div>
<section id="files-box">
  <h2>Changes <span id="files-count" class="muted"></span></h2>
  <ul id="files" class="files"></ul>
</section>
<section id="conversation" class="conversation"></section>
<form id="follow-up" class="follow-up">
  <textarea id="follow-text" rows="3" placeholder="Send a follow-up (Ctrl+Enter)"></textarea>
  <button type="submit" class="primary">Send</button>
</form>
<script type="module" nonce="${n}" src="${media("session.js")}"></script>
</body>
</html>`;
}
