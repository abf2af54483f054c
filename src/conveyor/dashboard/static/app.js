// Conveyor dashboard: plain DOM code, no framework, no build step.
//
// Rules this file keeps:
// - Every piece of data from the API reaches the page through textContent or
//   setAttribute, never innerHTML: task params and results are other people's input.
// - The access token lives in sessionStorage (gone with the tab) and only ever
//   travels in an Authorization header. EventSource cannot send headers, so streams
//   use a short-lived, single-use ticket from POST /auth/stream-ticket instead.
"use strict";

(() => {
  const API = "/api/v1";
  const PAGE_SIZE = 25;
  const ACCESS = "conveyor.access_token";
  const REFRESH = "conveyor.refresh_token";
  const ROLE = "conveyor.role";
  const USER = "conveyor.username";
  const CANCELLABLE = new Set(["pending", "in_progress"]);
  const RETRYABLE = new Set(["failed", "timeout", "cancelled"]);
  const TERMINAL = new Set(["completed", "failed", "timeout", "cancelled"]);
  const TASK_TYPE = /^[A-Za-z0-9_.:-]{1,100}$/;
  const MAX_BACKOFF_MS = 30000;
  // Bounds on what a busy cluster can make one tab hold.
  const MAX_ROWS = 500;
  const MAX_LOG_ENTRIES = 500;

  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage;

  const state = {
    tasks: new Map(), // task_id -> the latest task object we know
    cursor: null,
    filter: { status: "", taskType: "" },
    firehose: null,
    firehoseRetry: null,
    firehoseBackoff: 1000,
    firehoseMissed: false, // disconnected since the table was loaded
    detail: null, // {id, source, lastSeq, retry, backoff}
    refreshing: null,
    refetching: new Set(),
  };

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  // --- small DOM helpers (text only) -------------------------------------------

  function el(tag, opts = {}, children = []) {
    const node = document.createElement(tag);
    if (opts.text !== undefined) node.textContent = String(opts.text);
    if (opts.className) node.className = opts.className;
    for (const [name, value] of Object.entries(opts.attrs || {})) {
      node.setAttribute(name, String(value));
    }
    for (const child of children) node.append(child);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function formatTime(value) {
    if (!value) return "—";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
  }

  function pretty(value) {
    if (value === undefined || value === null) return "—";
    return JSON.stringify(value, null, 2);
  }

  function notify(message) {
    const notice = $("notice");
    notice.textContent = message;
    show(notice, Boolean(message));
  }

  function errorText(err) {
    if (err instanceof ApiError) {
      const first = Array.isArray(err.details) && err.details[0];
      if (first && first.field && first.message) {
        return `${err.message}: ${first.field}: ${first.message}`;
      }
      return err.message;
    }
    return "The server could not be reached.";
  }

  // --- the API, with the token refreshed once on a 401 ---------------------------

  function saveTokens(body) {
    store.setItem(ACCESS, body.access_token);
    if (body.refresh_token) store.setItem(REFRESH, body.refresh_token);
    if (body.role) store.setItem(ROLE, body.role);
  }

  function clearTokens() {
    for (const key of [ACCESS, REFRESH, ROLE, USER]) store.removeItem(key);
  }

  async function readBody(response) {
    if (response.status === 204) return null;
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  function refreshTokens() {
    // One refresh at a time: a refresh token is single-use, so two parallel
    // refreshes would make the server revoke the whole family.
    if (state.refreshing) return state.refreshing;
    const token = store.getItem(REFRESH);
    if (!token) return Promise.resolve(false);
    state.refreshing = fetch(`${API}/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh_token: token }),
      cache: "no-store",
      credentials: "omit",
    })
      .then(async (response) => {
        if (!response.ok) return false;
        saveTokens(await response.json());
        return true;
      })
      .catch(() => false)
      .finally(() => {
        state.refreshing = null;
      });
    return state.refreshing;
  }

  async function api(method, path, body, retried = false) {
    const headers = { Accept: "application/json" };
    const token = store.getItem(ACCESS);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "network", "The server could not be reached.");
    }
    if (response.status === 401 && token && !retried) {
      // Another call may have refreshed meanwhile: then only this call is repeated.
      const renewed = store.getItem(ACCESS) !== token || (await refreshTokens());
      if (renewed) return api(method, path, body, true);
      signOut("Your session has expired. Please sign in again.");
    }
    const data = await readBody(response);
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(
        response.status,
        error.code || `http_${response.status}`,
        error.message || `Request failed (HTTP ${response.status}).`,
        error.details,
      );
    }
    return data;
  }

  async function streamUrl(path, taskId, query = {}) {
    const body = taskId ? { task_id: taskId } : {};
    const { ticket } = await api("POST", "/auth/stream-ticket", body);
    const params = new URLSearchParams({ ...query, ticket });
    return `${API}${path}?${params.toString()}`;
  }

  // --- signing in and out --------------------------------------------------------

  async function onLogin(event) {
    event.preventDefault();
    const error = $("login-error");
    error.textContent = "";
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    if (!username || !password) {
      error.textContent = "Enter your username and password.";
      return;
    }
    const button = event.submitter || $("login-form").querySelector("button");
    button.disabled = true;
    try {
      const body = await api("POST", "/auth/login", { username, password });
      saveTokens(body);
      store.setItem(USER, username);
      $("login-password").value = "";
      enterApp();
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      button.disabled = false;
    }
  }

  async function onLogout() {
    const token = store.getItem(REFRESH);
    if (token) {
      // Revokes the refresh family server-side; signing out locally matters more.
      api("POST", "/auth/logout", { refresh_token: token }).catch(() => {});
    }
    signOut("");
  }

  function signOut(message) {
    clearTokens();
    stopFirehose();
    state.firehoseMissed = false;
    state.firehoseBackoff = 1000;
    closeDetail();
    state.tasks.clear();
    state.cursor = null;
    state.filter = { status: "", taskType: "" };
    // The next person at this tab must not see the last one's data or drafts.
    $("tasks-body").replaceChildren();
    $("nodes-body").replaceChildren();
    $("stats-tasks").replaceChildren();
    $("stats-nodes").replaceChildren();
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

  function isAdmin() {
    return store.getItem(ROLE) === "admin";
  }

  function enterApp() {
    notify("");
    $("whoami").textContent = store.getItem(USER) || "";
    $("whorole").textContent = store.getItem(ROLE) || "";
    show($("login-view"), false);
    show($("session"), true);
    show($("app-view"), true);
    show($("admin-panel"), isAdmin());
    loadTasks(true);
    if (isAdmin()) {
      loadAdmin();
      startFirehose();
    }
  }

  // --- the tasks table -------------------------------------------------------------

  function taskNode(task) {
    return task.lease_owner || task.assigned_node_id || "—";
  }

  function matchesFilter(task) {
    const { status, taskType } = state.filter;
    return (!status || task.status === status) && (!taskType || task.task_type === taskType);
  }

  function actionButtons(task) {
    const cell = el("td", { className: "col-actions" });
    if (CANCELLABLE.has(task.status)) {
      const button = el("button", {
        text: "Cancel",
        className: "small danger",
        attrs: { type: "button", "data-action": "cancel", "aria-label": `Cancel task ${task.task_id}` },
      });
      cell.append(button);
    }
    if (RETRYABLE.has(task.status)) {
      const button = el("button", {
        text: "Retry",
        className: "small secondary",
        attrs: { type: "button", "data-action": "retry", "aria-label": `Retry task ${task.task_id}` },
      });
      cell.append(button);
    }
    return cell;
  }

  function statusBadge(status) {
    return el("span", { text: status, className: `status status-${status}` });
  }

  function buildRow(task) {
    const row = el("tr", { attrs: { "data-task-id": task.task_id } });
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
    row.append(
      el("td", { className: "col-id" }, [open]),
      el("td", { className: "col-type", text: task.task_type }),
      el("td", { className: "col-status" }, [statusBadge(task.status)]),
      el("td", { className: "col-attempts", text: `${task.attempts}/${task.max_attempts}` }),
      el("td", { className: "col-created", text: formatTime(task.created_at) }),
      el("td", { className: "col-node", text: taskNode(task) }),
      actionButtons(task),
    );
    return row;
  }

  function findRow(taskId) {
    for (const row of $("tasks-body").rows) {
      if (row.dataset.taskId === taskId) return row;
    }
    return null;
  }

  // Places a task in the table: replaces its row, or adds one at the top (new tasks)
  // or the bottom (older pages). Older versions never overwrite newer ones.
  function upsertTask(task, where = "top") {
    const known = state.tasks.get(task.task_id);
    if (known && known.version > task.version) return;
    state.tasks.set(task.task_id, task);
    const row = buildRow(task);
    const existing = findRow(task.task_id);
    if (existing) existing.replaceWith(row);
    else if (where === "top") $("tasks-body").prepend(row);
    else $("tasks-body").append(row);
    show($("tasks-empty"), $("tasks-body").rows.length === 0);
    if (state.detail && state.detail.id === task.task_id) renderDetailFacts(task);
  }

  async function loadTasks(reset) {
    const error = $("tasks-error");
    error.textContent = "";
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.filter.status) params.set("status", state.filter.status);
    if (state.filter.taskType) params.set("task_type", state.filter.taskType);
    if (!reset && state.cursor) params.set("cursor", state.cursor);
    try {
      const page = await api("GET", `/tasks?${params.toString()}`);
      if (reset) {
        state.tasks.clear();
        $("tasks-body").replaceChildren();
      }
      for (const task of page.tasks) upsertTask(task, "bottom");
      state.cursor = page.next_cursor;
      show($("load-more"), Boolean(page.next_cursor));
      show($("tasks-empty"), $("tasks-body").rows.length === 0);
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  async function onTableClick(event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr[data-task-id]");
    const taskId = row.dataset.taskId;
    const action = button.dataset.action;
    if (action === "open") {
      openDetail(taskId);
      return;
    }
    button.disabled = true;
    $("tasks-error").textContent = "";
    try {
      const task = await api("POST", `/tasks/${encodeURIComponent(taskId)}/${action}`);
      if (action === "cancel" || matchesFilter(task)) upsertTask(task, "top");
      if (action === "retry") openDetail(task.task_id);
    } catch (err) {
      $("tasks-error").textContent = errorText(err);
      button.disabled = false;
    }
  }

  function onFilter(event) {
    event.preventDefault();
    const taskType = $("filter-type").value.trim();
    if (taskType && !TASK_TYPE.test(taskType)) {
      $("tasks-error").textContent = "A task type is 1-100 letters, digits or _ . : -";
      return;
    }
    state.filter = { status: $("filter-status").value, taskType };
    loadTasks(true);
  }

  // --- submitting ------------------------------------------------------------------

  function parseParams(text) {
    if (!text.trim()) return { ok: true, value: {} };
    try {
      const value = JSON.parse(text);
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return { ok: false, message: "Params must be a JSON object, like {\"key\": \"value\"}." };
      }
      return { ok: true, value };
    } catch (err) {
      return { ok: false, message: `Params are not valid JSON: ${err.message}` };
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    const error = $("submit-error");
    error.textContent = "";
    const taskType = $("submit-type").value.trim();
    if (!TASK_TYPE.test(taskType)) {
      error.textContent = "A task type is 1-100 letters, digits or _ . : -";
      $("submit-type").setAttribute("aria-invalid", "true");
      return;
    }
    $("submit-type").removeAttribute("aria-invalid");
    const params = parseParams($("submit-params").value);
    if (!params.ok) {
      error.textContent = params.message;
      $("submit-params").setAttribute("aria-invalid", "true");
      return;
    }
    $("submit-params").removeAttribute("aria-invalid");
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

  // --- one task's live detail ------------------------------------------------------

  function renderDetailFacts(task) {
    $("detail-id").textContent = task.task_id;
    $("detail-type").textContent = task.task_type;
    $("detail-status").textContent = task.status;
    $("detail-status").className = `status status-${task.status}`;
    $("detail-attempts").textContent = `${task.attempts}/${task.max_attempts}`;
    $("detail-node").textContent = taskNode(task);
    $("detail-created").textContent = formatTime(task.created_at);
    $("detail-params").textContent = pretty(task.params);
    renderOutcome(task.status, task.result, task.error);
  }

  function renderOutcome(status, result, error) {
    if (status === "completed") {
      $("detail-outcome-title").textContent = "Result";
      $("detail-result").textContent = pretty(result);
      show($("detail-outcome"), true);
    } else if (error !== undefined && error !== null) {
      $("detail-outcome-title").textContent = "Error";
      $("detail-result").textContent = pretty(error);
      show($("detail-outcome"), true);
    } else {
      show($("detail-outcome"), false);
    }
  }

  function setStreamState(text) {
    $("detail-stream").textContent = text;
    show($("detail-stream"), Boolean(text));
  }

  function closeDetailStream() {
    const detail = state.detail;
    if (!detail) return;
    if (detail.source) detail.source.close();
    detail.source = null;
    clearTimeout(detail.retry);
  }

  function closeDetail() {
    closeDetailStream();
    state.detail = null;
    show($("detail-panel"), false);
  }

  async function openDetail(taskId) {
    closeDetail();
    const detail = { id: taskId, source: null, lastSeq: 0, retry: null, backoff: 1000 };
    state.detail = detail;
    $("detail-log").replaceChildren();
    $("detail-progress").value = 0;
    $("detail-percent").textContent = "";
    show($("detail-progress-wrap"), false);
    setStreamState("loading");
    show($("detail-panel"), true);
    try {
      const task = await api("GET", `/tasks/${encodeURIComponent(taskId)}`);
      if (state.detail !== detail) return;
      renderDetailFacts(task);
      // Keyboard and screen-reader users land on what they just opened.
      $("detail-title").focus();
      await connectDetail(detail);
    } catch (err) {
      if (state.detail === detail) setStreamState(errorText(err));
    }
  }

  async function connectDetail(detail) {
    const query = detail.lastSeq > 0 ? { after_seq: String(detail.lastSeq) } : {};
    const url = await streamUrl(`/tasks/${encodeURIComponent(detail.id)}/events`, detail.id, query);
    if (state.detail !== detail) return;
    const source = new EventSource(url);
    detail.source = source;
    source.addEventListener("open", () => {
      detail.backoff = 1000;
      setStreamState("live");
    });
    source.addEventListener("progress", (event) => onProgress(detail, event));
    source.addEventListener("status_change", (event) => onDetailStatus(detail, event));
    source.addEventListener("error", () => {
      // The ticket was single-use, so EventSource's own reconnect would be refused:
      // close it and reconnect with a fresh ticket, resuming after the last seq.
      source.close();
      if (state.detail !== detail || detail.source !== source) return;
      detail.source = null;
      setStreamState("reconnecting");
      detail.retry = setTimeout(() => {
        connectDetail(detail).catch((err) => setStreamState(errorText(err)));
      }, detail.backoff);
      detail.backoff = Math.min(detail.backoff * 2, MAX_BACKOFF_MS);
    });
  }

  function parseEvent(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  }

  function onProgress(detail, event) {
    if (state.detail !== detail) return;
    const item = parseEvent(event);
    if (!item || typeof item.seq !== "number" || item.seq <= detail.lastSeq) return;
    detail.lastSeq = item.seq;
    const data = item.data;
    const percent = data && typeof data === "object" ? Number(data.percent) : Number.NaN;
    if (Number.isFinite(percent)) {
      const clamped = Math.max(0, Math.min(100, percent));
      $("detail-progress").value = clamped;
      $("detail-percent").textContent = `${clamped}%`;
      show($("detail-progress-wrap"), true);
    }
    const entry = el("li", {}, [
      el("span", { className: "seq", text: `#${item.seq}` }),
      el("time", { text: formatTime(item.timestamp), attrs: { datetime: String(item.timestamp) } }),
      el("code", { text: JSON.stringify(data) }),
    ]);
    const log = $("detail-log");
    log.append(entry);
    while (log.children.length > MAX_LOG_ENTRIES) log.firstElementChild.remove();
  }

  function onDetailStatus(detail, event) {
    if (state.detail !== detail) return;
    const change = parseEvent(event);
    if (!change || !change.status) return;
    $("detail-status").textContent = change.status;
    $("detail-status").className = `status status-${change.status}`;
    renderOutcome(change.status, change.result, change.error);
    // A task stream's events do not repeat the task id: the URL already names it.
    applyStatusChange({ ...change, task_id: detail.id });
    if (TERMINAL.has(change.status)) {
      // The server ends the stream after a final status; without this EventSource
      // would try to reconnect.
      closeDetailStream();
      setStreamState("finished");
    }
  }

  // --- admins: the firehose, nodes and stats ---------------------------------------

  // A status change from any stream: update the row now, then fetch the task for
  // what the event does not carry (attempts, node).
  function applyStatusChange(change) {
    const known = state.tasks.get(change.task_id);
    if (known) {
      if (typeof change.version === "number" && change.version <= known.version) return;
      const updated = { ...known, status: change.status };
      if (typeof change.version === "number") updated.version = change.version;
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
    if (state.refetching.has(taskId)) return;
    state.refetching.add(taskId);
    try {
      const task = await api("GET", `/tasks/${encodeURIComponent(taskId)}`);
      if (state.tasks.has(taskId) || matchesFilter(task)) upsertTask(task, "top");
    } catch {
      // The row keeps the status from the event; the next load fixes the rest.
    } finally {
      state.refetching.delete(taskId);
    }
  }

  function setFirehoseState(text) {
    $("firehose-state").textContent = text;
    $("firehose-state").dataset.state = text;
  }

  function stopFirehose() {
    clearTimeout(state.firehoseRetry);
    if (state.firehose) state.firehose.close();
    state.firehose = null;
    setFirehoseState("offline");
  }

  async function startFirehose() {
    stopFirehose();
    setFirehoseState("connecting");
    let url;
    try {
      url = await streamUrl("/events", null);
    } catch {
      scheduleFirehose();
      return;
    }
    if (!isAdmin() || state.firehose) return;
    const source = new EventSource(url);
    state.firehose = source;
    source.addEventListener("open", () => {
      state.firehoseBackoff = 1000;
      setFirehoseState("live");
      if (state.firehoseMissed) {
        // The firehose has no history: what changed while we were away is read anew.
        state.firehoseMissed = false;
        loadTasks(true);
        loadAdmin();
      }
    });
    source.addEventListener("status_change", (event) => {
      const change = parseEvent(event);
      if (change && change.task_id && change.status) {
        applyStatusChange(change);
        scheduleAdminRefresh();
      }
    });
    source.addEventListener("error", () => {
      source.close();
      if (state.firehose !== source) return;
      state.firehose = null;
      scheduleFirehose();
    });
  }

  function scheduleFirehose() {
    if (!isAdmin()) return;
    setFirehoseState("reconnecting");
    state.firehoseMissed = true;
    clearTimeout(state.firehoseRetry);
    state.firehoseRetry = setTimeout(startFirehose, state.firehoseBackoff);
    state.firehoseBackoff = Math.min(state.firehoseBackoff * 2, MAX_BACKOFF_MS);
  }

  let adminTimer = null;
  function scheduleAdminRefresh() {
    // Coalesced: a busy cluster sends many changes a second; stats and nodes need not
    // follow each one.
    if (adminTimer) return;
    adminTimer = setTimeout(() => {
      adminTimer = null;
      loadAdmin();
    }, 2000);
  }

  function fillStats(target, counts) {
    const items = [];
    for (const [name, count] of Object.entries(counts || {})) {
      const dt = el("dt", { text: name });
      const dd = el("dd", { text: count });
      items.push(el("div", { className: "stat", attrs: { "data-stat": name } }, [dt, dd]));
    }
    target.replaceChildren(...items);
  }

  async function loadStats() {
    if (!isAdmin()) return;
    try {
      const stats = await api("GET", "/admin/stats");
      fillStats($("stats-tasks"), { total: stats.tasks.total, ...stats.tasks.by_status });
      fillStats($("stats-nodes"), { total: stats.nodes.total, ...stats.nodes.by_health });
    } catch (err) {
      notify(errorText(err));
    }
  }

  async function loadNodes() {
    if (!isAdmin()) return;
    try {
      const { nodes } = await api("GET", "/nodes");
      const rows = nodes.map((node) =>
        el("tr", { attrs: { "data-node-id": node.node_id } }, [
          el("td", {}, [
            el("span", { text: node.name }),
            el("br"),
            el("code", { className: "muted", text: node.node_id }),
          ]),
          el("td", { text: node.kind }),
          el("td", { text: node.status }),
          el("td", {}, [el("span", { text: node.health, className: `health health-${node.health}` })]),
          el("td", { text: node.in_flight ?? "—" }),
          el("td", { text: formatTime(node.last_seen) }),
        ]),
      );
      $("nodes-body").replaceChildren(...rows);
      show($("nodes-empty"), rows.length === 0);
    } catch (err) {
      notify(errorText(err));
    }
  }

  function loadAdmin() {
    loadStats();
    loadNodes();
  }

  // --- start -----------------------------------------------------------------------

  function start() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("submit-form").addEventListener("submit", onSubmit);
    $("filter-form").addEventListener("submit", onFilter);
    $("tasks-body").addEventListener("click", onTableClick);
    $("load-more").addEventListener("click", () => loadTasks(false));
    $("detail-close").addEventListener("click", closeDetail);
    $("admin-refresh").addEventListener("click", loadAdmin);
    if (store.getItem(ACCESS)) enterApp();
    else signOut("");
  }

  start();
})();
