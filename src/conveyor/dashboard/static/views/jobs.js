// The customer's jobs: #/jobs (the list), #/jobs/new (create), #/jobs/<id> (one job).

import { el, formatTime } from "../dom.js";
import { mountJobForm } from "./job_form.js";
import { mountJobPage } from "./job_page.js";
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

const PAGE = 25;
const REFRESH_MS = 3000;

let cleanup = null;

export async function mount(root, ctx) {
  ensureStylesheet();
  unmount();
  const id = ctx.params && ctx.params.id;
  if (id === "new") cleanup = await mountJobForm(root, ctx);
  else if (id) cleanup = await mountJobPage(root, ctx, id);
  else cleanup = mountJobList(root, ctx);
}

export function unmount() {
  if (cleanup) cleanup();
  cleanup = null;
}

const COLUMNS = ["Job", "Type", "Status", "Progress", "Chunks", "Spent", "Created"];

function jobRow(job) {
  const ended = job.chunk_count - (job.counts.pending || 0) - (job.counts.in_progress || 0);
  const link = el("a", { text: shortId(job.job_id), attrs: { href: `#/jobs/${job.job_id}` } });
  link.append(el("span", { className: "visually-hidden", text: ` (job ${job.job_id})` }));
  return cardRow(
    COLUMNS,
    [
      link,
      job.task_type,
      el("span", { className: `status status-${job.status}`, text: job.status }),
      progressBar(job.progress_percent, `Job ${shortId(job.job_id)} progress`),
      `${ended} / ${job.chunk_count}`,
      `${credits(job.spent)} of ${credits(job.chunk_count * job.price_per_chunk)}`,
      formatTime(job.created_at),
    ],
    { "data-job-id": job.job_id },
  );
}

function mountJobList(root, ctx) {
  const { node, head } = section("Jobs", "jobs-list");
  head.append(el("a", { className: "button", text: "New job", attrs: { href: "#/jobs/new" } }));
  const error = el("p", { className: "error", attrs: { role: "alert" } });
  const { table, body } = cardTable("Your jobs", COLUMNS);
  const empty = el("div", { className: "empty", attrs: { hidden: "" } }, [
    el("p", { text: "You have no jobs yet." }),
    el("p", {
      className: "muted",
      text:
        "A job splits a dataset into chunks; providers' nodes run them and are paid per " +
        "completed chunk from the credits the job reserves.",
    }),
    el("a", { text: "Create your first job", attrs: { href: "#/jobs/new" } }),
  ]);
  const more = el("button", { className: "secondary", text: "Load more", attrs: { type: "button", hidden: "" } });
  node.append(error, el("div", { className: "table-wrap" }, [table]), empty, more);
  root.append(node);

  let shown = PAGE;
  let cursorAfterShown = null;
  async function load() {
    try {
      // Re-read the pages shown so far: progress moves on every row, not only new ones.
      const got = await ctx.api("GET", `/jobs?limit=${shown}`);
      body.replaceChildren(...got.jobs.map(jobRow));
      cursorAfterShown = got.next_cursor;
      table.hidden = got.jobs.length === 0;
      empty.hidden = got.jobs.length !== 0;
      more.hidden = !cursorAfterShown || shown >= 200; // the API's page bound
      error.textContent = "";
    } catch (err) {
      error.textContent = ctx.errorText(err);
    }
  }
  more.addEventListener("click", () => {
    shown = Math.min(shown + PAGE, 200);
    load();
  });
  return every(REFRESH_MS, load);
}
