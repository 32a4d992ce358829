// aside's conversation, drawn: the blocks the server merged and described (a tool call with its
// `merged` call and `actions` lines), turned into DOM nodes. Shared by the web view's session
// page and the VS Code extension's session editor; no string ever becomes HTML.

import { el } from "./dom.js";
import { markdown } from "./markdown.js";

// A conversation drawn into `container`. `hooks.act(action, body, okText)` answers a permission
// request (`approve` / `deny`, by the agent's option kinds); `hooks.status(data)` hears of a
// status change. Returns `handle(event)` for events in order (a seq not newer than the last is
// skipped; streamed pieces join their message), `flush()` to draw the text that streamed, and
// `renderInto(box, events)` for a window of earlier events drawn on their own.
export function conversationView(container, hooks) {
  let conv = container;
  const tools = new Map();      // toolCallId -> {data, actions, node}
  let current = null;           // {kind, text, node} of the message being streamed
  const pendingRender = new Set();
  let lastSeq = 0;

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
      return el("button", { class: cls, "data-kind": o.kind, text: o.name || o.kind, onclick: () => hooks.act(action, body, `Answered: ${o.name || o.kind}`) });
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
      case "status": hooks.status(d); return;
      default: return;
    }
  }


  function renderInto(box, events) {
    const live = { conv, current, openPermission };
    conv = box; current = null;
    for (const e of events) render(e);
    flushRender();
    conv = live.conv; current = live.current; openPermission = live.openPermission;
  }
  return { handle, flush: flushRender, renderInto, lastSeq: () => lastSeq };
}
