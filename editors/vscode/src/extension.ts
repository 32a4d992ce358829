// aside in VS Code: the Agents view, the session editor, new sessions, diffs, Apply and Merge,
// terminals and windows for a session's worktree. Everything is done by aside itself (its own
// `aside ui`, started by this extension on loopback with a token of its own; the CLI for
// terminals): no second copy of its rules or of its conversation here.

import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import { AsideServer, findAside, INSTALL_HINT } from "./aside";
import { openNewSession } from "./newSession";
import { SessionCommands, SessionPanel } from "./panel";
import { AgentsProvider, Session } from "./tree";

/** The base side of a diff: `aside-base:/PATH?{worktree, base}` is PATH at the session's base. */
const BASE_SCHEME = "aside-base";

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("aside");
  context.subscriptions.push(output);
  const log = (line: string) => output.appendLine(line);
  const started = Date.now();
  let activationMs = 0;
  const provider = new AgentsProvider();
  const tree = vscode.window.createTreeView("aside.agents", { treeDataProvider: provider, showCollapseAll: false });
  context.subscriptions.push(tree);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;

  const program = findAside(vscode.workspace.getConfiguration("aside").get<string>("path") || process.env.ASIDE_VSCODE_PROGRAM);
  if (!program) {
    tree.message = `aside was not found. ${INSTALL_HINT}`;
    void vscode.window.showErrorMessage(`aside was not found on PATH. ${INSTALL_HINT}`, "Open Settings").then((choice) => {
      if (choice) void vscode.commands.executeCommand("workbench.action.openSettings", "aside.path");
    });
    writeCheck(context, { activated: false, reason: "aside not found" });
    return;
  }
  const server = new AsideServer(program, folder, log);
  context.subscriptions.push({ dispose: () => server.stop() });

  // The status bar: how many sessions run, and how many wait for the user.
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  status.command = "workbench.view.extension.aside";
  context.subscriptions.push(status);
  const showCounts = () => {
    const { running, needsInput } = provider.counts();
    status.text = `$(sync) ${running}  $(bell) ${needsInput}`;
    status.tooltip = `aside: ${running} running, ${needsInput} needing your answer`;
    status.show();
    tree.badge = needsInput ? { value: needsInput, tooltip: `${needsInput} session${needsInput === 1 ? "" : "s"} need${needsInput === 1 ? "s" : ""} your answer` } : undefined;
  };
  provider.onDidUpdate(showCounts);

  const openSession = (id: string) => {
    const s = provider.get(id);
    SessionPanel.show(context, server, commands, id, s?.title);
  };
  provider.onNeedsInput((s) => {
    void vscode.window.showInformationMessage(`aside: "${s.title}" needs your answer`, "Open").then((choice) => {
      if (choice === "Open") openSession(s.id);
    });
  });

  // What the extension sees through VS Code's own API, for the tests (ASIDE_VSCODE_CHECK): its
  // commands as registered, the view's items as VS Code gets them, the status bar's text.
  const report = async () => {
    if (!process.env.ASIDE_VSCODE_CHECK) return;
    const registered = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith("aside."));
    const items = provider.getChildren().flatMap((node) => ("repo" in node ? provider.getChildren(node) : [node]))
      .map((node) => provider.getTreeItem(node))
      .map((item) => ({ label: String(item.label), description: String(item.description || ""), context: item.contextValue }));
    writeCheck(context, { activated: true, activationMs, commands: registered.sort(), items, status: status.text });
  };

  // The list, pushed by aside as sessions change.
  // The workspace's repository counts as known, so its sessions from the agents' own CLIs
  // show before aside has one there.
  const listRoute = folder ? `/api/sessions/stream?repo=${encodeURIComponent(folder)}` : "/api/sessions/stream";
  const list = server.stream(listRoute, (m) => {
    if (m.event !== "sessions") return;
    const { upsert, remove } = JSON.parse(m.data);
    provider.apply(upsert, remove);
    void report();
  }, (live) => { tree.message = live ? undefined : "Connecting to aside…"; });
  context.subscriptions.push({ dispose: () => list.close() });

  // The base side of a diff, read from git at the session's base commit.
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(BASE_SCHEME, {
    provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
      const { worktree, base } = JSON.parse(uri.query);
      const file = uri.path.replace(/^\//, "");
      return new Promise((resolve) => {
        // The blob as stored: no textconv, no pager, none of the repository's hooks or monitors
        // (a repository's own config is not trusted to run anything), as aside runs git.
        execFile(
          "git",
          ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-C", worktree, "cat-file", "blob", `${base}:${file}`],
          { maxBuffer: 64 * 1024 * 1024 },
          (err, stdout) => resolve(err ? "" : stdout),
        );
      });
    },
  }));

  const sessionOf = (arg: unknown): Session | undefined => {
    if (typeof arg === "string") return provider.get(arg);
    if (arg && typeof arg === "object" && "session" in arg) return (arg as { session: Session }).session;
    return undefined;
  };
  const commands: SessionCommands = {
    async openDiff(session: Session, file: string) {
      if (session.machine) {
        // Its worktree is on that machine: the file's patch, as aside there gives it.
        const out = await server.api("GET", `/api/sessions/${encodeURIComponent(session.id)}/diff`);
        const found = (out.files || []).find((f: { path: string }) => f.path === file);
        const doc = await vscode.workspace.openTextDocument({ language: "diff", content: found ? found.patch : `${file}: no change` });
        await vscode.window.showTextDocument(doc, { preview: true });
        return;
      }
      const base = session.base || "HEAD";
      const left = vscode.Uri.from({ scheme: BASE_SCHEME, path: `/${file}`, query: JSON.stringify({ worktree: session.worktree, base }) });
      const onDisk = path.join(session.worktree, file);
      const right = fs.existsSync(onDisk)
        ? vscode.Uri.file(onDisk)
        : vscode.Uri.from({ scheme: BASE_SCHEME, path: `/${file}`, query: JSON.stringify({ worktree: session.worktree, base: "4b825dc642cb6eb9a060e54bf8d69288fbee4904" }) });
      await vscode.commands.executeCommand("vscode.diff", left, right, `${file} (base ↔ ${session.title})`);
    },
    async run(command: string, id: string) {
      await vscode.commands.executeCommand(command, id);
    },
    bringHome(session: Session, action: string): Promise<string> {
      return new Promise((resolve, reject) => {
        if (!folder) {
          reject(new Error(`Open the repository it was started from, then ${action} it (aside ${action} ${session.id})`));
          return;
        }
        execFile(program, [action, session.id], { cwd: folder }, (err, stdout, stderr) => {
          if (err) reject(new Error(stderr.trim().replace(/^aside: /, "") || err.message));
          else resolve(stdout.trim());
        });
      });
    },
  };

  const register = (name: string, run: (...args: any[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(name, run));
  const act = async (s: Session | undefined, action: string, body: object, done: string) => {
    if (!s) return;
    try {
      await server.api("POST", `/api/sessions/${encodeURIComponent(s.id)}/${action}`, body);
      void vscode.window.showInformationMessage(done);
    } catch (e) {
      void vscode.window.showErrorMessage((e as Error).message);
    }
  };

  register("aside.newSession", (task?: string) =>
    openNewSession(context, server, folder, typeof task === "string" ? task : "", (id, title) => SessionPanel.show(context, server, commands, id, title)));
  register("aside.refresh", () => provider.apply([], []));
  register("aside.filterRepository", async () => {
    const all = "$(list-flat) Every repository";
    const picked = await vscode.window.showQuickPick([all, ...provider.repos()], {
      placeHolder: provider.filtered ? `Showing ${provider.filtered}` : "Showing every repository",
    });
    if (picked === undefined) return;
    const repo = picked === all ? undefined : picked;
    provider.filter(repo);
    tree.description = repo ? path.basename(repo) : undefined;
  });
  register("aside.openSession", (arg) => {
    const s = sessionOf(arg);
    if (s) openSession(s.id);
    else if (typeof arg === "string") openSession(arg);
  });
  register("aside.openInNewWindow", (arg) => {
    const s = sessionOf(arg);
    if (s) void vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.file(s.worktree), { forceNewWindow: true });
  });
  const terminal = (native: boolean) => (arg: unknown) => {
    const s = sessionOf(arg);
    if (!s) return;
    const args = native || s.external ? ["attach", "--native", s.id] : ["attach", s.id];
    const t = vscode.window.createTerminal({ name: `aside: ${s.title}`, cwd: fs.existsSync(s.worktree) ? s.worktree : undefined, shellPath: program, shellArgs: args });
    t.show();
  };
  register("aside.resumeInTerminal", terminal(false));
  register("aside.resumeNative", terminal(true));
  register("aside.copyWorktreePath", async (arg) => {
    const s = sessionOf(arg);
    if (s) {
      await vscode.env.clipboard.writeText(s.worktree);
      void vscode.window.showInformationMessage(`Copied ${s.worktree}`);
    }
  });
  register("aside.cancel", (arg) => act(sessionOf(arg), "cancel", {}, "Cancelling the turn"));
  register("aside.archive", (arg) => {
    const s = sessionOf(arg);
    return act(s, s?.archived ? "unarchive" : "archive", {}, s?.archived ? "Unarchived" : "Archived");
  });
  register("aside.remove", async (arg) => {
    const s = sessionOf(arg);
    if (!s) return;
    const sure = await vscode.window.showWarningMessage(`Remove "${s.title}", its worktree and its branch?`, { modal: true }, "Remove");
    if (sure === "Remove") await act(s, "remove", {}, `Removed ${s.id}`);
  });
  // A saved chat, a plan or a task note, from the open file or its selection: a conversation
  // aside can read goes on as one (`aside new --from-chat`); any other text is the task.
  register("aside.continueInBackground", async () => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showErrorMessage("Open the file (a saved chat, a plan or a task note) to continue in the background.");
      return;
    }
    const selection = editor.document.getText(editor.selection);
    const text = selection || editor.document.getText();
    const name = path.basename(editor.document.fileName) || "note.md";
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "aside-")), name.includes(".") ? name : `${name}.md`);
    fs.writeFileSync(file, text, { mode: 0o600 });
    execFile(program, ["new", "--from-chat", file, "--json"], { cwd: folder }, (err, stdout, stderr) => {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      if (!err) {
        try {
          const s = JSON.parse(stdout);
          SessionPanel.show(context, server, commands, s.id, s.title);
          return;
        } catch { /* fall through */ }
      }
      if (/cannot read .* as a conversation/.test(stderr)) {
        void vscode.commands.executeCommand("aside.newSession", text);
        return;
      }
      void vscode.window.showErrorMessage(stderr.trim() || (err as Error).message);
    });
  });

  activationMs = Date.now() - started;
  log(`activated in ${activationMs} ms with ${program}`);
}

/** With ASIDE_VSCODE_CHECK naming a file, what the extension saw is written there as JSON (the
 * tests read it; nothing is written otherwise). */
function writeCheck(context: vscode.ExtensionContext, data: object): void {
  const file = process.env.ASIDE_VSCODE_CHECK;
  if (!file) return;
  try {
    fs.writeFileSync(file, JSON.stringify({ ...data, extension: context.extension.id }));
  } catch { /* a test's problem, not the user's */ }
}

export function deactivate(): void {}
