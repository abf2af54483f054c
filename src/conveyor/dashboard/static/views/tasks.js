// #/tasks: submit a task, search and filter the list. Admins' rows follow the firehose.

import { $, fromTemplate } from "../dom.js";
import { subscribe } from "../firehose.js";
import {
  TASK_ID,
  TASK_ID_HINT,
  TASK_TYPE,
  TASK_TYPE_HINT,
  applyStatusChange,
  bindTable,
  loadTasks,
  matchesFilter,
  resetTasks,
  setFilter,
  upsertTask,
} from "../tasks.js";

let unsubscribe = () => {};
let ctx = null;

function parseParams(text) {
  if (!text.trim()) return { ok: true, value: {} };
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return { ok: false, message: 'Params must be a JSON object, like {"key": "value"}.' };
    }
    return { ok: true, value };
  } catch (err) {
    return { ok: false, message: `Params are not valid JSON: ${err.message}` };
  }
}

function markInvalid(id, invalid) {
  if (invalid) $(id).setAttribute("aria-invalid", "true");
  else $(id).removeAttribute("aria-invalid");
}

async function onSubmit(event) {
  event.preventDefault();
  const error = $("submit-error");
  error.textContent = "";
  const taskType = $("submit-type").value.trim();
  const params = parseParams($("submit-params").value);
  markInvalid("submit-type", !TASK_TYPE.test(taskType));
  markInvalid("submit-params", !params.ok);
  if (!TASK_TYPE.test(taskType)) {
    error.textContent = TASK_TYPE_HINT;
    return;
  }
  if (!params.ok) {
    error.textContent = params.message;
    return;
  }
  const mine = ctx;
  const button = event.submitter || $("submit-form").querySelector("button");
  button.disabled = true;
  try {
    const task = await mine.api("POST", "/tasks", { task_type: taskType, params: params.value });
    if (ctx !== mine) return;
    if (matchesFilter(task)) upsertTask(task, "top");
    mine.notify(`Submitted task ${task.task_id}.`);
  } catch (err) {
    if (ctx === mine) error.textContent = mine.errorText(err);
  } finally {
    button.disabled = false;
  }
}

function onFilter(event) {
  event.preventDefault();
  const q = $("filter-q").value.trim();
  const typeContains = $("filter-type").value.trim();
  $("tasks-error").textContent = "";
  markInvalid("filter-q", Boolean(q) && !TASK_ID.test(q));
  markInvalid("filter-type", Boolean(typeContains) && !TASK_TYPE.test(typeContains));
  if (q && !TASK_ID.test(q)) {
    $("tasks-error").textContent = TASK_ID_HINT;
    return;
  }
  if (typeContains && !TASK_TYPE.test(typeContains)) {
    $("tasks-error").textContent = TASK_TYPE_HINT;
    return;
  }
  setFilter({ q, status: $("filter-status").value, typeContains });
  loadTasks(true);
}

export async function mount(root, context) {
  ctx = context;
  resetTasks();
  root.append(fromTemplate("tpl-tasks"));
  $("submit-form").addEventListener("submit", onSubmit);
  $("filter-form").addEventListener("submit", onFilter);
  bindTable(context.navigate);
  if (context.isAdmin) unsubscribe = subscribe(applyStatusChange, () => loadTasks(true));
  await loadTasks(true);
}

export function unmount() {
  unsubscribe();
  unsubscribe = () => {};
  ctx = null;
  resetTasks();
}
