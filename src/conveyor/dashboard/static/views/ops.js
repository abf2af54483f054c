// #/ops (admins): the cluster live. Stats and nodes from /admin/stats and /nodes,
// re-read on a timer and soon after each status change the firehose reports.

import { $, el, formatTime, fromTemplate, show } from "../dom.js";
import { subscribe } from "../firehose.js";

// A busy cluster sends many changes a second; the charts need not follow each.
const REFRESH_MS = 2000;

let view = null; // {ctx, timer, soon, unsubscribe}

function fillStats(target, counts) {
  const items = Object.entries(counts || {}).map(([name, count]) =>
    el("div", { className: "stat", attrs: { "data-stat": name } }, [el("dt", { text: name }), el("dd", { text: count })]),
  );
  target.replaceChildren(...items);
}

function nodeRow(node) {
  const link = el("a", { text: node.name, attrs: { href: `#/nodes/${encodeURIComponent(node.node_id)}` } });
  return el("tr", { attrs: { "data-node-id": node.node_id } }, [
    el("td", { attrs: { "data-label": "Node" } }, [link, el("br"), el("code", { className: "muted", text: node.node_id })]),
    el("td", { text: node.kind, attrs: { "data-label": "Kind" } }),
    el("td", { text: node.status, attrs: { "data-label": "Status" } }),
    el("td", { attrs: { "data-label": "Health" } }, [el("span", { text: node.health, className: `health health-${node.health}` })]),
    el("td", { text: node.in_flight ?? "—", attrs: { "data-label": "In flight" } }),
    el("td", { text: formatTime(node.last_seen), attrs: { "data-label": "Last seen" } }),
  ]);
}

async function load(current) {
  const [stats, { nodes }] = await Promise.all([
    current.ctx.api("GET", "/admin/stats"),
    current.ctx.api("GET", "/nodes"),
  ]);
  if (view !== current) return;
  fillStats($("stats-tasks"), { total: stats.tasks.total, ...stats.tasks.by_status });
  fillStats($("stats-nodes"), { total: stats.nodes.total, ...stats.nodes.by_health });
  const rows = nodes.map(nodeRow);
  $("nodes-body").replaceChildren(...rows);
  show($("nodes-empty"), rows.length === 0);
  $("ops-updated").textContent = `updated ${formatTime(new Date().toISOString())}`;
}

function refresh(current) {
  load(current)
    .then(() => {
      if (view === current) $("ops-error").textContent = "";
    })
    .catch((err) => {
      if (view === current) $("ops-error").textContent = current.ctx.errorText(err);
    });
}

function refreshSoon(current) {
  if (current.soon) return;
  current.soon = setTimeout(() => {
    current.soon = null;
    if (view === current) refresh(current);
  }, REFRESH_MS / 4);
}

export async function mount(root, ctx) {
  const current = { ctx, timer: null, soon: null, unsubscribe: () => {} };
  view = current;
  root.append(fromTemplate("tpl-ops"));
  $("admin-refresh").addEventListener("click", () => refresh(current));
  current.unsubscribe = subscribe(
    () => refreshSoon(current),
    () => refresh(current),
  );
  current.timer = setInterval(() => refresh(current), REFRESH_MS);
  refresh(current);
}

export function unmount() {
  if (!view) return;
  clearInterval(view.timer);
  clearTimeout(view.soon);
  view.unsubscribe();
  view = null;
}
