// #/jobs/<id>: one job's live chunk grid, figures, cancel and results download.
//
// The grid is read once from GET /jobs/{id}/chunks and then kept live by the job's
// SSE stream: a `chunk` event recolours its cell at once, a `progress` event
// carries the job's figures. A reconnect resumes after the last event id
// (`?after=`), and the server replays the chunk changes missed meanwhile.

import { el, formatTime } from "../dom.js";
import { credits, download, duration, liveStream, section, shortId } from "./market_util.js";

const PAGE = 500;
const ENDED = new Set(["completed", "failed", "timeout", "cancelled"]);

function fact(term, value, id) {
  const dd = el("dd", { text: value, attrs: id ? { id } : {} });
  return [el("dt", { text: term }), dd];
}

export async function mountJobPage(root, ctx, jobId) {
  const path = `/jobs/${encodeURIComponent(jobId)}`;
  const { node, head } = section(`Job ${shortId(jobId)}`, "job-page");
  const status = el("span", { className: "status", attrs: { id: "job-status", "aria-live": "polite" } });
  const stream = el("span", { className: "pill", text: "loading", attrs: { id: "job-stream", "aria-live": "polite" } });
  const cancel = el("button", { className: "danger", text: "Cancel job", attrs: { type: "button", hidden: "" } });
  const results = el("button", { className: "secondary", text: "Download results", attrs: { type: "button" } });
  head.append(status, stream, cancel, results);
  const back = el("p", {}, [el("a", { text: "All jobs", attrs: { href: "#/jobs" } })]);
  const error = el("p", { className: "error", attrs: { role: "alert" } });
  const facts = el("dl", { className: "facts" });
  const bar = el("progress", { attrs: { max: "100", value: "0", id: "job-progress", "aria-label": "Chunks ended" } });
  const percent = el("span", { attrs: { id: "job-percent" } });
  const money = el("dl", { className: "stats", attrs: { id: "job-money" } });
  const grid = el("ol", { className: "chunk-grid", attrs: { id: "chunk-grid", "aria-label": "Chunks" } });
  const tip = el("div", { className: "chunk-tip", attrs: { id: "chunk-tip", role: "status", "aria-live": "polite" } });
  const legend = el("ul", { className: "legend", attrs: { "aria-label": "Legend" } },
    ["pending", "in_progress", "completed", "failed", "timeout", "cancelled"].map((s) =>
      el("li", {}, [el("span", { className: `swatch chunk-${s}`, attrs: { "aria-hidden": "true" } }), s.replace("_", " ")]),
    ),
  );
  const content = el("div", {}, [
    el("p", { className: "muted" }, [el("code", { text: jobId })]),
    facts,
    el("div", { className: "progress-wrap" }, [bar, percent]),
    money,
    el("h3", { text: "Chunks" }),
    legend,
    grid,
    tip,
  ]);
  node.append(back, error, content);
  root.append(node);

  const cells = new Map(); // chunk_index -> {cell, chunk}
  let job = null;
  let live = null;
  let disposed = false;

  function renderFacts(j) {
    const ended = j.chunk_count - (j.counts.pending || 0) - (j.counts.in_progress || 0);
    const end = j.finished_at ? new Date(j.finished_at).getTime() : Date.now();
    const seconds = (end - new Date(j.created_at).getTime()) / 1000;
    const rate = seconds > 0 && ended > 0 ? (ended / seconds) * 60 : null;
    facts.replaceChildren(
      ...fact("Work", j.task_type + (j.runtime ? ` (${j.runtime} code)` : "")),
      ...fact("Chunks", `${ended} of ${j.chunk_count} ended (${j.item_count} items, ${j.chunk_size} per chunk)`, "job-chunks"),
      ...fact("Slots", String(j.max_concurrency)),
      ...fact("Running now", String(j.counts.in_progress || 0), "job-running"),
      ...fact("Rate", rate === null ? "—" : `${rate.toFixed(1)} chunks/min`, "job-rate"),
      ...fact("ETA", ENDED.has(j.status) || j.status !== "running" ? "—" : duration(j.eta_seconds), "job-eta"),
      ...fact("Price", `${credits(j.price_per_chunk)} credits per chunk (fee ${j.fee_percent} %)`),
      ...fact("Created", formatTime(j.created_at)),
      ...fact("Finished", formatTime(j.finished_at)),
    );
    bar.value = j.progress_percent;
    percent.textContent = `${Math.round(j.progress_percent)}%`;
    money.replaceChildren(
      ...[["spent", j.spent], ["reserved", j.reserved], ["refunded", j.refunded]].map(([name, value]) =>
        el("div", { attrs: { "data-stat": name } }, [el("dt", { text: name }), el("dd", { text: credits(value) })]),
      ),
    );
    status.textContent = j.status;
    status.className = `status status-${j.status}`;
    cancel.hidden = j.status !== "running";
  }

  function label(chunk) {
    const who = chunk.node_id ? `, node ${chunk.node_id}` : "";
    return `Chunk ${chunk.chunk_index}: ${chunk.status.replace("_", " ")}${who}`;
  }

  // When each cell changed status (epoch ms), for the tests and anyone curious in
  // devtools: data-at-in-progress, data-at-completed, ...
  function stamp(entry, status) {
    const key = `at_${status}`.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    entry.cell.dataset[key] = String(Date.now());
  }

  // A newer version of a chunk, from an event or a re-read: the cell follows it.
  function update(entry, chunk) {
    if (chunk.version < entry.chunk.version) return;
    const changed = chunk.status !== entry.chunk.status;
    entry.chunk = chunk;
    paint(entry);
    if (changed) stamp(entry, chunk.status);
    if (tipIndex === chunk.chunk_index) showTip(entry);
  }

  function paint(entry) {
    const { cell, chunk } = entry;
    cell.className = `chunk chunk-${chunk.status}`;
    cell.dataset.status = chunk.status;
    cell.setAttribute("aria-label", label(chunk));
  }

  let tipIndex = null; // the chunk the details box is about

  function showTip(entry) {
    const c = entry.chunk;
    tipIndex = c.chunk_index;
    const preview = c.preview === undefined ? "…" : JSON.stringify(c.preview);
    const more = c.items > (c.preview || []).length ? ` (first ${c.preview.length} of ${c.items})` : "";
    tip.replaceChildren(
      el("strong", { text: `Chunk ${c.chunk_index}` }),
      el("span", { text: ` ${c.status.replace("_", " ")}` }),
      el("span", { text: ` · node ${c.node_id || "none yet"}` }),
      el("span", { text: ` · runs ${c.runs ?? "—"} · failed attempts ${c.attempts ?? "—"}` }),
      el("code", { text: `items${more}: ${preview}` }),
    );
  }

  async function refreshChunk(entry) {
    // The stream says what changed, not the attempts or items: read this one chunk.
    const index = entry.chunk.chunk_index;
    const query = index > 0 ? `?cursor=${index - 1}&limit=1` : "?limit=1";
    try {
      const [fresh] = (await ctx.api("GET", `${path}/chunks${query}`)).chunks;
      if (fresh && fresh.chunk_index === index) update(entry, fresh);
    } catch {
      // The details keep what they had.
    }
    // Another square may have been picked meanwhile: then its details stay.
    if (tipIndex === index) showTip(entry);
  }

  function addCell(chunk) {
    // One Tab stop for the whole grid (a job can have thousands of chunks): the
    // arrow keys, Home and End move between squares (a roving tabindex).
    const first = cells.size === 0;
    const cell = el("li", { attrs: { tabindex: first ? "0" : "-1", "data-index": String(chunk.chunk_index) } });
    const entry = { cell, chunk };
    cells.set(chunk.chunk_index, entry);
    paint(entry);
    const focus = () => {
      showTip(entry);
      refreshChunk(entry);
    };
    cell.addEventListener("mouseenter", focus);
    cell.addEventListener("focus", focus);
    return cell;
  }

  function perRow() {
    const squares = grid.children;
    if (squares.length < 2) return 1;
    const top = squares[0].offsetTop;
    let n = 1;
    while (n < squares.length && squares[n].offsetTop === top) n += 1;
    return n;
  }

  grid.addEventListener("keydown", (event) => {
    const from = event.target.closest("li");
    if (!from) return;
    const squares = Array.from(grid.children);
    const at = squares.indexOf(from);
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow(), ArrowUp: -perRow() };
    let to;
    if (event.key in moves) to = at + moves[event.key];
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = squares.length - 1;
    else return;
    event.preventDefault();
    const target = squares[Math.max(0, Math.min(squares.length - 1, to))];
    from.setAttribute("tabindex", "-1");
    target.setAttribute("tabindex", "0");
    target.focus();
  });

  async function loadChunks() {
    const all = [];
    let cursor = null;
    do {
      const query = cursor === null ? `?limit=${PAGE}` : `?limit=${PAGE}&cursor=${cursor}`;
      const page = await ctx.api("GET", `${path}/chunks${query}`);
      all.push(...page.chunks);
      cursor = page.next_cursor;
    } while (cursor !== null && !disposed);
    if (disposed) return;
    for (const chunk of all) {
      const entry = cells.get(chunk.chunk_index);
      if (!entry) grid.append(addCell(chunk));
      else update(entry, chunk);
    }
    if (all.length === 0) tip.textContent = "This job has no chunks.";
    else if (!tip.textContent) {
      tip.textContent = "Hover over a chunk, or Tab to the grid and use the arrow keys, to see its node, attempts and items.";
    }
  }

  function onChunk(event) {
    const entry = cells.get(event.chunk_index);
    if (!entry) return;
    const { status, version } = event;
    update(entry, { ...entry.chunk, status, version, node_id: event.node_id ?? entry.chunk.node_id });
  }

  function onProgress(event) {
    if (!job) return;
    job = { ...job, ...event, counts: event.counts || job.counts };
    renderFacts(job);
    if (event.status && event.status !== "running" && live) {
      live.close("finished");
      // The stream ends with the figures that show the job finished; a last chunk's
      // own event can still be on its way then, so the grid is read once more.
      loadChunks().catch(() => {});
      // The figures in the event do not say when it finished: the job does.
      ctx.api("GET", path).then((j) => {
        job = j;
        renderFacts(j);
      }).catch(() => {});
    }
  }

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      job = await ctx.api("POST", `${path}/cancel`);
      renderFacts(job);
      ctx.notify(`Cancelled job ${shortId(jobId)}; ${credits(job.refunded)} credits released.`);
    } catch (err) {
      error.textContent = ctx.errorText(err);
    } finally {
      cancel.disabled = false;
    }
  });
  results.addEventListener("click", async () => {
    try {
      const missing = await download(`${path}/results`, `job-${jobId}-results.jsonl`);
      ctx.notify(Number(missing) ? `Downloaded the results so far; ${missing} chunks are not in it yet.` : "Downloaded the results.");
    } catch (err) {
      error.textContent = err.message;
    }
  });

  try {
    job = await ctx.api("GET", path);
    renderFacts(job);
    await loadChunks();
  } catch (err) {
    error.textContent = ctx.errorText(err);
    stream.textContent = "offline";
    // Nothing of a job to show: only what went wrong and the way back.
    for (const part of [content, status, results]) part.hidden = true;
    return () => {
      disposed = true;
    };
  }
  if (job.status !== "running") {
    stream.textContent = "finished";
    return () => {
      disposed = true;
    };
  }
  let opened = 0;
  live = liveStream({
    path: `${path}/events`,
    ticketFor: jobId,
    handlers: { chunk: onChunk, progress: onProgress },
    onState: (text) => {
      stream.textContent = text;
      stream.dataset.state = text;
    },
    resume: "after",
    // A reconnect without an id to resume from (none seen yet) cannot be replayed:
    // read the grid again.
    onOpen: (resumed) => {
      opened += 1;
      if (opened > 1 && !resumed) loadChunks().catch(() => {});
    },
  });
  return () => {
    disposed = true;
    live.close();
  };
}
