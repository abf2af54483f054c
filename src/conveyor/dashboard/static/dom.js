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
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
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
