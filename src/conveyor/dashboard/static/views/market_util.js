// What the customer, provider and wallet views share: their stylesheet, numbers,
// responsive tables, uploads and downloads that need the bearer token, and a
// reconnecting SSE stream opened with single-use tickets.

import { el, parseEvent } from "../dom.js";
import { apiFetch, streamUrl } from "../session.js";

const STYLESHEET = "/dashboard/static/market.css";
const MAX_BACKOFF_MS = 30000;

// The views bring their own stylesheet, so the shell's page needs no edit for them.
export function ensureStylesheet() {
  if (document.querySelector(`link[href="${STYLESHEET}"]`)) return;
  document.head.append(el("link", { attrs: { rel: "stylesheet", href: STYLESHEET } }));
}

export function credits(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString();
}

export function signed(value) {
  if (!value) return "0";
  return value > 0 ? `+${credits(value)}` : `−${credits(-value)}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : "—";
}

// A table whose cells carry their column's name, so that on a phone the CSS can
// lay each row out as a card of "label: value" lines.
export function cardTable(caption, columns) {
  const head = el("tr", {}, columns.map((c) => el("th", { text: c, attrs: { scope: "col" } })));
  const body = el("tbody");
  const table = el("table", { className: "cards" }, [
    el("caption", { className: "visually-hidden", text: caption }),
    el("thead", {}, [head]),
    body,
  ]);
  return { table, body, columns };
}

export function cardRow(columns, cells, attrs = {}) {
  const row = el("tr", { attrs });
  cells.forEach((cell, i) => {
    const td = el("td", { attrs: { "data-label": columns[i] } });
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell === null || cell === undefined ? "—" : String(cell);
    row.append(td);
  });
  return row;
}

export function section(title, id) {
  const heading = el("h2", { text: title, attrs: { id: `${id}-title` } });
  const head = el("div", { className: "card-head" }, [heading]);
  const node = el("section", { className: "card", attrs: { "aria-labelledby": `${id}-title`, id } }, [head]);
  return { node, head };
}

export function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  const bar = el("progress", { attrs: { max: "100", value: String(value), "aria-label": label } });
  return el("span", { className: "progress-bar" }, [bar, el("span", { text: `${Math.round(value)}%` })]);
}

// multipart upload of one file to /artifacts; errors are ApiErrors, as from api().
export async function uploadFile(file, purpose) {
  const form = new FormData();
  form.append("file", file, file.name);
  if (purpose) form.append("purpose", purpose);
  return (await apiFetch("POST", "/artifacts", { body: form })).json();
}

// Save an authenticated download: a link cannot carry the bearer header. Returns
// the server's count of results still missing (Conveyor-Missing-Count), if sent.
export async function download(path, filename) {
  const response = await apiFetch("GET", path);
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { attrs: { href: url, download: filename } });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return response.headers.get("Conveyor-Missing-Count");
}

// An SSE stream that reconnects with a fresh ticket (tickets are single-use, so
// EventSource's own retry would be refused). onOpen(resumed) runs on every
// (re)connect. With `resume` (a query parameter's name) a new EventSource passes
// the last event id it saw there, as the browser's own retry would have sent
// Last-Event-ID, and `resumed` says whether it did: the server then replays what
// was missed.
export function liveStream({ path, ticketFor, handlers, onState, onOpen, resume }) {
  const state = { source: null, retry: null, backoff: 1000, closed: false, lastId: "" };
  async function connect() {
    if (state.closed) return;
    const resumed = Boolean(resume && state.lastId);
    let url;
    try {
      url = await streamUrl(path, ticketFor, resumed ? { [resume]: state.lastId } : {});
    } catch {
      schedule();
      return;
    }
    if (state.closed) return;
    const source = new EventSource(url);
    state.source = source;
    source.addEventListener("open", () => {
      state.backoff = 1000;
      onState("live");
      if (onOpen) onOpen(resumed);
    });
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        if (event.lastEventId) state.lastId = event.lastEventId;
        const data = parseEvent(event);
        if (data) handler(data);
      });
    }
    source.addEventListener("error", () => {
      source.close();
      if (state.closed || state.source !== source) return;
      state.source = null;
      schedule();
    });
  }
  function schedule() {
    if (state.closed) return;
    onState("reconnecting");
    state.retry = setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, MAX_BACKOFF_MS);
  }
  connect();
  return {
    close(finalState) {
      state.closed = true;
      clearTimeout(state.retry);
      if (state.source) state.source.close();
      state.source = null;
      if (finalState) onState(finalState);
    },
  };
}

// Run fn now and every ms while the view is mounted; a slow call is never overlapped.
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  async function tick() {
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  }
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
