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

export function pretty(value) {
  if (value === undefined || value === null) return "—";
  return JSON.stringify(value, null, 2);
}

export function notify(message) {
  const notice = $("notice");
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
