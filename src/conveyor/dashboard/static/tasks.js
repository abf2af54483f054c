// The tasks table: one row per task, newest first, kept current by the firehose.
// Rows collapse to cards on a phone (app.css): each cell carries its column's name.

import { $, el, formatDuration, formatTime, show } from "./dom.js";
import { api, errorText } from "./session.js";

const PAGE_SIZE = 25;
// A busy cluster must not make one tab hold an unbounded table.
const MAX_ROWS = 500;
const CANCELLABLE = new Set(["pending", "in_progress"]);
const RETRYABLE = new Set(["failed", "timeout", "cancelled"]);
export const TASK_TYPE = /^[A-Za-z0-9_.:-]{1,100}$/;
export const TASK_TYPE_HINT = "A task type is 1-100 letters, digits or _ . : -";
export const TASK_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
export const TASK_ID_HINT = "A task id is 1-64 letters, digits or _ . : -";

const EMPTY_FILTER = { q: "", status: "", typeContains: "" };
const tasks = new Map(); // task_id -> the latest task object we know
const refetching = new Set();
let cursor = null;
let filter = { ...EMPTY_FILTER };
let generation = 0; // a reload makes the answers of earlier loads stale
let navigate = () => {};

// Who runs it now, or ran it last (a failed task's lease is cleared), or is pinned.
export function taskNode(task) {
  return task.lease_owner || task.last_node_id || task.assigned_node_id || "—";
}

// The same rules the server applies to q= and type_contains=.
export function matchesFilter(task) {
  const { q, status, typeContains } = filter;
  return (
    (!q || task.task_id.startsWith(q)) &&
    (!status || task.status === status) &&
    (!typeContains || task.task_type.toLowerCase().includes(typeContains.toLowerCase()))
  );
}

export function setFilter(next) {
  filter = { ...EMPTY_FILTER, ...next };
}

// Leaves no rows or filter behind for the next view or the next person at the tab.
export function resetTasks() {
  generation += 1;
  tasks.clear();
  refetching.clear();
  cursor = null;
  filter = { ...EMPTY_FILTER };
}

function actionButton(task, action, label, className) {
  return el("button", {
    text: label,
    className,
    attrs: { type: "button", "data-action": action, "aria-label": `${label} task ${task.task_id}` },
  });
}

function cell(name, label, content) {
  const td = el("td", { className: `col-${name}`, attrs: { "data-label": label } });
  if (typeof content === "string") td.textContent = content;
  else td.append(content);
  return td;
}

// A delayed task waits for its run_at: the cell says so, not only the time.
function runAtCell(task) {
  const waiting = task.status === "pending" && new Date(task.run_at).getTime() > Date.now();
  const text = formatTime(task.run_at);
  if (!waiting) return cell("run-at", "Run at", text);
  return cell("run-at", "Run at", el("span", { className: "waiting", text: `waits until ${text}` }));
}

function buildRow(task) {
  const actions = el("td", { className: "col-actions" });
  if (CANCELLABLE.has(task.status)) actions.append(actionButton(task, "cancel", "Cancel", "small danger"));
  if (RETRYABLE.has(task.status)) actions.append(actionButton(task, "retry", "Retry", "small secondary"));
  const open = el("a", {
    text: task.task_id.slice(0, 8),
    className: "task-link",
    attrs: {
      href: `#/tasks/${encodeURIComponent(task.task_id)}`,
      title: task.task_id,
      "aria-label": `Show task ${task.task_id}`,
    },
  });
  const status = el("span", { text: task.status, className: `status status-${task.status}` });
  return el("tr", { attrs: { "data-task-id": task.task_id } }, [
    cell("id", "ID", open),
    cell("type", "Type", task.task_type),
    cell("status", "Status", status),
    cell("attempts", "Attempts", `${task.attempts}/${task.max_attempts}`),
    cell("priority", "Priority", String(task.priority)),
    cell("created", "Created", formatTime(task.created_at)),
    runAtCell(task),
    cell("started", "Started", formatTime(task.started_at)),
    cell("finished", "Finished", formatTime(task.finished_at)),
    cell("duration", "Duration", formatDuration(task.started_at, task.finished_at)),
    cell("node", "Node", taskNode(task)),
    actions,
  ]);
}

function findRow(taskId) {
  const body = $("tasks-body");
  if (!body) return null;
  for (const row of body.rows) {
    if (row.dataset.taskId === taskId) return row;
  }
  return null;
}

// Places a task in the table: replaces its row, or adds one at the top (new tasks)
// or the bottom (older pages). Older versions never overwrite newer ones.
export function upsertTask(task, where = "top") {
  const body = $("tasks-body");
  if (!body) return;
  const known = tasks.get(task.task_id);
  if (known && known.version > task.version) return;
  tasks.set(task.task_id, task);
  const row = buildRow(task);
  const existing = findRow(task.task_id);
  if (existing) existing.replaceWith(row);
  else if (where === "top") body.prepend(row);
  else body.append(row);
  show($("tasks-empty"), body.rows.length === 0);
}

function query(reset) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filter.q) params.set("q", filter.q);
  if (filter.status) params.set("status", filter.status);
  if (filter.typeContains) params.set("type_contains", filter.typeContains);
  if (!reset && cursor) params.set("cursor", cursor);
  return params.toString();
}

// The first page again (reset) or the next one, following the API's cursor.
export async function loadTasks(reset) {
  const error = $("tasks-error");
  error.textContent = "";
  if (reset) generation += 1;
  const mine = generation;
  try {
    const page = await api("GET", `/tasks?${query(reset)}`);
    if (mine !== generation) return;
    if (reset) {
      tasks.clear();
      $("tasks-body").replaceChildren();
    }
    for (const task of page.tasks) upsertTask(task, "bottom");
    cursor = page.next_cursor;
    show($("load-more"), Boolean(page.next_cursor));
    show($("tasks-empty"), $("tasks-body").rows.length === 0);
  } catch (err) {
    if (mine === generation) error.textContent = errorText(err);
  }
}

// A status change from the firehose: update the row now, then fetch the task for
// what the event does not carry (attempts, node, times).
export function applyStatusChange(change) {
  const body = $("tasks-body");
  if (!body) return;
  const known = tasks.get(change.task_id);
  if (known) {
    if (typeof change.version === "number" && change.version <= known.version) return;
    const updated = { ...known, status: change.status };
    if (typeof change.version === "number") updated.version = change.version;
    for (const key of ["result", "error"]) if (key in change) updated[key] = change[key];
    upsertTask(updated);
    refetchTask(change.task_id);
  } else if (
    body.rows.length < MAX_ROWS &&
    matchesFilter({ task_id: change.task_id, status: change.status, task_type: change.task_type || "" })
  ) {
    refetchTask(change.task_id);
  }
}

async function refetchTask(taskId) {
  if (refetching.has(taskId)) return;
  refetching.add(taskId);
  const mine = generation;
  try {
    const task = await api("GET", `/tasks/${encodeURIComponent(taskId)}`);
    if (mine === generation && (tasks.has(taskId) || matchesFilter(task))) upsertTask(task, "top");
  } catch {
    // The row keeps the status from the event; the next load fixes the rest.
  } finally {
    refetching.delete(taskId);
  }
}

// Clicks in the table: cancel or retry a task (a retry opens the new task's page).
export function bindTable(go) {
  navigate = go;
  $("tasks-body").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const taskId = button.closest("tr[data-task-id]").dataset.taskId;
    const action = button.dataset.action;
    const mine = generation;
    button.disabled = true;
    $("tasks-error").textContent = "";
    try {
      const task = await api("POST", `/tasks/${encodeURIComponent(taskId)}/${action}`);
      if (mine !== generation) return;
      if (action === "cancel" || matchesFilter(task)) upsertTask(task, "top");
      if (action === "retry") navigate(`#/tasks/${encodeURIComponent(task.task_id)}`);
    } catch (err) {
      if (mine !== generation) return;
      $("tasks-error").textContent = errorText(err);
      button.disabled = false;
    }
  });
  $("load-more").addEventListener("click", () => loadTasks(false));
}
