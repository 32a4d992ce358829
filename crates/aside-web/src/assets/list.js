// aside web view: the list page — every session, live, and the new-session form.

import { $, ago, base, el, pill, setLive, STATUS_TEXT, usageText, when } from "./dom.js";
import { api, offerTrust, Stream } from "./api.js";

export function listPage() {
  const sessions = new Map();
  const filters = { status: $("f-status"), agent: $("f-agent"), repo: $("f-repo"), archived: $("f-archived") };
  for (const s of ["queued", "starting", "running", "needs_input", "completed", "failed", "cancelled", "interrupted", "in_terminal", "idle"]) {
    filters.status.append(el("option", { value: s, text: STATUS_TEXT[s] || s }));
  }
  function options(select, values) {
    const current = select.value;
    const keep = select.options[0];
    select.replaceChildren(keep, ...[...values].sort().map((v) => el("option", { value: v, text: v.includes("/") ? base(v) : v })));
    select.value = current;
  }
  function row(s) {
    const changes = s.changed_files
      ? el("span", {}, el("span", { class: "add", text: `+${s.lines_added}` }), " ", el("span", { class: "del", text: `−${s.lines_removed}` }), el("div", { class: "sub", text: `${s.changed_files} file${s.changed_files === 1 ? "" : "s"}` }))
      : el("span", { class: "muted", text: "—" });
    // A session started in the agent's own CLI: marked, its id shortened as `ls` shows it.
    const shownId = s.external ? String(s.id).slice(0, 8) : s.id;
    return el("tr", { class: `${s.status}${s.external ? " external" : ""}`, "data-id": s.id },
      el("td", { class: "title" }, el("a", { href: `/s/${s.id}`, text: s.title }),
        el("div", { class: "sub" }, el("code", { text: shownId }), s.archived ? " · archived" : "",
          s.external ? el("span", { class: "tag", text: "external" }) : "",
          s.machine ? el("span", { class: "tag machine", title: "runs on this machine (over SSH)", text: `on ${s.machine}` }) : "",
          s.unreachable ? el("span", { class: "tag unreachable", title: "the machine cannot be reached now: this is how it was last seen", text: "unreachable" }) : "",
          s.integrated ? el("span", { class: `tag ${s.integrated}`, text: s.integrated }) : "",
          s.plan && s.plan.total ? el("span", { class: "tag plan", title: "plan steps done", text: `plan ${s.plan.done}/${s.plan.total}` }) : ""),
        s.last_line ? el("div", { class: "last-line", text: s.last_line }) : ""),
      el("td", {}, pill(s.status)),
      el("td", {}, s.agent, el("div", { class: "sub", text: s.external ? "its own CLI" : s.mode })),
      el("td", { title: s.repo }, base(s.repo)),
      el("td", {}, el("code", { title: s.worktree, text: String(s.worktree || "").split("/").slice(-2).join("/") }), s.branch ? el("div", { class: "sub", text: s.branch }) : null),
      el("td", { class: "num" }, changes),
      el("td", { class: "num usage", title: s.usage && s.usage.estimated ? "estimated: the endpoint reported no usage" : "" }, usageText(s.usage) || el("span", { class: "muted", text: "—" })),
      el("td", { title: s.created_at, text: when(s.created_at) }),
      el("td", { title: s.updated_at, text: ago(s.updated_at) }));
  }
  function render() {
    const list = [...sessions.values()].filter((s) =>
      (filters.archived.checked ? s.archived : !s.archived) &&
      (!filters.status.value || s.status === filters.status.value) &&
      (!filters.agent.value || s.agent === filters.agent.value) &&
      (!filters.repo.value || s.repo === filters.repo.value));
    list.sort((a, b) => (b.updated_at || "").localeCompare(a.updated_at || ""));
    $("rows").replaceChildren(...list.map(row));
    $("empty").hidden = sessions.size > 0;
    $("count").textContent = `${list.length} of ${sessions.size} session${sessions.size === 1 ? "" : "s"}`;
    window.__listRenderedAt = performance.now();
    // Sessions waiting on the user show in the tab title, so a background tab still tells.
    const waiting = [...sessions.values()].filter((s) => s.status === "needs_input" && !s.archived).length;
    document.title = waiting ? `(${waiting}) need input · Agents · aside` : "Agents · aside";
    options(filters.agent, new Set([...sessions.values()].map((s) => s.agent)));
    options(filters.repo, new Set([...sessions.values()].map((s) => s.repo)));
    document.body.dataset.ready = "1";
  }
  for (const f of Object.values(filters)) f.addEventListener("change", render);
  const stream = new Stream("/api/sessions/stream?all=true");
  stream.addEventListener("open", () => setLive(true));
  stream.addEventListener("error", () => setLive(false));
  // Desktop notifications when a session needs an answer, completes or fails while the page is
  // open: the browser asks once, on the first click anywhere on the page.
  let loaded = false;
  const notifyOf = { needs_input: "needs your answer", completed: "completed", failed: "failed" };
  document.addEventListener("click", () => {
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
  }, { once: true });
  function tell(s, before) {
    if (!loaded || !before || before.status === s.status || !notifyOf[s.status] || s.external) return;
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const n = new Notification(`${s.title}`, { body: `aside: ${notifyOf[s.status]}`, tag: `aside-${s.id}` });
    n.onclick = () => { window.focus(); window.location.href = `/s/${s.id}`; };
  }
  stream.addEventListener("sessions", (e) => {
    const change = JSON.parse(e.data);
    for (const s of change.upsert) { tell(s, sessions.get(s.id)); sessions.set(s.id, s); }
    for (const id of change.remove) sessions.delete(id);
    loaded = true;
    render();
  });
  setInterval(render, 30000);

  // The new-session form.
  const panel = $("new-panel");
  $("new-toggle").addEventListener("click", async () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) {
      $("new-task").focus();
      try {
        const meta = await api("GET", "/api/meta");
        $("repo-list").replaceChildren(...meta.repos.map((r) => el("option", { value: r })));
        if (!$("new-repo").value) $("new-repo").value = meta.repos[0] || meta.cwd || "";
        $("new-agent").replaceChildren(...meta.agents.map((a) => el("option", {
          value: a.name, text: a.installed ? a.name : `${a.name} (not installed: ${a.install})`,
        })));
        $("new-agent").value = meta.default_agent;
        // Other machines (`aside machine add`): the session runs there, over SSH.
        const machines = meta.machines || [];
        $("new-machine-field").hidden = machines.length === 0;
        $("new-machine").replaceChildren(el("option", { value: "", text: "This machine" }),
          ...machines.map((m) => el("option", { value: m, text: m })));
      } catch (err) { $("new-error").textContent = err.message; }
    }
  });
  $("new-cancel").addEventListener("click", () => { panel.hidden = true; });
  $("new-mode").addEventListener("change", () => {
    $("new-approve").options[0].textContent = $("new-mode").value === "isolated" ? "Default: allow everything in its worktree" : "Default: ask for everything but reads";
  });
  async function start() {
    $("new-error").textContent = "";
    $("new-submit").disabled = true;
    try {
      const s = await api("POST", "/api/sessions", {
        task: $("new-task").value, repo: $("new-repo").value, agent: $("new-agent").value,
        mode: $("new-mode").value, approve: $("new-approve").value, plan: $("new-plan").checked,
        machine: $("new-machine").value, budget: $("new-budget").value,
      });
      window.location.href = `/s/${s.id}`;
    } catch (err) {
      if (err.trust) offerTrust($("new-error"), err.trust, start);
      else $("new-error").textContent = err.message;
    } finally { $("new-submit").disabled = false; }
  }
  $("new-form").addEventListener("submit", (e) => { e.preventDefault(); start(); });
}
