// aside web view: markdown, rendered safely — a small subset, built as DOM nodes.

import { el } from "./dom.js";

export function inline(text) {
  const out = [];
  // Emphasis only between word boundaries, as in CommonMark: snake_case_names stay as they are.
  const re = /(`[^`]+`)|(\*\*[^*\s][^*]*?\*\*)|((?<![\w*])\*[^*\s][^*]*?\*(?![\w*])|(?<!\w)_[^_\s][^_]*?_(?!\w))|(\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (m[1]) out.push(el("code", { text: t.slice(1, -1) }));
    else if (m[2]) out.push(el("strong", { text: t.slice(2, -2) }));
    else if (m[3]) out.push(el("em", { text: t.slice(1, -1) }));
    else {
      const label = t.slice(1, t.indexOf("]("));
      const href = t.slice(t.indexOf("](") + 2, -1);
      out.push(/^https?:\/\//i.test(href)
        ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: label })
        : document.createTextNode(label));
    }
    last = m.index + t.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}
export function markdown(src) {
  const root = el("div");
  const lines = String(src).split("\n");
  let i = 0, para = [], list = null;
  const flush = () => {
    if (para.length) { root.append(el("p", {}, inline(para.join(" ")))); para = []; }
    if (list) { root.append(list); list = null; }
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*```(.*)$/);
    if (fence) {
      flush();
      const code = [];
      i++;
      while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
      i++;
      root.append(el("pre", {}, el("code", { text: code.join("\n") })));
      continue;
    }
    const h = line.match(/^(#{1,6})\s+(.*)$/);
    const ul = line.match(/^\s*[-*+]\s+(.*)$/);
    const ol = line.match(/^\s*\d+[.)]\s+(.*)$/);
    const quote = line.match(/^>\s?(.*)$/);
    if (h) { flush(); root.append(el(`h${Math.min(h[1].length + 0, 3)}`, {}, inline(h[2]))); }
    else if (ul || ol) {
      if (para.length) { root.append(el("p", {}, inline(para.join(" ")))); para = []; }
      const tag = ul ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) { if (list) root.append(list); list = el(tag); }
      list.append(el("li", {}, inline((ul || ol)[1])));
    } else if (quote) { flush(); root.append(el("blockquote", {}, inline(quote[1]))); }
    else if (!line.trim()) flush();
    else { if (list) { root.append(list); list = null; } para.push(line); }
    i++;
  }
  flush();
  return root;
}
