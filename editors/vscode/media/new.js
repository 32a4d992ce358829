// The New Background Session form: filled from aside's list of agents (installed first), sent
// to the extension, which asks aside to start the session.

import { $, el } from "./web/dom.js";

const vscode = acquireVsCodeApi();
let agents = [];

function note() {
  const chosen = agents.find((a) => a.name === $("agent").value);
  $("agent-note").textContent = chosen && !chosen.installed ? `Not installed: ${chosen.install || ""}` : "";
}

window.addEventListener("message", (e) => {
  const m = e.data;
  if (m.type === "meta") {
    agents = m.agents || [];
    $("agent").replaceChildren(...agents.map((a) => el("option", { value: a.name, text: a.installed ? a.name : `${a.name} (not installed)` })));
    if (m.agent) $("agent").value = m.agent;
    $(m.mode === "workspace" ? "mode-workspace" : "mode-isolated").checked = true;
    if (m.task) $("task").value = m.task;
    // Other machines (`aside machine add`): the session can run there, over SSH.
    const machines = m.machines || [];
    $("machine-field").hidden = machines.length === 0;
    $("machine").replaceChildren(el("option", { value: "", text: "This machine" }), ...machines.map((name) => el("option", { value: name, text: name })));
    note();
  }
  if (m.type === "result") {
    const box = $("result");
    box.hidden = false;
    box.className = `notice ${m.ok ? "good" : "bad"}`;
    box.textContent = m.message;
    $("start").disabled = false;
  }
});

$("agent").addEventListener("change", note);
$("new-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const task = $("task").value;
  if (!task.trim()) { $("task").focus(); return; }
  $("start").disabled = true;
  vscode.postMessage({
    type: "start",
    task,
    agent: $("agent").value,
    mode: $("mode-workspace").checked ? "workspace" : "isolated",
    plan: $("plan").checked,
    model: $("model").value.trim(),
    budget: $("budget").value.trim(),
    machine: $("machine").value,
  });
});

vscode.postMessage({ type: "ready" });
