// aside web view: talking to `aside ui` (the token, JSON requests, live streams).

import { el, unauthorized } from "./dom.js";

// The access token: from the URL `aside ui` printed (its fragment, which no request carries)
// into this origin's storage (scheme, host and port: no other local server, nor another
// `aside ui`, can read it), then sent as a bearer token. Never a cookie: browsers send cookies
// to every server on 127.0.0.1, whatever its port.
const TOKEN_KEY = "aside_token";
(function takeToken() {
  const match = /(?:^#|&)token=([0-9a-f]+)/.exec(window.location.hash);
  if (match) {
    localStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
})();
export function authHeaders(extra) {
  const token = localStorage.getItem(TOKEN_KEY) || "";
  return Object.assign({ authorization: `Bearer ${token}` }, extra || {});
}

export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: authHeaders(body ? { "content-type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
    credentials: "omit",
  });
  let data = {};
  try { data = await res.json(); } catch (_) { /* empty body */ }
  if (res.status === 401) unauthorized();
  if (!res.ok) {
    const err = new Error(data.error || `${res.status} ${res.statusText}`);
    err.trust = data.trust;
    throw err;
  }
  return data;
}

// A repository's .aside.toml asks for something the user has not trusted: show exactly what,
// as text, with a button that trusts it as shown and then does `retry` again.
export function offerTrust(box, trust, retry) {
  const button = el("button", { type: "button", text: "Trust and go on" });
  box.replaceChildren(
    el("div", { text: `${trust.repo}/.aside.toml asks aside to do this on your behalf:` }),
    el("ul", {}, ...trust.lines.map((line) => el("li", {}, el("code", { text: line })))),
    button,
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", "/api/trust", { repo: trust.repo, asks: trust.asks });
      box.replaceChildren();
      await retry();
    } catch (err) {
      box.textContent = err.message;
    }
  });
}

// Server-sent events over fetch, so the request carries the bearer token (EventSource
// cannot send headers): named events, "open" and "error" like EventSource, and a reconnect
// that resumes after the last id seen (Last-Event-ID).
export class Stream {
  constructor(url) {
    this.url = url;
    this.handlers = {};
    this.lastId = null;
    this.run();
  }
  addEventListener(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); }
  emit(name, message) { for (const fn of this.handlers[name] || []) fn(message); }
  async run() {
    for (;;) {
      try {
        const headers = authHeaders({ accept: "text/event-stream" });
        if (this.lastId !== null) headers["last-event-id"] = this.lastId;
        const res = await fetch(this.url, { headers, cache: "no-store", credentials: "omit" });
        if (res.status === 401) {
          this.emit("error", {});
          unauthorized();
          return;
        }
        if (!res.ok) throw new Error(`${res.status}`);
        this.emit("open", {});
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            this.frame(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (_) { /* the connection dropped: reconnect below */ }
      this.emit("error", {});
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  frame(text) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of text.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (id !== null) this.lastId = id;
    if (data.length) this.emit(event, { data: data.join("\n"), lastEventId: this.lastId });
  }
}
