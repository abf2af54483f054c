// One task's detail panel with its live event stream.

import { $, el, formatTime, parseEvent, pretty, show } from "./dom.js";
import { api, errorText, streamUrl } from "./session.js";
import { applyStatusChange, taskNode } from "./tasks.js";

const TERMINAL = new Set(["completed", "failed", "timeout", "cancelled"]);
const MAX_BACKOFF_MS = 30000;
const MAX_LOG_ENTRIES = 500;

let current = null; // {id, source, lastSeq, retry, backoff}

function setStatus(status) {
  $("detail-status").textContent = status;
  $("detail-status").className = `status status-${status}`;
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

function renderFacts(task) {
  $("detail-id").textContent = task.task_id;
  $("detail-type").textContent = task.task_type;
  setStatus(task.status);
  $("detail-attempts").textContent = `${task.attempts}/${task.max_attempts}`;
  $("detail-node").textContent = taskNode(task);
  $("detail-created").textContent = formatTime(task.created_at);
  $("detail-params").textContent = pretty(task.params);
  renderOutcome(task.status, task.result, task.error);
}

// Only the single read says why a pending task waits; once it moves on, the reason is gone.
function renderWaiting(task) {
  const reason = task.status === "pending" ? task.waiting_for_worker : null;
  $("detail-waiting").textContent = reason || "";
  show($("detail-waiting"), Boolean(reason));
}

// The table learnt something new about a task: show it if it is the open one.
export function taskChanged(task) {
  if (current && current.id === task.task_id) {
    renderFacts(task);
    if (task.status !== "pending") renderWaiting(task);
  }
}

function setStreamState(text) {
  $("detail-stream").textContent = text;
  show($("detail-stream"), Boolean(text));
}

function closeStream(detail) {
  if (detail.source) detail.source.close();
  detail.source = null;
  clearTimeout(detail.retry);
}

export function closeDetail() {
  if (current) closeStream(current);
  current = null;
  show($("detail-panel"), false);
}

export async function openDetail(taskId) {
  closeDetail();
  const detail = { id: taskId, source: null, lastSeq: 0, retry: null, backoff: 1000 };
  current = detail;
  $("detail-log").replaceChildren();
  $("detail-progress").value = 0;
  $("detail-percent").textContent = "";
  show($("detail-progress-wrap"), false);
  setStreamState("loading");
  show($("detail-panel"), true);
  try {
    const task = await api("GET", `/tasks/${encodeURIComponent(taskId)}`);
    if (current !== detail) return;
    renderFacts(task);
    renderWaiting(task);
    // Keyboard and screen-reader users land on what they just opened.
    $("detail-title").focus();
    await connect(detail);
  } catch (err) {
    if (current === detail) setStreamState(errorText(err));
  }
}

async function connect(detail) {
  const query = detail.lastSeq > 0 ? { after_seq: String(detail.lastSeq) } : {};
  const url = await streamUrl(`/tasks/${encodeURIComponent(detail.id)}/events`, detail.id, query);
  if (current !== detail) return;
  const source = new EventSource(url);
  detail.source = source;
  source.addEventListener("open", () => {
    detail.backoff = 1000;
    setStreamState("live");
  });
  source.addEventListener("progress", (event) => onProgress(detail, event));
  source.addEventListener("status_change", (event) => onStatus(detail, event));
  source.addEventListener("error", () => {
    // The ticket was single-use, so EventSource's own reconnect would be refused:
    // close it and reconnect with a fresh ticket, resuming after the last seq.
    source.close();
    if (current !== detail || detail.source !== source) return;
    detail.source = null;
    setStreamState("reconnecting");
    detail.retry = setTimeout(() => {
      connect(detail).catch((err) => setStreamState(errorText(err)));
    }, detail.backoff);
    detail.backoff = Math.min(detail.backoff * 2, MAX_BACKOFF_MS);
  });
}

function onProgress(detail, event) {
  if (current !== detail) return;
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
  const log = $("detail-log");
  log.append(
    el("li", {}, [
      el("span", { className: "seq", text: `#${item.seq}` }),
      el("time", { text: formatTime(item.timestamp), attrs: { datetime: String(item.timestamp) } }),
      el("code", { text: JSON.stringify(data) }),
    ]),
  );
  while (log.children.length > MAX_LOG_ENTRIES) log.firstElementChild.remove();
}

function onStatus(detail, event) {
  if (current !== detail) return;
  const change = parseEvent(event);
  if (!change || !change.status) return;
  setStatus(change.status);
  renderOutcome(change.status, change.result, change.error);
  if (change.status !== "pending") renderWaiting(change);
  // A task stream's events do not repeat the task id: the URL already names it.
  applyStatusChange({ ...change, task_id: detail.id });
  if (TERMINAL.has(change.status)) {
    // The server ends the stream after a final status; without this EventSource
    // would try to reconnect.
    closeStream(detail);
    setStreamState("finished");
  }
}
