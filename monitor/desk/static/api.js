// Calls to the desk's API with the bearer token (sessionStorage only: never in a URL, never logged),
// the push stream read with fetch() (EventSource cannot send the Authorization header), and downloads.

const TOKEN_KEY = "monitor.desk.token";

export function getToken() {
  try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

export function setToken(token) {
  try { window.sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* kept for this page only */ }
}

export function clearToken() {
  try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
}

// An answer other than 2xx: the status, the service's own message (English, or a 422's list of fields) and
// its code and parameters (the page shows the vocabulary's label of the code).
export class ApiError extends Error {
  constructor(status, detail, code, params) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
    this.code = code || null;
    this.params = params || {};
  }
}

function headers(extra) {
  const out = { Accept: "application/json", ...(extra || {}) };
  const token = getToken();
  if (token) out.Authorization = "Bearer " + token;
  return out;
}

function url(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== "") params.append(k, v);
  }
  const text = params.toString();
  return "/api/v1" + path + (text ? "?" + text : "");
}

async function errorOf(response) {
  let detail = response.statusText || "";
  let code = null;
  let params = {};
  try {
    const body = await response.json();
    if (body && "detail" in body) detail = body.detail;
    if (body && body.code) { code = body.code; params = body.params || {}; }
  } catch (e) { /* not JSON: keep the status text */ }
  return new ApiError(response.status, detail, code, params);
}

// {status, data} for a 2xx answer; ApiError otherwise (status 0: the service did not answer).
export async function api(method, path, { query, body, requestId } = {}) {
  const extra = {};
  if (body !== undefined) extra["Content-Type"] = "application/json";
  if (requestId) extra["X-Request-ID"] = requestId;
  let response;
  try {
    response = await fetch(url(path, query), { method, headers: headers(extra), cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, String(e && e.message ? e.message : e));
  }
  if (!response.ok) throw await errorOf(response);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  return { status: response.status, data };
}

// Fetch a file with the token and hand it to the browser as a download (no token in any link).
export async function download(path, query, fallbackName) {
  let response;
  try {
    response = await fetch(url(path, query), { headers: headers({ Accept: "*/*" }), cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, String(e && e.message ? e.message : e));
  }
  if (!response.ok) throw await errorOf(response);
  const disposition = response.headers.get("content-disposition") || "";  // the service names the file
  const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const named = utf8 ? [null, decodeURIComponent(utf8[1])] : /filename="([^"]+)"/.exec(disposition);
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = named ? named[1] : fallbackName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  return link.download;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { window.clearTimeout(timer); resolve(); }, { once: true });
  });
}

// The push stream of new alerts (Server-Sent Events over fetch, with the Authorization header).
// onAlert(item) for every `event: alert`; onState("connecting" | "live" | "retrying" | "stopped", error?).
// Reconnects after the server's `retry:` delay with Last-Event-ID, so nothing is missed in between.
export class AlertStream {
  constructor(onAlert, onState) {
    this.onAlert = onAlert;
    this.onState = onState;
    this.controller = null;
  }

  // Resolves once the stream is subscribed (or has failed), so a list loaded after it misses nothing.
  start(filters) {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    return new Promise((resolve) => { this.loop(controller, filters, resolve); });
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async loop(controller, filters, opened) {
    const signal = controller.signal;
    let lastId = null;
    let delay = 3000;
    while (!signal.aborted) {
      this.onState("connecting");
      try {
        const extra = { Accept: "text/event-stream" };
        if (lastId) extra["Last-Event-ID"] = lastId;
        const response = await fetch(url("/alerts/stream", filters), { headers: headers(extra), signal,
          cache: "no-store" });
        if (!response.ok) {
          const error = await errorOf(response);
          opened();
          if ([401, 403, 404, 422].includes(response.status)) {
            this.onState("stopped", error);
            return;
          }
          this.onState("retrying", error);
        } else {
          this.onState("live");
          opened();
          await this.read(response.body, signal, (id) => { lastId = id; }, (ms) => { delay = ms; });
          if (!signal.aborted) this.onState("retrying");
        }
      } catch (e) {
        opened();
        if (signal.aborted) return;
        this.onState("retrying");
      }
      await sleep(delay, signal);
    }
  }

  async read(body, signal, setId, setRetry) {
    const reader = body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          this.dispatch(buffer.slice(0, cut), setId, setRetry);
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf("\n\n");
        }
      }
    } finally {
      if (signal.aborted) reader.cancel().catch(() => {});
    }
  }

  dispatch(block, setId, setRetry) {
    let event = "message";
    const data = [];
    let id = null;
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
      else if (field === "retry" && /^\d+$/.test(value)) setRetry(Math.max(1000, Number(value)));
    }
    if (id !== null) setId(id);
    if (event === "alert" && data.length) {
      let item = null;
      try { item = JSON.parse(data.join("\n")); } catch (e) { return; }
      this.onAlert(item);
    }
  }
}
