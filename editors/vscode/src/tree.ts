// The Agents view: every session aside knows, grouped by repository (the workspace's first),
// kept up to date by aside's list stream.

import * as path from "path";
import * as vscode from "vscode";

/** A session as aside's API shows it (`aside ls --json` plus progress). */
export interface Session {
  id: string;
  title: string;
  task: string;
  agent: string;
  mode: string;
  approve: string;
  status: string;
  host: boolean;
  reason?: string | null;
  repo: string;
  worktree: string;
  branch?: string | null;
  base?: string | null;
  updated_at: string;
  changed_files: number;
  lines_added: number;
  lines_removed: number;
  pending_permission: boolean;
  archived: boolean;
  integrated?: string | null;
  kind: string;
  external: boolean;
  last_line?: string | null;
  plan?: { done: number; total: number } | null;
  resume_command?: string[];
  /** The machine it runs on (`aside machine add`); its id is then `NAME:ID`. */
  machine?: string;
  /** Its machine cannot be reached: this is how it was last seen. */
  unreachable?: boolean;
  /** What it used so far: tokens, and dollars when its models' prices are known. */
  usage?: { tokens: number; cost?: number | null; estimated?: boolean };
}

/** A session's usage in brief: "~12.3k tokens $0.04", or "" for none. */
export function usageText(u: Session["usage"]): string {
  if (!u || !u.tokens) return "";
  const n = u.tokens;
  const short = n < 1000 ? String(n) : n < 1e6 ? `${(n / 1000).toFixed(1)}k` : `${(n / 1e6).toFixed(1)}M`;
  const cost = typeof u.cost === "number" ? ` ${u.cost < 0.01 ? `$${u.cost.toFixed(4)}` : `$${u.cost.toFixed(2)}`}` : "";
  return `${u.estimated ? "~" : ""}${short} tokens${cost}`;
}

/** Where a session is grouped: its repository, or for one on another machine, the machine's
 * checkout of it (a path there). */
export function repoOf(s: Session): string {
  return s.machine ? `${s.machine}:${s.repo}` : s.repo;
}

/** Statuses in which a session is still working. */
export const ACTIVE = ["queued", "starting", "running", "needs_input"];

const STATUS_TEXT: Record<string, string> = { needs_input: "needs input", in_terminal: "in terminal" };

/** A status in words. */
export function statusText(status: string): string {
  return STATUS_TEXT[status] || status;
}

const ICONS: Record<string, [string, string | undefined]> = {
  queued: ["clock", undefined],
  starting: ["loading~spin", undefined],
  running: ["sync~spin", "charts.blue"],
  needs_input: ["bell-dot", "charts.yellow"],
  completed: ["pass", "charts.green"],
  failed: ["error", "charts.red"],
  interrupted: ["debug-pause", "charts.orange"],
  cancelled: ["circle-slash", undefined],
  in_terminal: ["terminal", undefined],
};

type Node = { repo: string } | { session: Session };

export class AgentsProvider implements vscode.TreeDataProvider<Node> {
  private readonly sessions = new Map<string, Session>();
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  /** Sessions that came to need the user's answer (each once per time it starts to). */
  private readonly needing = new Set<string>();
  private readonly asked = new vscode.EventEmitter<Session>();
  readonly onNeedsInput = this.asked.event;
  private readonly updated = new vscode.EventEmitter<void>();
  readonly onDidUpdate = this.updated.event;
  private loaded = false;
  /** Only this repository's sessions, when set. */
  private only: string | undefined;

  /** Takes a list message: sessions added or changed, and those gone. */
  apply(upsert: Session[], remove: string[]): void {
    for (const s of upsert) {
      const needs = s.status === "needs_input";
      if (needs && !this.needing.has(s.id) && this.loaded) this.asked.fire(s);
      if (needs) this.needing.add(s.id);
      else this.needing.delete(s.id);
      this.sessions.set(s.id, s);
    }
    for (const id of remove) {
      this.sessions.delete(id);
      this.needing.delete(id);
    }
    this.loaded = true;
    this.changed.fire(undefined);
    this.updated.fire();
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  /** How many sessions run, and how many wait for the user. */
  counts(): { running: number; needsInput: number } {
    let running = 0;
    let needsInput = 0;
    for (const s of this.sessions.values()) {
      if (s.status === "needs_input") needsInput++;
      else if (ACTIVE.includes(s.status)) running++;
    }
    return { running, needsInput };
  }

  /** Shows only `repo`'s sessions (undefined: every repository's). */
  filter(repo: string | undefined): void {
    this.only = repo;
    this.changed.fire(undefined);
  }

  get filtered(): string | undefined {
    return this.only;
  }

  /** Every repository that has sessions, the workspace's first. */
  repos(): string[] {
    const first = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const repos = [...new Set(this.all().map(repoOf))];
    repos.sort((a, b) => (a === first ? -1 : b === first ? 1 : a.localeCompare(b)));
    return repos;
  }

  getChildren(node?: Node): Node[] {
    const newest = (a: Session, b: Session) => b.updated_at.localeCompare(a.updated_at);
    if (!node) {
      if (this.only !== undefined) {
        return this.all().filter((s) => repoOf(s) === this.only).sort(newest).map((session) => ({ session }));
      }
      const repos = this.repos();
      // One repository: its sessions at the top, without a heading.
      if (repos.length <= 1) return this.all().sort(newest).map((session) => ({ session }));
      return repos.map((repo) => ({ repo }));
    }
    if ("repo" in node) {
      return this.all().filter((s) => repoOf(s) === node.repo).sort(newest).map((session) => ({ session }));
    }
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if ("repo" in node) {
      const item = new vscode.TreeItem(path.basename(node.repo) || node.repo, vscode.TreeItemCollapsibleState.Expanded);
      item.description = node.repo;
      item.iconPath = new vscode.ThemeIcon("repo");
      item.contextValue = "repo";
      return item;
    }
    const s = node.session;
    const item = new vscode.TreeItem(s.title || s.id, vscode.TreeItemCollapsibleState.None);
    item.id = s.id;
    const changes = s.changed_files ? `${s.changed_files} file${s.changed_files === 1 ? "" : "s"}` : "";
    const plan = s.plan ? `${s.plan.done}/${s.plan.total}` : "";
    // The last line of the agent's message ends the row (VS Code cuts what does not fit).
    const where = s.machine ? `on ${s.machine}${s.unreachable ? " (unreachable: as last seen)" : ""}` : "";
    item.description = [statusText(s.status), s.external ? `${s.agent} (its own CLI)` : s.agent, s.mode, where, plan, changes, usageText(s.usage), s.last_line || ""]
      .filter(Boolean)
      .join(" · ");
    const tip = new vscode.MarkdownString(undefined, false);
    tip.isTrusted = false;
    tip.supportHtml = false;
    tip.appendText(`${s.title}\n\n${statusText(s.status)} · ${s.agent} · ${s.mode}${s.reason ? ` · ${s.reason}` : ""}\n`);
    if (s.last_line) tip.appendText(`\n${s.last_line}\n`);
    const used = usageText(s.usage);
    if (used) tip.appendText(`\nused ${used}${s.usage && s.usage.estimated ? " (estimated: the endpoint reported none)" : ""}\n`);
    tip.appendText(s.machine ? `\non machine ${s.machine}: ${s.worktree}` : `\n${s.worktree}`);
    item.tooltip = tip;
    const [icon, color] = ICONS[s.status] || ["circle-outline", undefined];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    const state = ACTIVE.includes(s.status) ? "active" : "rest";
    item.contextValue = `session.${state}.${s.external ? "external" : s.machine ? "machine" : "own"}`;
    item.command = { command: "aside.openSession", title: "Open Session", arguments: [s.id] };
    return item;
  }
}
