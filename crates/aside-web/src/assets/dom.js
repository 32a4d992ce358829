// aside web view: building DOM nodes, and the small helpers every page uses.
// Agent and tool text is untrusted: everything is built with DOM nodes and textContent; no
// string ever becomes HTML.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
export const $ = (id) => document.getElementById(id);

// Without the token (a page opened from a bookmark, not the URL `aside ui` printed): say so.
export function unauthorized() {
  if (document.getElementById("unauthorized")) return;
  document.body.prepend(el("div", { id: "unauthorized", class: "notice bad",
    text: "Not connected: open the URL that `aside ui` printed (it carries the access token)." }));
}

export function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
export const STATUS_TEXT = { needs_input: "needs input", in_terminal: "in terminal" };
export function pill(status) {
  return el("span", { class: `pill ${status}`, text: STATUS_TEXT[status] || status });
}
export function base(path) { return String(path || "").split("/").filter(Boolean).pop() || ""; }

export function setLive(on) { const l = $("live"); if (l) l.classList.toggle("on", on); }

// A count of tokens, short: 950, 12.3k, 1.2M.
export function shortTokens(n) {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}

// Dollars as people read them: $0.0123, $1.24.
export function dollars(amount) {
  return amount < 0.01 ? `$${amount.toFixed(4)}` : `$${amount.toFixed(2)}`;
}

// A session's usage in brief (its record's summary): "~12.3k tokens · $0.04", or "" for none.
export function usageText(u) {
  if (!u || !u.tokens) return "";
  const cost = typeof u.cost === "number" ? ` · ${dollars(u.cost)}` : "";
  return `${u.estimated ? "~" : ""}${shortTokens(u.tokens)} tokens${cost}`;
}
