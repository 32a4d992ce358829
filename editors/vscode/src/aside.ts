// Talking to aside: the extension runs its own `aside ui` (loopback, a token of its own, the
// same access rules as the web view) and uses its API: JSON requests, and server-sent events for
// the list and for each open session, pushed by aside (no polling here). Closing or reloading
// VS Code stops only that server: sessions live on in their hosts.

import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** How to install aside, for the message shown when it is not found. */
export const INSTALL_HINT =
  "Install it with `cargo install --git https://github.com/aside-dev/aside aside` (or see its README), " +
  "or set `aside.path` to the program.";

/** The `aside` program: the setting, else found on PATH; undefined when neither has it. */
export function findAside(setting: string | undefined): string | undefined {
  const given = (setting || "").trim();
  if (given) return isExecutable(given) ? given : undefined;
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "aside");
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** An error from aside's API: its own words, and what a repository asks to be trusted. */
export class AsideError extends Error {
  constructor(message: string, readonly status: number, readonly trust?: unknown) {
    super(message);
  }
}

/** One server-sent event. */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** A live stream: `close` ends it. */
export interface Subscription {
  close(): void;
}

/** The `aside ui` this window uses, started on demand and stopped with the extension. */
export class AsideServer {
  private child: ChildProcess | undefined;
  private base = "";
  private token = "";
  private starting: Promise<void> | undefined;

  constructor(readonly program: string, private readonly cwd: string | undefined, private readonly log: (line: string) => void) {}

  /** Starts `aside ui --port 0` and reads the URL it prints (with its token). */
  start(): Promise<void> {
    if (!this.starting) {
      this.starting = new Promise((resolve, reject) => {
        const child = spawn(this.program, ["ui", "--port", "0"], {
          cwd: this.cwd,
          stdio: ["ignore", "pipe", "pipe"],
          env: process.env,
        });
        this.child = child;
        let out = "";
        let settled = false;
        child.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString("utf8");
          const line = out.split("\n")[0];
          if (!settled && out.includes("\n")) {
            const match = /^(http:\/\/127\.0\.0\.1:\d+)\/\?token=([0-9a-f]+)/.exec(line.trim());
            settled = true;
            if (match) {
              this.base = match[1];
              this.token = match[2];
              resolve();
            } else {
              reject(new Error(`\`aside ui\` printed something unexpected: ${line}`));
            }
          }
        });
        child.stderr!.on("data", (chunk: Buffer) => this.log(chunk.toString("utf8").trimEnd()));
        child.on("error", (e) => {
          if (!settled) { settled = true; reject(new Error(`cannot start ${this.program}: ${e.message}`)); }
        });
        child.on("exit", (code, signal) => {
          this.log(`aside ui exited (${signal || code})`);
          if (!settled) { settled = true; reject(new Error(`\`${this.program} ui\` exited (${signal || code}) before it served`)); }
          this.child = undefined;
          this.starting = undefined;
        });
      });
    }
    return this.starting;
  }

  /** Stops the server (sessions go on). */
  stop(): void {
    this.child?.kill();
    this.child = undefined;
    this.starting = undefined;
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, origin: this.base };
    if (json) headers["content-type"] = "application/json";
    return headers;
  }

  /** A JSON request; aside's error message as an AsideError when it refuses. */
  async api<T = any>(method: "GET" | "POST", route: string, body?: unknown): Promise<T> {
    await this.start();
    const res = await fetch(this.base + route, {
      method,
      headers: this.headers(body !== undefined),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let data: any = {};
    try { data = text ? JSON.parse(text) : {}; } catch { data = { error: text }; }
    if (!res.ok) throw new AsideError(data.error || `${res.status} ${res.statusText}`, res.status, data.trust);
    return data as T;
  }

  /** Follows a stream of server-sent events, reconnecting (after the last id seen) when it
   * breaks, until closed. */
  stream(route: string, onMessage: (m: SseMessage) => void, onState?: (live: boolean) => void): Subscription {
    let closed = false;
    let controller: AbortController | undefined;
    let lastId: string | undefined;
    const run = async () => {
      while (!closed) {
        controller = new AbortController();
        try {
          await this.start();
          const headers = this.headers(false);
          if (lastId) headers["last-event-id"] = lastId;
          const res = await fetch(this.base + route, { headers, signal: controller.signal });
          if (!res.ok || !res.body) throw new Error(`${res.status}`);
          onState?.(true);
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            let cut: number;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              const frame = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              const message = parseFrame(frame);
              if (message) {
                if (message.id) lastId = message.id;
                onMessage(message);
              }
            }
          }
        } catch (e) {
          if (closed) return;
          this.log(`stream ${route}: ${(e as Error).message}`);
        }
        onState?.(false);
        if (!closed) await new Promise((r) => setTimeout(r, 1000));
      }
    };
    void run();
    return { close: () => { closed = true; controller?.abort(); } };
  }
}

function parseFrame(frame: string): SseMessage | undefined {
  let event = "message";
  const data: string[] = [];
  let id: string | undefined;
  for (const line of frame.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (!data.length) return undefined;
  return { event, data: data.join("\n"), id };
}
