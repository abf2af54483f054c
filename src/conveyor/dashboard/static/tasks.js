// The tasks table: one row per task, newest first, kept current by every stream.

import { $, el, formatTime, show } from "./dom.js";
import { api, errorText } from "./session.js";

const PAGE_SIZE = 25;
// A busy cluster must not make one tab hold an unbounded table.
const MAX_ROWS = 500;
const CANCELLABLE = new Set(["pending", "in_progress"]);
const RETRYABLE = new Set(["failed", "timeout", "cancelled"]);
export const TASK_TYPE = /^[A-Za-z0-9_.:-]{1,100}$/;
export const TASK_TYPE_HINT = "A task type is 1-100 letters, digits or _ . : -";

const tasks = new Map(); // task_id -> the latest task object we know
const refetching = new Set();
let cursor = null;
let filter = { status: "", taskType: "" };
let generation = 0; // a reload makes the answers of earlier loads stale
let onChange = () => {};

// Called with each task whose row changed (the detail panel follows its task).
export function onTaskChange(callback) {
  onChange = callback;
}

export function taskNode(task) {
  return task.lease_owner || task.assigned_node_id || "—";
}

export function matchesFilter(task) {
  const { status, taskType } = filter;
  return (!status || task.status === status) && (!taskType || task.task_type === taskType);
}

export function setFilter(status, taskType) {
  filter = { status, taskType };
}

export function clearTasks() {
  generation += 1;
  tasks.clear();
  cursor = null;
  filter = { status: "", taskType: "" };
  $("tasks-body").replaceChildren();
  show($("load-more"), false);
}

function actionButton(task, action, label, className) {
  return el("button", {
    text: label,
    className,
    attrs: { type: "button", "data-action": action, "aria-label": `${label} task ${task.task_id}` },
  });
}

function buildRow(task) {
  const actions = el("td", { className: "col-actions" });
  if (CANCELLABLE.has(task.status)) actions.append(actionButton(task, "cancel", "Cancel", "small danger"));
  if (RETRYABLE.has(task.status)) actions.append(actionButton(task, "retry", "Retry", "small secondary"));
  const open = el("button", {
    text: task.task_id.slice(0, 8),
    className: "link",
    attrs: {
      type: "button",
      "data-action": "open",
      title: task.task_id,
      "aria-label": `Show task ${task.task_id}`,
    },
  });
  const status = el("span", { text: task.status, className: `status status-${task.status}` });
  return el("tr", { attrs: { "data-task-id": task.task_id } }, [
    el("td", { className: "col-id" }, [open]),
    el("td", { className: "col-type", text: task.task_type }),
    el("td", { className: "col-status" }, [status]),
    el("td", { className: "col-attempts", text: `${task.attempts}/${task.max_attempts}` }),
    el("td", { className: "col-created", text: formatTime(task.created_at) }),
    el("td", { className: "col-node", text: taskNode(task) }),
    actions,
  ]);
}

function findRow(taskId) {
  for (const row of $("tasks-body").rows) {
    if (row.dataset.taskId === taskId) return row;
  }
  return null;
}

// Places a task in the table: replaces its row, or adds one at the top (new tasks)
// or the bottom (older pages). Older versions never overwrite newer ones.
export function upsertTask(task, where = "top") {
  const known = tasks.get(task.task_id);
  if (known && known.version > task.version) return;
  tasks.set(task.task_id, task);
  const row = buildRow(task);
  const existing = findRow(task.task_id);
  if (existing) existing.replaceWith(row);
  else if (where === "top") $("tasks-body").prepend(row);
  else $("tasks-body").append(row);
  show($("tasks-empty"), $("tasks-body").rows.length === 0);
  onChange(task);
}

// The first page again (reset) or the next one, following the API's cursor.
export async function loadTasks(reset) {
  const error = $("tasks-error");
  error.textContent = "";
  if (reset) generation += 1;
  const mine = generation;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filter.status) params.set("status", filter.status);
  if (filter.taskType) params.set("task_type", filter.taskType);
  if (!reset && cursor) params.set("cursor", cursor);
  try {
    const page = await api("GET", `/tasks?${params.toString()}`);
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

// A status change from any stream: update the row now, then fetch the task for
// what the event does not carry (attempts, node).
export function applyStatusChange(change) {
  const known = tasks.get(change.task_id);
  if (known) {
    if (typeof change.version === "number" && change.version <= known.version) return;
    const updated = { ...known, status: change.status };
    if (typeof change.version === "number") updated.version = change.version;
    for (const key of ["result", "error"]) if (key in change) updated[key] = change[key];
    upsertTask(updated);
    refetchTask(change.task_id);
  } else if (
    $("tasks-body").rows.length < MAX_ROWS &&
    matchesFilter({ status: change.status, task_type: change.task_type })
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

// Clicks in the table: open a task, or cancel or retry it.
export function bindTable(openTask) {
  $("tasks-body").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const taskId = button.closest("tr[data-task-id]").dataset.taskId;
    const action = button.dataset.action;
    if (action === "open") {
      openTask(taskId);
      return;
    }
    button.disabled = true;
    $("tasks-error").textContent = "";
    try {
      const task = await api("POST", `/tasks/${encodeURIComponent(taskId)}/${action}`);
      if (action === "cancel" || matchesFilter(task)) upsertTask(task, "top");
      if (action === "retry") openTask(task.task_id);
    } catch (err) {
      $("tasks-error").textContent = errorText(err);
      button.disabled = false;
    }
  });
  $("load-more").addEventListener("click", () => loadTasks(false));
}
