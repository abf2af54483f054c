// #/ops (admins): the cluster live. /admin/stats and /nodes are re-read every two
// seconds, and soon after a status change the firehose reports.

import { $, el, formatSeconds, formatTime, fromTemplate, show } from "../dom.js";
import { subscribe } from "../firehose.js";
import { createCharts } from "./ops_charts.js";

const REFRESH_MS = 2000;
const SOON_MS = 500;

let view = null; // {ctx, charts, timer, soon, unsubscribe}

// counts: name -> a number, or [text, number] when the number is shown formatted.
function fillStats(target, counts) {
  const items = Object.entries(counts || {}).map(([name, value]) => {
    const [text, raw] = Array.isArray(value) ? value : [value, value];
    return el("div", { className: "stat", attrs: { "data-stat": name } }, [
      el("dt", { text: name }),
      el("dd", { text, attrs: { "data-value": raw ?? "" } }),
    ]);
  });
  target.replaceChildren(...items);
}

function claimFacts(stats) {
  const { total, latency_count: count, latency_seconds_sum: sum } = stats.claims;
  const mean = count > 0 ? sum / count : null;
  const oldest = stats.queue.oldest_pending_age_seconds;
  const timed = (value) => [value === null ? "—" : formatSeconds(value), value];
  fillStats($("stats-claims"), {
    claims: total,
    "mean claim latency": timed(mean),
    "ready to run": stats.queue.ready,
    "oldest pending": timed(oldest),
  });
}

function nodeRow(node) {
  const link = el("a", { text: node.name, attrs: { href: `#/nodes/${encodeURIComponent(node.node_id)}` } });
  return el("tr", { attrs: { "data-node-id": node.node_id } }, [
    el("td", { attrs: { "data-label": "Node" } }, [link, el("br"), el("code", { className: "muted", text: node.node_id })]),
    el("td", { text: node.kind, attrs: { "data-label": "Kind" } }),
    el("td", { text: node.status, attrs: { "data-label": "Status" } }),
    el("td", { attrs: { "data-label": "Health" } }, [el("span", { text: node.health, className: `health health-${node.health}` })]),
    el("td", { text: node.in_flight ?? "—", attrs: { "data-label": "In flight" } }),
    el("td", { text: node.finished ?? "—", attrs: { "data-label": "Finished" } }),
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
  claimFacts(stats);
  current.charts.update(stats);
  const rows = nodes.map(nodeRow);
  $("nodes-body").replaceChildren(...rows);
  show($("nodes-empty"), rows.length === 0);
  $("ops-updated").textContent = `updated ${formatTime(stats.sampled_at)}`;
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
  }, SOON_MS);
}

export async function mount(root, ctx) {
  root.append(fromTemplate("tpl-ops"));
  const current = { ctx, charts: createCharts($("charts")), timer: null, soon: null, unsubscribe: () => {} };
  view = current;
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
