// The session editor's page: aside's conversation drawn by the web view's own module, fed by
// the extension (which follows the session's stream); actions go back to the extension, which
// asks aside. Agent text is untrusted: every node is built from text.

import { $, el, pill, setLive } from "./web/dom.js";
import { conversationView } from "./web/conversation.js";

const vscode = acquireVsCodeApi();
let session = null;

function act(action, body) {
  vscode.postMessage({ type: "act", action, body: body || {} });
}

function show(message, ok) {
  const box = $("result");
  box.hidden = false;
  box.className = `notice ${ok ? "good" : "bad"}`;
  box.textContent = message;
}

const conv = $("conversation");
const view = conversationView(conv, {
  act: (action, body) => act(action, body),
  status(d) {
    if (session && session.status !== d.status) {
      session.status = d.status;
      session.reason = d.reason;
      renderHead();
    }
    vscode.postMessage({ type: "refresh" });
  },
});

function renderHead() {
  const s = session;
  if (!s) return;
  $("title").textContent = s.title;
  $("status").replaceWith(Object.assign(pill(s.status), { id: "status" }));
  const where = s.machine ? `on machine ${s.machine}: ${s.worktree}` : s.worktree;
  $("meta").textContent = s.external
    ? `${s.agent} · started in its own CLI · ${s.worktree}`
    : `${s.agent} · ${s.mode} · approvals: ${s.approve}${s.branch ? ` · branch ${s.branch}` : ""}${s.integrated ? ` · ${s.integrated}` : ""} · ${where}`;
  $("reason").textContent = s.reason || "";
  const working = ["queued", "starting", "running", "needs_input"].includes(s.status);
  $("act-cancel").hidden = !working || s.external;
  $("act-resume").hidden = s.external || !["interrupted", "failed"].includes(s.status);
  $("act-stop").hidden = s.external || !s.host;
  $("act-apply").hidden = $("act-merge").hidden = s.external || s.kind === "plan" || s.mode !== "isolated";
  $("act-apply").disabled = $("act-merge").disabled = working;
  $("act-adopt").hidden = !s.external;
  // Its worktree is on another machine: no window here can open it.
  $("act-window").hidden = !!s.machine;
  $("follow-up").hidden = s.external;
}

function renderFiles(files) {
  $("files-count").textContent = files.length ? `(${files.length})` : "";
  $("files-box").hidden = !files.length;
  $("files").replaceChildren(...files.map((f) => el("li", {},
    el("a", { href: "#", class: "file", "data-path": f.path, text: f.path, onclick: (e) => { e.preventDefault(); vscode.postMessage({ type: "diff", path: f.path }); } }),
    el("span", { class: "add", text: ` +${f.added}` }),
    el("span", { class: "del", text: ` −${f.removed}` }))));
}

// A long session opens at its end; earlier events come a window at a time, on request.
let earliest = 0;
const earlierButton = el("button", { id: "earlier", class: "earlier", hidden: true, onclick: () => {
  earlierButton.disabled = true;
  vscode.postMessage({ type: "earlier", before: earliest + 1 });
} });
conv.prepend(earlierButton);
function setEarliest(start) {
  earliest = start;
  earlierButton.hidden = start === 0;
  earlierButton.textContent = `Show earlier events (${start})`;
}

window.addEventListener("message", (e) => {
  const m = e.data;
  switch (m.type) {
    case "show":
      session = m.session;
      renderHead();
      renderFiles(m.files || []);
      return;
    case "session":
      session = m.session;
      renderHead();
      return;
    case "events": {
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
      for (const event of m.events) view.handle(event);
      view.flush();
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
      document.body.dataset.seq = String(view.lastSeq());
      return;
    }
    case "window": setEarliest(m.start); return;
    case "earlier": {
      const box = el("div", { class: "earlier-events" });
      view.renderInto(box, m.events);
      earlierButton.after(box);
      earlierButton.disabled = false;
      setEarliest(m.start);
      return;
    }
    case "live": setLive(m.live); return;
    case "result":
      show(m.message, m.ok);
      if (m.ok && m.action === "prompt") $("follow-text").value = "";
      return;
  }
});

$("act-cancel").addEventListener("click", () => act("cancel"));
$("act-stop").addEventListener("click", () => act("stop"));
$("act-resume").addEventListener("click", () => act("resume"));
$("act-apply").addEventListener("click", () => act("apply"));
$("act-merge").addEventListener("click", () => act("merge", { squash: false }));
$("act-adopt").addEventListener("click", () => act("adopt", { force: false }));
$("act-window").addEventListener("click", () => vscode.postMessage({ type: "command", command: "aside.openInNewWindow" }));
$("act-terminal").addEventListener("click", () => vscode.postMessage({ type: "command", command: "aside.resumeInTerminal" }));
$("follow-up").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("follow-text").value;
  if (text.trim()) act("prompt", { text });
});
$("follow-text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("follow-up").requestSubmit();
});

vscode.postMessage({ type: "ready" });
