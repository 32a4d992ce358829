// aside web view: the session page — its conversation (blocks the server merged and
// described), live; its changes; its actions.

import { $, el, pill, setLive } from "./dom.js";
import { api, offerTrust, Stream } from "./api.js";
import { markdown } from "./markdown.js";

export function sessionPage() {
  const id = decodeURIComponent(window.location.pathname.split("/").pop());
  $("crumb-id").textContent = id;
  let conv = $("conversation");
  const tools = new Map();      // toolCallId -> {data, node}
  let current = null;           // {kind, text, node} of the message being streamed
  let session = null;
  let pendingRender = new Set();
  let lastSeq = 0;

  function show(message, ok) {
    const box = $("action-result");
    box.hidden = false;
    box.className = `notice ${ok ? "good" : "bad"}`;
    box.textContent = message;
  }
  async function act(action, body, okText) {
    try {
      const out = await api("POST", `/api/sessions/${id}/${action}`, body || {});
      if (okText) show(typeof okText === "function" ? okText(out) : okText, true);
      refresh();
      return out;
    } catch (err) {
      show(err.message, false);
      if (err.trust) offerTrust($("action-result"), err.trust, () => act(action, body, okText));
    }
  }
  function renderHead() {
    const s = session;
    document.title = `${s.title} · aside`;
    $("title").textContent = s.title;
    $("status").replaceWith(Object.assign(pill(s.status), { id: "status" }));
    const agentSession = s.agent_session_id ? ` · agent session ${s.agent_session_id}` : "";
    if (s.external) {
      // Started in the agent's own CLI: read-only here, until adopted.
      $("meta").replaceChildren(`${s.agent} · started in its own CLI`, s.branch ? ` · branch ${s.branch}` : "", agentSession);
      $("external-note").hidden = false;
      $("resume-command").textContent = (s.resume_command || []).join(" ");
      for (const hide of ["actions", "follow-up", "tab-diff", "open-editor"]) $(hide).hidden = true;
      $("worktree").textContent = s.worktree;
      $("act-adopt").title = s.status === "running" ? "It is still running in its own CLI: adopting it now makes two writers" : "Continue it as an aside session";
      return;
    }
    $("meta").replaceChildren(`${s.agent} · ${s.mode} · approvals: ${s.approve}`, s.branch ? ` · branch ${s.branch}` : "", s.integrated ? ` · ${s.integrated}` : "", agentSession);
    $("worktree").textContent = s.worktree;
    // VS Code's own link handler; each segment encoded, so the path stays one path.
    const path = String(s.worktree || "");
    $("open-vscode").hidden = !path.startsWith("/");
    $("open-vscode").href = `vscode://file${path.split("/").map(encodeURIComponent).join("/")}`;
    $("reason").textContent = s.reason || "";
    const working = ["queued", "starting", "running", "needs_input"].includes(s.status);
    $("act-cancel").disabled = !working;
    $("act-cancel").hidden = !working;
    // A dead host's session can be picked up again; a live one can be released.
    $("act-resume").hidden = !["interrupted", "failed"].includes(s.status);
    $("act-stop").hidden = !s.host;
    $("act-apply").disabled = working || s.mode !== "isolated";
    $("act-merge").disabled = working || s.mode !== "isolated";
    // A plan changes nothing: there is nothing to apply or merge.
    $("act-apply").hidden = $("act-merge").hidden = s.kind === "plan";
    $("act-archive").textContent = s.archived ? "Unarchive" : "Archive";
  }
  // A status event that arrives while the session is being fetched is newer than what the
  // fetch may bring back: the page fetches again once it has landed.
  let fetching = false, stale = false;
  async function refresh() {
    if (fetching) { stale = true; return; }
    fetching = true;
    try {
      const out = await api("GET", `/api/sessions/${id}`);
      session = out.session;
      renderHead();
      // A finished plan: shown, editable, and started from here.
      const planReady = session.kind === "plan" && session.status === "completed" && !session.archived && out.plan;
      $("plan-panel").hidden = !planReady;
      if (planReady && !$("plan-text").value) $("plan-text").value = out.plan;
      $("diff-count").textContent = out.changed_files.length ? `(${out.changed_files.length})` : "";
    } catch (err) { $("title").textContent = err.message; }
    fetching = false;
    if (stale) { stale = false; refresh(); }
  }

  function endMessage() { current = null; }
  function appendChunk(kind, text) {
    if (!current || current.kind !== kind) {
      const node = kind === "agent_thought_chunk"
        ? el("details", { class: "thought" }, el("summary", { text: "Thinking…" }), el("div"))
        : el("div", { class: "msg agent" });
      conv.append(node);
      current = { kind, text: "", node };
    }
    current.text += text;
    pendingRender.add(current);
  }
  function flushRender() {
    for (const m of pendingRender) {
      if (m.kind === "agent_thought_chunk") m.node.lastChild.textContent = m.text;
      else m.node.replaceChildren(markdown(m.text));
    }
    pendingRender.clear();
  }
  function contentText(content) {
    const parts = [];
    for (const c of content || []) {
      if (c.type === "content" && c.content && c.content.type === "text") parts.push(c.content.text);
      if (c.type === "terminal") parts.push("(output in the agent's terminal)");
    }
    return parts.join("\n");
  }
  // What a tool call does, in the words the server worked out for every view
  // (`describe::action_lines`): the command, each edit's path and changed lines, the paths it
  // touches. Shown as text; the page describes nothing itself.
  function actionsView(lines) {
    const parts = [];
    let command = null, diff = null;
    for (const line of lines || []) {
      if (line.startsWith("$ ") || (command && line.startsWith("> "))) {
        if (!command) { command = el("pre", { class: "command" }); parts.push(command); }
        command.textContent += (command.textContent ? "\n" : "") + line;
        continue;
      }
      command = null;
      if (/^[-+] /.test(line)) {
        if (!diff) { diff = el("div", { class: "difflines" }); parts.push(diff); }
        diff.append(el("div", { class: line[0] === "+" ? "a" : "d", text: line }));
        continue;
      }
      diff = null;
      if (/^(create|edit|empty) /.test(line)) parts.push(el("div", { class: "label", text: line }));
      else if (line.startsWith("at ") || line.startsWith("  (in ")) parts.push(el("div", { class: "muted", text: line.trim() }));
      else parts.push(el("pre", { text: line }));
    }
    return el("div", { class: "detail" }, parts);
  }
  // A tool call as the server merged it (`merged`: the one reducer's ToolCalls) with its
  // `actions`; the page only draws it.
  function renderTool(t) {
    const d = t.data;
    const body = el("div", { class: "body" });
    if (d.rawInput !== undefined && d.rawInput !== null) body.append(el("div", { class: "label", text: "Input" }), el("pre", { text: typeof d.rawInput === "string" ? d.rawInput : JSON.stringify(d.rawInput, null, 2) }));
    if ((t.actions || []).some((l) => /^(create|edit|empty) /.test(l))) body.append(actionsView(t.actions.filter((l) => !l.startsWith("$ ") && !l.startsWith("> "))));
    const out = contentText(d.content);
    if (out) body.append(el("div", { class: "label", text: "Output" }), el("pre", { text: out }));
    const node = el("details", { class: "tool" },
      el("summary", {}, el("span", { class: "kind", text: d.kind || "tool" }), el("span", { class: "ttitle", text: d.title || d.toolCallId }), el("span", { class: `pill st-${d.status || "pending"}`, text: (d.status || "pending").replace("_", " ") })),
      body);
    if (t.node) { node.open = t.node.open; t.node.replaceWith(node); }
    t.node = node;
    return node;
  }
  function renderPlan(entries) {
    return el("div", { class: "plan" }, el("b", { text: "Plan" }),
      el("ol", {}, (entries || []).map((e) => el("li", { class: e.status, text: e.content }))));
  }
  let openPermission = null;
  function renderPermission(data) {
    const title = (data.toolCall && data.toolCall.title) || "an action";
    const kind = (data.toolCall && data.toolCall.kind) || "other";
    const node = el("div", { class: "permission" }, el("div", { class: "q", text: `The agent asks: ${title} [${kind}]` }), actionsView(data.actions));
    // The agent's own options, by kind (never by position).
    const ACTIONS = {
      allow_once: ["approve", {}, "primary"],
      allow_always: ["approve", { always: true }, ""],
      reject_once: ["deny", {}, "danger"],
      reject_always: ["deny", {}, "danger"],
    };
    const options = (data.options || []).filter((o) => ACTIONS[o.kind]);
    const opts = el("div", { class: "opts" }, options.map((o) => {
      const [action, body, cls] = ACTIONS[o.kind];
      return el("button", { class: cls, "data-kind": o.kind, text: o.name || o.kind, onclick: () => act(action, body, `Answered: ${o.name || o.kind}`) });
    }));
    node.append(opts);
    openPermission = node;
    return node;
  }
  function closePermission(text) {
    if (!openPermission) return;
    openPermission.classList.add("answered");
    openPermission.querySelector(".opts").replaceChildren(el("span", { class: "muted", text }));
    openPermission = null;
  }

  // Delay from storing an event to showing it, for live events (the benchmark reads it).
  const latencies = (window.__latencies = []);
  const openedAt = Date.now();
  function handle(e) {
    if (e.seq <= lastSeq) return;
    // Pieces of streamed text come before their stored row (which then carries only what
    // they did not say); only stored events move lastSeq.
    if (e.piece == null) lastSeq = e.seq;
    const storedAt = Date.parse(e.ts);
    if (storedAt > openedAt && latencies.length < 10000) latencies.push(Date.now() - storedAt);
    render(e);
  }
  function render(e) {
    const d = e.data || {};
    switch (e.kind) {
      case "agent_message_chunk":
      case "agent_thought_chunk":
        appendChunk(e.kind, (d.content && d.content.text) || "");
        return;
      case "prompt":
        endMessage();
        conv.append(el("div", { class: "msg user", text: d.text || "" }));
        return;
      case "tool_call": {
        endMessage();
        const t = { data: d.merged || d, actions: d.actions || [], node: null };
        tools.set(d.toolCallId, t);
        conv.append(renderTool(t));
        return;
      }
      case "tool_call_update": {
        // Shown where its call was announced; the server sends the whole call.
        const t = tools.get(d.toolCallId);
        if (!t || !d.merged) return;
        t.data = d.merged;
        t.actions = d.actions || [];
        renderTool(t);
        return;
      }
      case "plan": endMessage(); conv.append(renderPlan(d.entries)); return;
      case "permission_request": endMessage(); conv.append(renderPermission(d)); return;
      case "permission_answer": closePermission(`Answered: ${String(d.choice || "").replace("_", " ")}`); return;
      case "permission":
        endMessage();
        conv.append(el("details", { class: "sys" }, el("summary", { text: `${(d.toolCall && d.toolCall.title) || "Action"} — allowed by ${(d.decision && d.decision.by) || "policy"}` }), actionsView(d.actions)));
        return;
      case "interrupted": endMessage(); closePermission("The host stopped"); conv.append(el("div", { class: "sys err", text: d.reason || "The host stopped" })); return;
      case "cancel_requested": if (d.dropped) conv.append(el("div", { class: "sys", text: `Cancelling; dropped ${d.dropped} queued follow-up${d.dropped === 1 ? "" : "s"}` })); return;
      case "error": endMessage(); conv.append(el("div", { class: "sys err", text: d.message || "error" })); return;
      case "warning": endMessage(); conv.append(el("div", { class: "sys err warning", text: `Warning: ${d.message || ""}` })); return;
      case "turn_end":
        endMessage();
        closePermission("The turn ended");
        conv.append(el("div", { class: "sys", text: d.stopReason === "cancelled" ? "Turn cancelled" : "Turn ended" }));
        return;
      case "checkpoint":
        conv.append(el("div", { class: "sys", text: `Checkpoint ${String(d.commit || "").slice(0, 10)} · ${(d.files || []).length} file${(d.files || []).length === 1 ? "" : "s"} changed` }));
        return;
      case "status":
        if (session && session.status !== d.status) { session.status = d.status; session.reason = d.reason; renderHead(); }
        if (!session || fetching || ["completed", "failed", "cancelled"].includes(d.status)) refresh();
        return;
      default: return;
    }
  }

  // Events come in bursts (a replay of thousands); they are applied in animation frames.
  let queue = [];
  let scheduled = false;
  function drain() {
    scheduled = false;
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    const batch = queue; queue = [];
    for (const e of batch) handle(e);
    flushRender();
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    window.__aside = { lastSeq, renderedAt: performance.now() };
    document.body.dataset.seq = String(lastSeq);
  }
  // A long session opens at its end (the stream starts about 1,000 events before it, at a
  // turn); earlier events come a window at a time, on request, above the rest.
  let earliest = 0;
  const earlierButton = el("button", { id: "earlier", class: "earlier", hidden: true, onclick: loadEarlier });
  conv.prepend(earlierButton);
  function setEarliest(start) {
    earliest = start;
    earlierButton.hidden = start === 0;
    earlierButton.textContent = `Show earlier events (${start})`;
  }
  async function loadEarlier() {
    earlierButton.disabled = true;
    try {
      const out = await api("GET", `/api/sessions/${id}/earlier?before=${earliest + 1}`);
      const live = { conv, current, openPermission };
      const box = el("div", { class: "earlier-events" });
      conv = box; current = null;
      for (const e of out.events) render(e);
      flushRender();
      conv = live.conv; current = live.current; openPermission = live.openPermission;
      earlierButton.after(box);
      setEarliest(out.start);
    } catch (err) { show(err.message, false); }
    earlierButton.disabled = false;
  }
  const stream = new Stream(`/api/sessions/${id}/events?tail=1000`);
  stream.addEventListener("window", (m) => setEarliest(JSON.parse(m.data).start));
  stream.addEventListener("open", () => setLive(true));
  stream.addEventListener("error", () => setLive(false));
  stream.addEventListener("event", (m) => {
    queue.push(JSON.parse(m.data));
    if (!scheduled) { scheduled = true; requestAnimationFrame(drain); }
  });
  // The session as readers see it, sent when it changes without an event (its host died).
  stream.addEventListener("session", (m) => {
    session = JSON.parse(m.data);
    renderHead();
  });

  // Actions.
  $("copy-worktree").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("worktree").textContent); $("copy-worktree").textContent = "Copied"; }
    catch (_) {
      const range = document.createRange(); range.selectNodeContents($("worktree"));
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      $("copy-worktree").textContent = "Selected — press Ctrl+C";
    }
    setTimeout(() => { $("copy-worktree").textContent = "Copy path"; }, 2000);
  });
  $("open-editor").addEventListener("click", () => act("open", {}, (o) => o.message));
  $("act-adopt").addEventListener("click", async () => {
    const running = session && session.status === "running";
    if (running && !window.confirm("It is still running in its own CLI: two writers can corrupt it. Adopt it anyway?")) return;
    const out = await act("adopt", { force: running });
    if (out && out.id) window.location.href = `/s/${out.id}`;
  });
  $("act-cancel").addEventListener("click", () => act("cancel", {}, (o) => (o.message ? `Cancelling the turn; ${o.message}` : "Cancelling the turn")));
  $("act-resume").addEventListener("click", () => act("resume", {}, "Resumed: the agent continues where it stopped"));
  $("act-stop").addEventListener("click", () => act("stop", {}, "Stopped: the agent's processes are released; nothing was lost"));
  $("act-apply").addEventListener("click", () => act("apply", {}, (o) => o.message || `Applied to your workspace as uncommitted changes:\n${o.files.join("\n")}`));
  $("act-merge").addEventListener("click", () => act("merge", { squash: $("squash").checked }, (o) => o.message || `Merged as ${o.commit.slice(0, 10)}`));
  $("plan-start").addEventListener("click", async () => {
    const out = await act("start", { text: $("plan-text").value });
    if (out && out.id) window.location.href = `/s/${out.id}`;
  });
  $("act-fork").addEventListener("click", async () => {
    const text = window.prompt("What should the new session do next? (empty: continue the task)", "");
    if (text === null) return;
    const out = await act("fork", { text });
    if (out && out.id) window.location.href = `/s/${out.id}`;
  });
  $("act-archive").addEventListener("click", () => act(session && session.archived ? "unarchive" : "archive", {}, "Done"));
  $("act-remove").addEventListener("click", async () => {
    if (!window.confirm("Remove this session, its worktree and its branch?")) return;
    const out = await act("remove", {});
    if (out) window.location.href = "/";
  });
  $("follow-up").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("follow-text").value;
    if (!text.trim()) return;
    const ok = await act("prompt", { text });
    if (ok) $("follow-text").value = "";
  });
  $("follow-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("follow-up").requestSubmit();
  });

  // Tabs and the diff view.
  // Review comments on diff lines, sent to the agent as one follow-up.
  let review = [];
  function reviewBar() {
    const bar = el("div", { class: "review-bar" },
      el("span", { class: "muted", text: review.length ? `${review.length} comment${review.length === 1 ? "" : "s"} on the diff` : "Click a line to comment on it; comments go to the agent as one follow-up." }),
      el("span", { class: "spacer" }),
      el("button", { class: "primary", id: "send-review", disabled: !review.length, text: "Send review to the agent", onclick: async () => {
        const text = "Review comments on your changes:\n" + review.map((c) => `- ${c.where}: ${c.text}`).join("\n");
        const ok = await act("prompt", { text }, "Review sent to the agent");
        if (ok) { review = []; tab("conv"); }
      } }));
    const old = $("review-bar");
    bar.id = "review-bar";
    if (old) old.replaceWith(bar); else $("diff").prepend(bar);
  }
  function commentBox(line, where) {
    if (line.nextSibling && line.nextSibling.classList && line.nextSibling.classList.contains("comment-box")) return;
    const input = el("textarea", { rows: 2, placeholder: `Comment on ${where}` });
    const box = el("div", { class: "comment-box" }, input,
      el("div", { class: "row-actions" },
        el("button", { text: "Cancel", onclick: () => box.remove() }),
        el("button", { class: "primary", text: "Add comment", onclick: () => {
          if (!input.value.trim()) return;
          review.push({ where, text: input.value.trim() });
          box.replaceWith(el("div", { class: "comment" }, el("b", { text: where }), " ", input.value.trim()));
          reviewBar();
        } })));
    line.after(box);
    input.focus();
  }
  function diffLines(f) {
    let oldLine = 0, newLine = 0;
    const rows = [];
    for (const l of f.patch.split("\n")) {
      if (l === "") continue;
      const meta = l.startsWith("+++") || l.startsWith("---") || l.startsWith("diff ") || l.startsWith("index ") || l.startsWith("new file") || l.startsWith("deleted file");
      const hunk = l.match(/^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/);
      if (hunk) { oldLine = +hunk[1]; newLine = +hunk[2]; }
      let cls = meta ? "m" : hunk ? "h" : l.startsWith("+") ? "a" : l.startsWith("-") ? "d" : "";
      const row = el("div", { class: cls, text: l });
      if (!meta && !hunk) {
        const where = l.startsWith("-") ? `${f.path} (old line ${oldLine})` : `${f.path}:${newLine}`;
        row.classList.add("commentable");
        row.title = "Comment on this line";
        row.addEventListener("click", () => commentBox(row, where));
        if (l.startsWith("-")) oldLine++;
        else if (l.startsWith("+")) newLine++;
        else { oldLine++; newLine++; }
      }
      rows.push(row);
    }
    return rows;
  }
  async function loadDiff() {
    const box = $("diff");
    box.replaceChildren(el("div", { class: "muted", text: "Loading…" }));
    try {
      const out = await api("GET", `/api/sessions/${id}/diff`);
      if (!out.files.length) { box.replaceChildren(el("div", { class: "muted", text: "No changes yet." })); return; }
      box.replaceChildren(...out.files.map((f) => el("div", { class: "dfile" },
        el("div", { class: "dhead" }, el("b", { text: f.path }), el("span", { class: "add", text: `+${f.added}` }), el("span", { class: "del", text: `−${f.removed}` })),
        el("div", { class: "difflines" }, diffLines(f)))));
      review = [];
      reviewBar();
    } catch (err) { box.replaceChildren(el("div", { class: "error-text", text: err.message })); }
  }
  function tab(which) {
    $("tab-conv").classList.toggle("active", which === "conv");
    $("tab-diff").classList.toggle("active", which === "diff");
    $("conversation").hidden = which !== "conv";
    $("follow-up").hidden = which !== "conv";
    $("diff").hidden = which !== "diff";
    if (which === "diff") loadDiff();
  }
  $("tab-conv").addEventListener("click", () => tab("conv"));
  $("tab-diff").addEventListener("click", () => tab("diff"));
  refresh();
}
