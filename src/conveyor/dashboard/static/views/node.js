// #/nodes/<id> (admins): one node, what runs on it, and what an admin does to it:
// drain (finish what it holds, take nothing new), disable, enable, rotate its secret
// (shown once), delete (after an in-page confirmation).

import { $, el, formatTime, fromTemplate, pretty, show } from "../dom.js";

const REFRESH_MS = 3000;
const STATUS_FOR = { drain: "draining", disable: "disabled", enable: "active" };

let view = null; // {ctx, id, timer}

function renderNode(node) {
  $("node-id").textContent = node.node_id;
  $("node-name").textContent = node.name;
  $("node-status").textContent = node.status;
  $("node-health").textContent = node.health;
  $("node-health").className = `health health-${node.health}`;
  $("node-kind").textContent = node.kind === "push" ? `push to ${node.url}` : node.kind;
  $("node-types").textContent = node.task_types.length ? node.task_types.join(", ") : "any";
  const labels = Object.entries(node.labels).map(([k, v]) => `${k}=${v}`);
  $("node-labels").textContent = labels.length ? labels.join(", ") : "—";
  $("node-capacity").textContent = `${node.max_concurrency} at a time`;
  $("node-in-flight").textContent = node.in_flight ?? "—";
  $("node-finished").textContent = node.finished ?? "—";
  $("node-owner").textContent = node.owner_id || "— (the operators')";
  $("node-last-seen").textContent = formatTime(node.last_seen);
  $("node-failures").textContent = String(node.consecutive_failures);
  $("node-load").textContent = node.load ? pretty(node.load) : "—";
  $("node-created").textContent = formatTime(node.created_at);
  // Only the moves that change something are offered.
  for (const [action, status] of Object.entries(STATUS_FOR)) {
    show($("node-actions").querySelector(`[data-action=${action}]`), node.status !== status);
  }
}

function renderTasks(tasks) {
  const items = tasks.map((task) =>
    el("li", { attrs: { "data-task-id": task.task_id } }, [
      el("a", { text: task.task_id, attrs: { href: `#/tasks/${encodeURIComponent(task.task_id)}` } }),
      el("span", { text: ` ${task.task_type}, since ${formatTime(task.started_at)}` }),
    ]),
  );
  $("node-tasks").replaceChildren(...items);
  show($("node-tasks-empty"), items.length === 0);
}

async function load(current) {
  const path = `/nodes/${encodeURIComponent(current.id)}`;
  const query = new URLSearchParams({ node_id: current.id, status: "in_progress", limit: "100" });
  const [node, { tasks }] = await Promise.all([
    current.ctx.api("GET", path),
    current.ctx.api("GET", `/tasks?${query.toString()}`),
  ]);
  if (view !== current) return;
  renderNode(node);
  renderTasks(tasks);
}

function refresh(current) {
  load(current).catch((err) => {
    if (view === current) $("node-error").textContent = current.ctx.errorText(err);
  });
}

async function act(current, action, button) {
  const path = `/nodes/${encodeURIComponent(current.id)}`;
  $("node-error").textContent = "";
  button.disabled = true;
  try {
    if (action === "delete") {
      const gone = await current.ctx.api("DELETE", path);
      if (view !== current) return;
      const released = gone.released.length;
      current.ctx.navigate("#/ops", `Deleted node ${current.id}; ${released} task(s) went back to pending.`);
      return;
    }
    const body = action === "rotate" ? { rotate_secret: true } : { status: STATUS_FOR[action] };
    const node = await current.ctx.api("PATCH", path, body);
    if (view !== current) return;
    renderNode(node);
    if (action === "rotate") {
      $("node-secret").textContent = node.node_secret;
      show($("node-secret-box"), true);
    }
    current.ctx.notify(action === "rotate" ? "" : `Node ${current.id} is now ${node.status}.`);
  } catch (err) {
    if (view === current) $("node-error").textContent = current.ctx.errorText(err);
  } finally {
    button.disabled = false;
  }
}

export async function mount(root, ctx) {
  root.append(fromTemplate("tpl-node"));
  const current = { ctx, id: ctx.params.id, timer: null };
  view = current;
  $("node-id").textContent = current.id;
  $("node-actions").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "delete") {
      show($("node-confirm"), true);
      $("node-confirm-yes").focus();
      return;
    }
    act(current, button.dataset.action, button);
  });
  $("node-confirm-yes").addEventListener("click", (event) => act(current, "delete", event.currentTarget));
  $("node-confirm-no").addEventListener("click", () => {
    show($("node-confirm"), false);
    $("node-actions").querySelector("[data-action=delete]").focus();
  });
  try {
    await load(current);
  } catch (err) {
    if (view !== current) return;
    $("node-error").textContent = ctx.errorText(err);
    show($("node-actions"), false);
    return;
  }
  $("node-title").focus();
  current.timer = setInterval(() => refresh(current), REFRESH_MS);
}

export function unmount() {
  if (!view) return;
  clearInterval(view.timer);
  view = null;
}
