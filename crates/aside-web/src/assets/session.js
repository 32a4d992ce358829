// aside web view: the session page — its conversation (blocks the server merged and
// described), live; its changes; its actions.

import { $, dollars, el, pill, setLive } from "./dom.js";
import { api, offerTrust, Stream } from "./api.js";
import { conversationView } from "./conversation.js";

export function sessionPage() {
  const id = decodeURIComponent(window.location.pathname.split("/").pop());
  $("crumb-id").textContent = id;
  const conv = $("conversation");
  let session = null;

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
    if (s.machine) {
      // On another machine: driven from here, its worktree there; its work comes home with
      // `aside apply` in the repository it was started from.
      $("meta").append(` · on machine ${s.machine}`);
      for (const hide of ["open-editor", "open-vscode", "act-fork", "act-archive", "act-remove"]) $(hide).hidden = true;
      for (const off of ["act-apply", "act-merge"]) {
        $(off).title = "Brings its work from that machine into the repository here it was started from";
      }
    }
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
      // What the agent's commands may do (the OS sandbox).
      $("sandbox").hidden = !out.sandbox;
      $("sandbox").textContent = out.sandbox ? `Sandbox: ${out.sandbox}` : "";
      // What it used: tokens by kind, the cost when its models' prices are known, the context.
      const u = out.usage;
      const total = u ? u.tokens.input + u.tokens.cached + u.tokens.output : 0;
      $("usage").hidden = !total;
      if (total) {
        const parts = [`${u.estimated ? "~" : ""}${total.toLocaleString("en-US")} tokens (${u.tokens.input.toLocaleString("en-US")} in · ${u.tokens.cached.toLocaleString("en-US")} cached · ${u.tokens.output.toLocaleString("en-US")} out)`];
        parts.push(typeof u.cost === "number" ? dollars(u.cost) : "cost unknown (no price for its model)");
        if (u.context) parts.push(`context ${u.context[0].toLocaleString("en-US")} of ${u.context[1].toLocaleString("en-US")}`);
        if (u.estimated) parts.push("estimated: the endpoint reported none");
        $("usage").textContent = `Usage: ${parts.join(" · ")}`;
      }
    } catch (err) { $("title").textContent = err.message; }
    fetching = false;
    if (stale) { stale = false; refresh(); }
  }

  const view = conversationView(conv, {
    act,
    status(d) {
      if (session && session.status !== d.status) { session.status = d.status; session.reason = d.reason; renderHead(); }
      if (!session || fetching || ["completed", "failed", "cancelled"].includes(d.status)) refresh();
    },
  });

  // Events come in bursts (a replay of thousands); they are applied in animation frames.
  let queue = [];
  let scheduled = false;
  function drain() {
    scheduled = false;
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    const batch = queue; queue = [];
    for (const e of batch) view.handle(e);
    view.flush();
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    window.__aside = { lastSeq: view.lastSeq(), renderedAt: performance.now() };
    document.body.dataset.seq = String(view.lastSeq());
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
      const box = el("div", { class: "earlier-events" });
      view.renderInto(box, out.events);
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
    $("machine-note").hidden = true;
    queue.push(JSON.parse(m.data));
    if (!scheduled) { scheduled = true; requestAnimationFrame(drain); }
  });
  // The session as readers see it, sent when it changes without an event (its host died).
  stream.addEventListener("session", (m) => {
    $("machine-note").hidden = true;
    session = JSON.parse(m.data);
    renderHead();
  });
  // A session on another machine whose connection broke: it goes on there; the stream
  // connects again and catches up.
  stream.addEventListener("machine", (m) => {
    const d = JSON.parse(m.data);
    $("machine-note").textContent = `The connection to ${d.machine} broke (${d.lost}); reconnecting. The session goes on there.`;
    $("machine-note").hidden = false;
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
