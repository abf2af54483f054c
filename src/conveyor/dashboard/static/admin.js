// Admins only: the firehose of status changes, the stats and the node list.

import { $, el, formatTime, notify, parseEvent, show } from "./dom.js";
import { api, errorText, isAdmin, streamUrl } from "./session.js";
import { applyStatusChange, loadTasks } from "./tasks.js";

const MAX_BACKOFF_MS = 30000;
// A busy cluster sends many changes a second; stats and nodes need not follow each.
const ADMIN_REFRESH_MS = 2000;

let source = null;
let retry = null;
let backoff = 1000;
let missed = false; // disconnected since the table was loaded
let refreshTimer = null;

function setState(text) {
  $("firehose-state").textContent = text;
  $("firehose-state").dataset.state = text;
}

export function stopAdmin() {
  clearTimeout(retry);
  clearTimeout(refreshTimer);
  refreshTimer = null;
  if (source) source.close();
  source = null;
  backoff = 1000;
  missed = false;
  setState("offline");
  $("nodes-body").replaceChildren();
  $("stats-tasks").replaceChildren();
  $("stats-nodes").replaceChildren();
}

export function startAdmin() {
  loadAdmin();
  connect();
}

async function connect() {
  clearTimeout(retry);
  setState("connecting");
  let url;
  try {
    url = await streamUrl("/events", null);
  } catch {
    reconnectLater();
    return;
  }
  if (!isAdmin() || source) return;
  const opened = new EventSource(url);
  source = opened;
  opened.addEventListener("open", () => {
    backoff = 1000;
    setState("live");
    if (missed) {
      // The firehose has no history: what changed while we were away is read anew.
      missed = false;
      loadTasks(true);
      loadAdmin();
    }
  });
  opened.addEventListener("status_change", (event) => {
    const change = parseEvent(event);
    if (change && change.task_id && change.status) {
      applyStatusChange(change);
      refreshSoon();
    }
  });
  opened.addEventListener("error", () => {
    // A spent ticket cannot reopen the stream: reconnect with a new one.
    opened.close();
    if (source !== opened) return;
    source = null;
    reconnectLater();
  });
}

function reconnectLater() {
  if (!isAdmin()) return;
  setState("reconnecting");
  missed = true;
  clearTimeout(retry);
  retry = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
}

function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    loadAdmin();
  }, ADMIN_REFRESH_MS);
}

function fillStats(target, counts) {
  const items = Object.entries(counts || {}).map(([name, count]) =>
    el("div", { className: "stat", attrs: { "data-stat": name } }, [
      el("dt", { text: name }),
      el("dd", { text: count }),
    ]),
  );
  target.replaceChildren(...items);
}

async function loadStats() {
  const stats = await api("GET", "/admin/stats");
  fillStats($("stats-tasks"), { total: stats.tasks.total, ...stats.tasks.by_status });
  fillStats($("stats-nodes"), { total: stats.nodes.total, ...stats.nodes.by_health });
}

function nodeRow(node) {
  return el("tr", { attrs: { "data-node-id": node.node_id } }, [
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
  ]);
}

async function loadNodes() {
  const { nodes } = await api("GET", "/nodes");
  const rows = nodes.map(nodeRow);
  $("nodes-body").replaceChildren(...rows);
  show($("nodes-empty"), rows.length === 0);
}

export function loadAdmin() {
  if (!isAdmin()) return;
  for (const load of [loadStats, loadNodes]) {
    load().catch((err) => notify(errorText(err)));
  }
}
