// The operations view's charts, fed by successive GET /admin/stats answers.
//
// Throughput is the change of the completed and failed (failed + timeout) counts
// between two answers divided by the time between them (the server's sampled_at);
// claim latency is the mean over the claims made between two answers (the change of
// the latency histogram's sum over the change of its count), gaps when none were made.

import { barChart, lineChart } from "../chart.js";
import { formatSeconds } from "../dom.js";

const KEEP = 90; // samples: three minutes at one every two seconds

const rate = (value) => (typeof value === "number" ? `${value.toFixed(2)}/s` : "—");
const seconds = (value) => (typeof value === "number" ? formatSeconds(value) : "—");

function sample(stats) {
  const byStatus = stats.tasks.by_status;
  return {
    t: new Date(stats.sampled_at).getTime(),
    completed: byStatus.completed || 0,
    failed: (byStatus.failed || 0) + (byStatus.timeout || 0),
    claims: stats.claims.latency_count,
    latencySum: stats.claims.latency_seconds_sum,
    oldest: stats.queue.oldest_pending_age_seconds,
    pending: stats.queue.pending,
  };
}

// Counts can fall (a task retried or cleaned up): a rate is never below zero.
const perSecond = (now, before, key, dt) => Math.max(0, now[key] - before[key]) / dt;

export function createCharts(container) {
  const samples = [];
  const throughput = lineChart(container, { id: "throughput", title: "Throughput", series: ["completed", "failed"], format: rate });
  const queue = barChart(container, {
    id: "queue",
    title: "Queue depth by task type",
    empty: "Nothing is queued.",
    format: (item) => (item.note ? `${item.value} (${item.note})` : String(item.value)),
  });
  const oldest = lineChart(container, { id: "oldest", title: "Oldest pending task waits", series: ["age"], format: seconds });
  const latency = lineChart(container, { id: "latency", title: "Claim latency (mean)", series: ["latency"], format: seconds });

  function update(stats) {
    const next = sample(stats);
    const last = samples[samples.length - 1];
    if (last && next.t <= last.t) return; // an answer older than one already drawn
    samples.push(next);
    while (samples.length > KEEP) samples.shift();
    const flows = [];
    const waits = [];
    for (let i = 1; i < samples.length; i += 1) {
      const [before, now] = [samples[i - 1], samples[i]];
      const dt = (now.t - before.t) / 1000;
      // Back to zero: the server restarted and its claim counters with it.
      const claims = now.claims - before.claims;
      const mean = claims > 0 ? (now.latencySum - before.latencySum) / claims : null;
      flows.push({ t: now.t, span: dt, values: [perSecond(now, before, "completed", dt), perSecond(now, before, "failed", dt)] });
      waits.push({ t: now.t, values: [mean] });
    }
    throughput.update(flows);
    latency.update(waits);
    oldest.update(samples.map((s) => ({ t: s.t, values: [s.oldest] })));
    queue.update(
      stats.queue.by_type.map((row) => ({
        label: row.task_type,
        value: row.pending,
        note: row.pending !== row.ready ? `${row.pending - row.ready} delayed` : "",
      })),
    );
  }

  return { update };
}
