// #/tasks/<id>: one task's page. Facts, params, result or error with its traceback,
// the attempt history, the lineage (original and retries), artifacts, and the live
// progress log over SSE (with a single-use stream ticket, since EventSource sends
// no Authorization header).

import { $, el, formatDuration, formatTime, fromTemplate, parseEvent, pretty, show } from "../dom.js";
import { streamUrl } from "../session.js";
import { taskNode } from "../tasks.js";
import { renderArtifacts } from "./task_artifacts.js";

const TERMINAL = new Set(["completed", "failed", "timeout", "cancelled"]);
const CANCELLABLE = new Set(["pending", "in_progress"]);
const MAX_BACKOFF_MS = 30000;
const MAX_LOG_ENTRIES = 500;

let current = null; // {id, ctx, source, lastSeq, retry, backoff, task}

const live = (page) => current === page;

function setStatus(status) {
  $("detail-status").textContent = status;
  $("detail-status").className = `status status-${status}`;
}

// A worker's error is {code, type, message, traceback}: the traceback reads best
// on its own, as the lines Python printed.
function renderOutcome(status, result, error) {
  const traceback = error && typeof error === "object" ? error.traceback : null;
  if (status === "completed") {
    $("detail-outcome-title").textContent = "Result";
    $("detail-result").textContent = pretty(result);
    show($("detail-outcome"), true);
  } else if (error !== undefined && error !== null) {
    $("detail-outcome-title").textContent = "Error";
    const rest = typeof traceback === "string" ? { ...error, traceback: undefined } : error;
    $("detail-result").textContent = pretty(rest);
    show($("detail-outcome"), true);
  } else {
    show($("detail-outcome"), false);
  }
  const shown = status !== "completed" && typeof traceback === "string" && traceback;
  $("detail-traceback").textContent = shown || "";
  show($("detail-traceback-wrap"), Boolean(shown));
}

function taskLink(taskId, label) {
  return el("a", { text: label || taskId, attrs: { href: `#/tasks/${encodeURIComponent(taskId)}` } });
}

function renderActions(page, task) {
  const box = $("detail-actions");
  const buttons = [];
  if (CANCELLABLE.has(task.status)) {
    buttons.push(el("button", { text: "Cancel", className: "danger", attrs: { type: "button", "data-action": "cancel" } }));
  }
  if (TERMINAL.has(task.status) && task.status !== "completed") {
    buttons.push(el("button", { text: "Retry", className: "secondary", attrs: { type: "button", "data-action": "retry" } }));
  }
  box.replaceChildren(...buttons);
  show(box, buttons.length > 0);
}

function renderFacts(page, task) {
  page.task = task;
  $("detail-id").textContent = task.task_id;
  $("detail-type").textContent = task.task_type;
  setStatus(task.status);
  $("detail-attempts").textContent = `${task.attempts}/${task.max_attempts}`;
  $("detail-priority").textContent = String(task.priority);
  $("detail-node").textContent = taskNode(task);
  $("detail-owner").textContent = task.owner_id || "—";
  $("detail-created").textContent = formatTime(task.created_at);
  const waits = task.status === "pending" && new Date(task.run_at).getTime() > Date.now();
  $("detail-run-at").textContent = waits ? `waits until ${formatTime(task.run_at)}` : formatTime(task.run_at);
  $("detail-started").textContent = formatTime(task.started_at);
  $("detail-finished").textContent = formatTime(task.finished_at);
  $("detail-duration").textContent = formatDuration(task.started_at, task.finished_at);
  $("detail-job").textContent = task.job_id ? `${task.job_id} (chunk ${task.chunk_index})` : "—";
  $("detail-params").textContent = pretty(task.params);
  renderOutcome(task.status, task.result, task.error);
  renderActions(page, task);
  const reason = task.status === "pending" ? task.waiting_for_worker : null;
  $("detail-waiting").textContent = reason || "";
  show($("detail-waiting"), Boolean(reason));
}

function attemptRow(attempt) {
  const error = attempt.error;
  const summary = error && typeof error === "object" ? error.message || error.code || pretty(error) : error;
  const errorCell = el("td", { className: "col-error", attrs: { "data-label": "Error" } });
  if (summary) {
    errorCell.append(el("span", { text: String(summary) }));
    if (error && typeof error === "object" && typeof error.traceback === "string") {
      const details = el("details", {}, [el("summary", { text: "Traceback" }), el("pre", { className: "traceback", text: error.traceback, attrs: { tabindex: "0" } })]);
      errorCell.append(details);
    }
  } else errorCell.textContent = "—";
  return el("tr", { attrs: { "data-attempt": attempt.attempt } }, [
    el("td", { text: attempt.attempt, attrs: { "data-label": "#" } }),
    el("td", { text: attempt.node_id || "—", className: "col-node", attrs: { "data-label": "Node" } }),
    el("td", { text: formatTime(attempt.started_at), attrs: { "data-label": "Started" } }),
    el("td", { text: formatTime(attempt.finished_at), attrs: { "data-label": "Finished" } }),
    el("td", { text: formatDuration(attempt.started_at, attempt.finished_at), attrs: { "data-label": "Duration" } }),
    el("td", { attrs: { "data-label": "Outcome" } }, [el("span", { text: attempt.outcome, className: `status outcome-${attempt.outcome}` })]),
    errorCell,
  ]);
}

function renderAttempts(task) {
  const rows = (task.attempt_history || []).map(attemptRow);
  $("attempts-body").replaceChildren(...rows);
  show($("attempts-empty"), rows.length === 0);
}

// The original this task retries (if any) and the retries made of this task.
async function renderLineage(page, task) {
  const items = [];
  if (task.original_task_id) {
    items.push(el("li", {}, [el("span", { text: "Retry of " }), taskLink(task.original_task_id)]));
  }
  const query = new URLSearchParams({ original_task_id: task.task_id, limit: "50" });
  const { tasks } = await page.ctx.api("GET", `/tasks?${query.toString()}`);
  if (!live(page)) return;
  for (const retry of tasks) {
    items.push(
      el("li", {}, [
        el("span", { text: "Retried as " }),
        taskLink(retry.task_id),
        el("span", { text: " " }),
        el("span", { text: retry.status, className: `status status-${retry.status}` }),
      ]),
    );
  }
  if (items.length === 0) items.push(el("li", { className: "muted", text: "No original and no retries." }));
  $("lineage").replaceChildren(...items);
}

async function reload(page) {
  const task = await page.ctx.api("GET", `/tasks/${encodeURIComponent(page.id)}`);
  if (!live(page)) return null;
  renderFacts(page, task);
  renderAttempts(task);
  return task;
}

async function onAction(page, event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  button.disabled = true;
  $("detail-error").textContent = "";
  try {
    const task = await page.ctx.api("POST", `/tasks/${encodeURIComponent(page.id)}/${action}`);
    if (!live(page)) return;
    if (action === "retry") page.ctx.navigate(`#/tasks/${encodeURIComponent(task.task_id)}`);
    else await reload(page);
  } catch (err) {
    if (live(page)) $("detail-error").textContent = page.ctx.errorText(err);
    button.disabled = false;
  }
}

function setStreamState(text) {
  const pill = $("detail-stream");
  if (!pill) return;
  pill.textContent = text;
  pill.dataset.state = text;
  show(pill, Boolean(text));
}

function closeStream(page) {
  if (page.source) page.source.close();
  page.source = null;
  clearTimeout(page.retry);
}

export async function mount(root, ctx) {
  const page = { id: ctx.params.id, ctx, source: null, lastSeq: 0, retry: null, backoff: 1000, task: null };
  current = page;
  root.append(fromTemplate("tpl-task"));
  $("detail-id").textContent = page.id;
  $("detail-actions").addEventListener("click", (event) => onAction(page, event));
  setStreamState("loading");
  let task;
  try {
    task = await reload(page);
  } catch (err) {
    if (!live(page)) return;
    setStreamState("");
    $("detail-error").textContent = ctx.errorText(err);
    return;
  }
  if (!task) return;
  // Keyboard and screen-reader users land on what they just opened.
  $("detail-title").focus();
  const side = (promise) => promise.catch((err) => live(page) && ctx.notify(ctx.errorText(err)));
  side(renderLineage(page, task));
  side(renderArtifacts(page, task.task_id, live));
  // A finished task's stream replays its progress history, then ends.
  await connect(page);
}

export function unmount() {
  if (current) closeStream(current);
  current = null;
}

async function connect(page) {
  const query = page.lastSeq > 0 ? { after_seq: String(page.lastSeq) } : {};
  const url = await streamUrl(`/tasks/${encodeURIComponent(page.id)}/events`, page.id, query);
  if (!live(page)) return;
  const source = new EventSource(url);
  page.source = source;
  source.addEventListener("open", () => {
    page.backoff = 1000;
    setStreamState("live");
  });
  source.addEventListener("progress", (event) => onProgress(page, event));
  source.addEventListener("status_change", (event) => onStatus(page, event));
  source.addEventListener("error", () => {
    // The ticket was single-use, so EventSource's own reconnect would be refused:
    // close it and reconnect with a fresh ticket, resuming after the last seq.
    source.close();
    if (!live(page) || page.source !== source) return;
    page.source = null;
    setStreamState("reconnecting");
    page.retry = setTimeout(() => {
      connect(page).catch((err) => setStreamState(page.ctx.errorText(err)));
    }, page.backoff);
    page.backoff = Math.min(page.backoff * 2, MAX_BACKOFF_MS);
  });
}

function onProgress(page, event) {
  if (!live(page)) return;
  const item = parseEvent(event);
  if (!item || typeof item.seq !== "number" || item.seq <= page.lastSeq) return;
  page.lastSeq = item.seq;
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

function onStatus(page, event) {
  if (!live(page)) return;
  const change = parseEvent(event);
  if (!change || !change.status) return;
  setStatus(change.status);
  renderOutcome(change.status, change.result, change.error);
  if (TERMINAL.has(change.status)) {
    // The server ends the stream after a final status; without this EventSource
    // would try to reconnect.
    closeStream(page);
    setStreamState("finished");
  }
  // The event carries the status; node, times and attempts come with a fresh read.
  reload(page).catch(() => {});
}
