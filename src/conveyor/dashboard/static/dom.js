// DOM helpers. Text goes in with textContent and attributes with setAttribute,
// never innerHTML: what the API returns includes other people's input.

export const $ = (id) => document.getElementById(id);

export function el(tag, opts = {}, children = []) {
  const node = document.createElement(tag);
  if (opts.text !== undefined) node.textContent = String(opts.text);
  if (opts.className) node.className = opts.className;
  for (const [name, value] of Object.entries(opts.attrs || {})) {
    node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export function formatTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  // Today's times need no date: it keeps the tasks table narrow next to an open task.
  const today = date.toDateString() === new Date().toDateString();
  return today
    ? date.toLocaleTimeString()
    : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

// From start to end (or to now while it runs): "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min".
export function formatDuration(start, end) {
  if (!start) return "—";
  const from = new Date(start).getTime();
  const to = end ? new Date(end).getTime() : Date.now();
  if (!Number.isFinite(from) || !Number.isFinite(to)) return "—";
  return formatSeconds(Math.max(0, to - from) / 1000);
}

export function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  const minutes = Math.floor(whole / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

// A view's markup: a copy of a <template> in index.html.
export function fromTemplate(id) {
  return document.getElementById(id).content.cloneNode(true);
}

export function pretty(value) {
  if (value === undefined || value === null) return "—";
  return JSON.stringify(value, null, 2);
}

export function notify(message) {
  const notice = $("notice");
  if (!notice) return;
  notice.textContent = message;
  show(notice, Boolean(message));
}

export function parseEvent(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}
