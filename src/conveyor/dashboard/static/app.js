// Conveyor dashboard: plain DOM code in ES modules, no framework, no build step.
// Signing in and out, submitting, filtering, and wiring the other modules together.

import { closeDetail, openDetail, taskChanged } from "./detail.js";
import { loadAdmin, startAdmin, stopAdmin } from "./admin.js";
import { $, notify, show } from "./dom.js";
import {
  api,
  clearSession,
  errorText,
  hasSession,
  isAdmin,
  onSessionExpired,
  refreshToken,
  rememberUser,
  role,
  saveTokens,
  username,
} from "./session.js";
import {
  TASK_TYPE,
  TASK_TYPE_HINT,
  bindTable,
  clearTasks,
  loadTasks,
  matchesFilter,
  onTaskChange,
  setFilter,
  upsertTask,
} from "./tasks.js";

function signOut(message) {
  clearSession();
  stopAdmin();
  closeDetail();
  // The next person at this tab must not see the last one's data or drafts.
  clearTasks();
  $("submit-form").reset();
  $("filter-form").reset();
  for (const id of ["submit-error", "tasks-error"]) $(id).textContent = "";
  show($("app-view"), false);
  show($("session"), false);
  show($("admin-panel"), false);
  show($("login-view"), true);
  notify(message);
  $("login-username").focus();
}

function enterApp() {
  notify("");
  $("whoami").textContent = username();
  $("whorole").textContent = role();
  show($("login-view"), false);
  show($("session"), true);
  show($("app-view"), true);
  show($("admin-panel"), isAdmin());
  loadTasks(true);
  if (isAdmin()) startAdmin();
}

async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  const name = $("login-username").value.trim();
  const password = $("login-password").value;
  if (!name || !password) {
    error.textContent = "Enter your username and password.";
    return;
  }
  const button = event.submitter || $("login-form").querySelector("button");
  button.disabled = true;
  try {
    saveTokens(await api("POST", "/auth/login", { username: name, password }));
    rememberUser(name);
    $("login-password").value = "";
    enterApp();
  } catch (err) {
    error.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

function onLogout() {
  const token = refreshToken();
  if (token) {
    // Revokes the refresh family server-side; signing out locally matters more.
    api("POST", "/auth/logout", { refresh_token: token }).catch(() => {});
  }
  signOut("");
}

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
  const button = event.submitter || $("submit-form").querySelector("button");
  button.disabled = true;
  try {
    const task = await api("POST", "/tasks", { task_type: taskType, params: params.value });
    if (matchesFilter(task)) upsertTask(task, "top");
    notify(`Submitted task ${task.task_id}.`);
  } catch (err) {
    error.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

function onFilter(event) {
  event.preventDefault();
  const taskType = $("filter-type").value.trim();
  if (taskType && !TASK_TYPE.test(taskType)) {
    $("tasks-error").textContent = TASK_TYPE_HINT;
    return;
  }
  setFilter($("filter-status").value, taskType);
  loadTasks(true);
}

onSessionExpired(() => signOut("Your session has expired. Please sign in again."));
onTaskChange(taskChanged);
bindTable(openDetail);
$("login-form").addEventListener("submit", onLogin);
$("logout").addEventListener("click", onLogout);
$("submit-form").addEventListener("submit", onSubmit);
$("filter-form").addEventListener("submit", onFilter);
$("detail-close").addEventListener("click", closeDetail);
$("admin-refresh").addEventListener("click", loadAdmin);
if (hasSession()) enterApp();
else signOut("");
