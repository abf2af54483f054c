// #/provider: my nodes (register, drain, resume, disable), what they run now with
// its progress, the chunks I was paid for, and my earnings per hour or day.
// Polled every POLL_MS: the reads are cheap indexed ones (docs/dashboard.md).

import { el, formatTime } from "../dom.js";
import { parseLabels } from "./job_form.js";
import {
  cardRow,
  cardTable,
  credits,
  ensureStylesheet,
  every,
  progressBar,
  section,
  shortId,
} from "./market_util.js";

const POLL_MS = 1500;
const SERIES_MAX_AGE_MS = 60000;
const SVG = "http://www.w3.org/2000/svg";

let stop = null;

export function unmount() {
  if (stop) stop();
  stop = null;
}

function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const child of children) node.append(child);
  return node;
}

function bucketLabel(start, bucket) {
  const d = new Date(start);
  const day = d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  if (bucket === "day") return day;
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return d.toDateString() === new Date().toDateString() ? time : `${day}, ${time}`;
}

// Bars in a viewBox that scales to the card's width (no library, no inline style);
// the labels are HTML beside it, so they stay readable on a phone.
function chart(series) {
  const width = 720;
  const height = 160;
  const max = Math.max(1, ...series.buckets.map((b) => b.earned));
  const step = width / series.buckets.length;
  const bars = series.buckets.map((b, i) => {
    const h = (height * b.earned) / max;
    return svg("rect", {
      x: i * step + 1, y: height - h, width: Math.max(1, step - 2), height: h,
      class: "bar-earned", "data-earned": b.earned,
    }, [svg("title", {}, [`${bucketLabel(b.start, series.bucket)}: ${credits(b.earned)} credits, ${b.chunks} chunks`])]);
  });
  const first = series.buckets[0];
  const last = series.buckets[series.buckets.length - 1];
  const summary = `Earnings per ${series.bucket}: ${credits(series.total)} credits in the last ${series.buckets.length} ${series.bucket}s, ${credits(last.earned)} in the current one.`;
  const picture = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": summary, class: "earnings-chart",
  }, [svg("line", { x1: 0, y1: height, x2: width, y2: height, class: "axis" }), ...bars]);
  const top = series.total
    ? `max ${credits(max)} credits per ${series.bucket}`
    : `Nothing earned in the last ${series.buckets.length} ${series.bucket}s yet.`;
  return el("figure", { className: "chart-figure" }, [
    el("span", { className: "earnings-max muted", text: top }),
    picture,
    el("figcaption", { className: "earnings-axis muted" }, [
      el("span", { text: bucketLabel(first.start, series.bucket) }),
      el("span", { text: `${bucketLabel(last.start, series.bucket)} (now)` }),
    ]),
  ]);
}

const NODE_COLUMNS = ["Node", "Status", "Health", "Capacity", "Running", "Completed", "Last seen", "Actions"];
const RUN_COLUMNS = ["Chunk", "Job", "Node", "Progress", "Attempt", "Started"];
const PAID_COLUMNS = ["Chunk", "Job", "Node", "Earned", "Took", "Paid"];

function chunkName(t) {
  return t.chunk_index === null || t.chunk_index === undefined ? `${t.task_type} ${shortId(t.task_id)}` : `#${t.chunk_index}`;
}

export async function mount(root, ctx) {
  ensureStylesheet();
  unmount();
  const error = el("p", { className: "error", attrs: { role: "alert" } });

  // --- earnings
  const earn = section("Earnings", "provider-earnings");
  const bucket = el("select", { attrs: { id: "earn-bucket" } }, [
    el("option", { text: "per hour (last 24)", attrs: { value: "hour" } }),
    el("option", { text: "per day (last 30)", attrs: { value: "day" } }),
  ]);
  earn.head.append(el("label", { text: "Show", attrs: { for: "earn-bucket" } }), bucket);
  const earnStats = el("dl", { className: "stats", attrs: { id: "earn-stats" } });
  const chartBox = el("div", { className: "chart-box" });
  earn.node.append(earnStats, chartBox);

  // --- nodes
  const nodes = section("My nodes", "provider-nodes");
  const nodeTable = cardTable("My nodes", NODE_COLUMNS);
  const nodesEmpty = el("div", { className: "empty", attrs: { hidden: "" } }, [
    el("p", { text: "You have no nodes yet. Register one below, then run a worker with its id and secret; it will take chunks of other customers' jobs and earn their price, less the platform fee." }),
    el("p", {}, [
      "Or, to run customers' code in the sandbox, sign in with ",
      el("code", { text: "conveyor login" }),
      " on the machine and run ",
      el("code", { text: "conveyor worker --marketplace" }),
      ": it registers a node of yours by itself.",
    ]),
  ]);
  const regName = el("input", { attrs: { id: "node-name", maxlength: "200", required: "" } });
  const regTypes = el("input", { attrs: { id: "node-types", placeholder: "any type" } });
  const regLabels = el("input", { attrs: { id: "node-labels", placeholder: "gpu=true" } });
  const regCap = el("input", { attrs: { id: "node-capacity", type: "number", min: "1", step: "1", value: "4" } });
  const regError = el("p", { className: "error", attrs: { role: "alert" } });
  const secretBox = el("div", { className: "secret", attrs: { id: "node-secret-box", hidden: "", role: "status" } });
  const regForm = el("form", { className: "register", attrs: { novalidate: "" } }, [
    el("h3", { text: "Register a node" }),
    el("div", { className: "row" }, [
      el("div", { className: "field" }, [el("label", { text: "Name", attrs: { for: "node-name" } }), regName]),
      el("div", { className: "field" }, [el("label", { text: "Task types (comma separated)", attrs: { for: "node-types" } }), regTypes]),
      el("div", { className: "field" }, [el("label", { text: "Labels (key=value)", attrs: { for: "node-labels" } }), regLabels]),
      el("div", { className: "field" }, [el("label", { text: "Capacity (tasks at once)", attrs: { for: "node-capacity" } }), regCap]),
    ]),
    regError,
    el("button", { text: "Register node", attrs: { type: "submit" } }),
  ]);
  nodes.node.append(el("div", { className: "table-wrap" }, [nodeTable.table]), nodesEmpty, secretBox, regForm);

  // --- running and paid
  const running = section("Running now", "provider-running");
  const runTable = cardTable("Chunks my nodes are running", RUN_COLUMNS);
  const runEmpty = el("p", { className: "empty", text: "Your nodes are not running anything right now." });
  running.node.append(el("div", { className: "table-wrap" }, [runTable.table]), runEmpty);
  const paid = section("Latest paid chunks", "provider-paid");
  const paidTable = cardTable("Latest chunks I was paid for", PAID_COLUMNS);
  const paidEmpty = el("p", { className: "empty", text: "No paid chunks yet: completed chunks of other customers' jobs appear here with what they earned." });
  paid.node.append(el("div", { className: "table-wrap" }, [paidTable.table]), paidEmpty);

  root.append(error, earn.node, nodes.node, running.node, paid.node);

  async function setStatus(node, status) {
    try {
      await ctx.api("PATCH", `/nodes/${encodeURIComponent(node.node_id)}`, { status });
      ctx.notify(`Node ${node.name} is now ${status}.`);
      await refresh();
    } catch (err) {
      error.textContent = ctx.errorText(err);
    }
  }

  function actions(node) {
    const box = el("div", { className: "actions" });
    const add = (text, status) => {
      const b = el("button", { className: "secondary small", text, attrs: { type: "button", "aria-label": `${text} ${node.name}` } });
      b.addEventListener("click", () => setStatus(node, status));
      box.append(b);
    };
    if (node.status === "active") add("Drain", "draining");
    if (node.status !== "active") add("Resume", "active");
    if (node.status !== "disabled") add("Disable", "disabled");
    return box;
  }

  function renderNodes(list) {
    nodeTable.body.replaceChildren(
      ...list.map((n) =>
        cardRow(NODE_COLUMNS, [
          el("span", {}, [el("strong", { text: n.name }), el("br"), el("code", { text: n.node_id })]),
          el("span", { className: `status status-${n.status}`, text: n.status }),
          el("span", { className: `health health-${n.health}`, text: n.health }),
          String(n.max_concurrency),
          String(n.in_flight ?? 0),
          String(n.finished ?? 0),
          formatTime(n.last_seen),
          actions(n),
        ], { "data-node-id": n.node_id }),
      ),
    );
    nodeTable.table.hidden = list.length === 0;
    nodesEmpty.hidden = list.length !== 0;
  }

  function renderWork(work) {
    runTable.body.replaceChildren(
      ...work.running.map((t) =>
        cardRow(RUN_COLUMNS, [
          chunkName(t),
          t.job_id ? shortId(t.job_id) : "—",
          t.node_id,
          t.progress_percent === null ? "started" : progressBar(t.progress_percent, `Chunk ${chunkName(t)} progress`),
          `${t.attempts + 1} of ${t.max_attempts}`,
          formatTime(t.started_at),
        ], { "data-task-id": t.task_id }),
      ),
    );
    runTable.table.hidden = work.running.length === 0;
    runEmpty.hidden = work.running.length !== 0;
    paidTable.body.replaceChildren(
      ...work.paid.map((p) => {
        const took = p.started_at && p.finished_at ? (new Date(p.finished_at) - new Date(p.started_at)) / 1000 : null;
        return cardRow(PAID_COLUMNS, [
          chunkName(p),
          p.job_id ? shortId(p.job_id) : "—",
          p.node_id,
          `${credits(p.earned)} credits`,
          took === null ? "—" : `${took.toFixed(1)} s`,
          formatTime(p.paid_at),
        ], { "data-task-id": p.task_id });
      }),
    );
    paidTable.table.hidden = work.paid.length === 0;
    paidEmpty.hidden = work.paid.length !== 0;
  }

  function renderEarnings(series, wallet) {
    const last = series.buckets[series.buckets.length - 1];
    earnStats.replaceChildren(
      ...[
        ["earned-balance", "Earned balance (withdrawable)", wallet.earned],
        ["earned-total", `Last ${series.buckets.length} ${series.bucket}s`, series.total],
        ["earned-now", `This ${series.bucket}`, last.earned],
      ].map(([key, name, value]) =>
        el("div", { attrs: { "data-stat": key } }, [el("dt", { text: name }), el("dd", { text: credits(value) })]),
      ),
    );
    chartBox.replaceChildren(chart(series));
  }

  // The series is re-read only when it can have changed: the earned balance moved
  // (a chunk was paid), the bucket choice changed, or a minute passed (a new bucket
  // may have begun). Its query reads the user's earnings entries, the other three
  // reads are a few rows each.
  let series = null;
  let seriesFor = null;

  async function earningsFor(wallet) {
    const key = `${bucket.value} ${wallet.earned} ${Math.floor(Date.now() / SERIES_MAX_AGE_MS)}`;
    if (series === null || key !== seriesFor) {
      series = await ctx.api("GET", `/wallet/earnings?bucket=${bucket.value}`);
      seriesFor = key;
    }
    return series;
  }

  async function refresh() {
    try {
      const [list, work, wallet] = await Promise.all([
        ctx.api("GET", "/nodes"),
        ctx.api("GET", "/provider/work"),
        ctx.api("GET", "/wallet"),
      ]);
      renderNodes(list.nodes);
      renderWork(work);
      renderEarnings(await earningsFor(wallet), wallet);
      error.textContent = "";
    } catch (err) {
      error.textContent = ctx.errorText(err);
    }
  }

  bucket.addEventListener("change", refresh);
  regForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    regError.textContent = "";
    const labels = parseLabels(regLabels.value);
    const capacity = Number(regCap.value);
    if (!regName.value.trim()) regError.textContent = "Give the node a name.";
    else if (!labels.ok) regError.textContent = `Labels: ${labels.message}`;
    else if (!Number.isInteger(capacity) || capacity < 1) regError.textContent = "Capacity must be a whole number of at least 1.";
    if (regError.textContent) return;
    const types = regTypes.value.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      const made = await ctx.api("POST", "/nodes", {
        name: regName.value.trim(), task_types: types, labels: labels.labels, max_concurrency: capacity,
      });
      regForm.reset();
      secretBox.replaceChildren(
        el("p", {}, [el("strong", { text: `Node ${made.name} registered. ` }), "Copy its secret now: it is shown only this once and cannot be read again (rotate it to get a new one)."]),
        el("dl", { className: "facts" }, [
          el("dt", { text: "Node id" }), el("dd", {}, [el("code", { text: made.node_id, attrs: { id: "new-node-id" } })]),
          el("dt", { text: "Secret" }), el("dd", {}, [el("code", { text: made.node_secret, attrs: { id: "new-node-secret" } })]),
        ]),
        el("p", { className: "muted", text: "Run a worker with it (your handlers' module last):" }),
        el("pre", { text: `CONVEYOR_SERVER_URL=${window.location.origin} CONVEYOR_NODE_ID=${made.node_id} \\\n  CONVEYOR_NODE_SECRET='<the secret above>' conveyor worker your_handlers` }),
      );
      secretBox.hidden = false;
      await refresh();
    } catch (err) {
      regError.textContent = ctx.errorText(err);
    }
  });
  stop = every(POLL_MS, refresh);
}
