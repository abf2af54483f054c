// #/jobs/new: upload a dataset (and a code bundle, or name a task type), set the
// chunking, slots and price, see the cost before submitting, and understand a 402.

import { el } from "../dom.js";
import { idempotentAction } from "../session.js";
import { credits, section, uploadFile } from "./market_util.js";

// Counting items in the browser means reading the file: past this size the cost is
// shown per chunk only and the server counts.
const COUNT_LIMIT_BYTES = 20 * 1024 * 1024;
const TASK_TYPE = /^[A-Za-z0-9_.:-]{1,100}$/;
const LABEL = /^([A-Za-z0-9_.:/-]{1,64})=(.{0,200})$/;

function field(id, label, input, hint) {
  input.id = id;
  const parts = [el("label", { text: label, attrs: { for: id } }), input];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    parts.push(el("small", { className: "muted", text: hint, attrs: { id: hintId } }));
  }
  return el("div", { className: "field" }, parts);
}

function numberInput(name, value, min) {
  return el("input", {
    attrs: { name, type: "number", inputmode: "numeric", min: String(min), step: "1", value: String(value) },
  });
}

export async function countItems(file) {
  if (!file || file.size > COUNT_LIMIT_BYTES) return null;
  const text = await file.text();
  const lines = /\.(jsonl|ndjson)$/i.test(file.name) || !text.trimStart().startsWith("[");
  if (lines) return text.split("\n").filter((line) => line.trim()).length;
  try {
    const value = JSON.parse(text);
    return Array.isArray(value) ? value.length : null;
  } catch {
    return null;
  }
}

export function parseLabels(text) {
  const labels = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const match = LABEL.exec(part);
    if (!match) return { ok: false, message: `"${part}" is not key=value.` };
    labels[match[1]] = match[2];
  }
  return { ok: true, labels };
}

function positive(input, name, min = 1) {
  const value = Number(input.value);
  if (!Number.isInteger(value) || value < min) {
    input.setAttribute("aria-invalid", "true");
    return { error: `${name} must be a whole number of at least ${min}.` };
  }
  input.removeAttribute("aria-invalid");
  return { value };
}

export async function mountJobForm(root, ctx) {
  const { node } = section("New job", "job-new");
  const form = el("form", { attrs: { novalidate: "" } });
  const dataset = el("input", { attrs: { type: "file", name: "dataset", accept: ".json,.jsonl,.ndjson,application/json" } });
  const workTask = el("input", { attrs: { type: "radio", name: "work", value: "task", checked: "" } });
  const workCode = el("input", { attrs: { type: "radio", name: "work", value: "code" } });
  workTask.id = "job-work-task";
  workCode.id = "job-work-code";
  const taskType = el("input", { attrs: { name: "task_type", maxlength: "100", placeholder: "e.g. noop" } });
  const code = el("input", { attrs: { type: "file", name: "code", accept: ".py,.js,.zip" } });
  const runtime = el("select", { attrs: { name: "runtime" } }, [
    el("option", { text: "python", attrs: { value: "python" } }),
    el("option", { text: "node", attrs: { value: "node" } }),
  ]);
  const chunkSize = numberInput("chunk_size", 10, 1);
  const slots = numberInput("max_concurrency", 4, 1);
  const price = numberInput("price_per_chunk", 1, 0);
  const attempts = el("input", { attrs: { name: "max_attempts", type: "number", min: "1", max: "100", step: "1", placeholder: "server default" } });
  const labels = el("input", { attrs: { name: "required_labels", placeholder: "gpu=true, region=eu" } });
  const ownNodes = el("input", { attrs: { type: "checkbox", name: "allow_own_nodes" } });
  ownNodes.id = "job-own-nodes";

  const taskFields = el("div", { className: "row" }, [
    field("job-task-type", "Task type", taskType, "The handler every chunk runs on the providers' workers."),
  ]);
  const codeFields = el("div", { className: "row", attrs: { hidden: "" } }, [
    field("job-code", "Code bundle (.py, .js or .zip)", code),
    field("job-runtime", "Runtime", runtime),
  ]);
  const cost = el("p", { className: "cost", attrs: { id: "job-cost", "aria-live": "polite" } });
  const error = el("div", { className: "error", attrs: { role: "alert", id: "job-error" } });
  const submit = el("button", { text: "Create job", attrs: { type: "submit" } });

  form.append(
    field("job-dataset", "Dataset (JSON array or JSONL file)", dataset, "Each item becomes one input of one chunk."),
    el("fieldset", { className: "choice" }, [
      el("legend", { text: "What runs on each chunk" }),
      el("label", { attrs: { for: workTask.id } }, [workTask, " A task type"]),
      el("label", { attrs: { for: workCode.id } }, [workCode, " My code"]),
    ]),
    taskFields,
    codeFields,
    el("div", { className: "row" }, [
      field("job-chunk-size", "Items per chunk", chunkSize),
      field("job-slots", "Slots (chunks at once)", slots),
      field("job-price", "Price per chunk (credits)", price),
      field("job-attempts", "Max attempts", attempts),
    ]),
    el("div", { className: "row" }, [
      field("job-labels", "Required capabilities (labels)", labels, "key=value pairs, comma separated; only nodes with all of them take the chunks."),
    ]),
    el("label", { className: "check", attrs: { for: ownNodes.id } }, [ownNodes, " My own nodes may take these chunks"]),
    cost,
    error,
    submit,
  );
  node.append(form);
  root.append(node);

  let available = null;
  let items = null;
  const uploaded = new Map(); // File -> artifact id: a retry after a 402 does not upload again
  // The same files and fields retried after a lost answer make one job, not two.
  const createJob = idempotentAction();

  async function refreshWallet() {
    try {
      available = (await ctx.api("GET", "/wallet")).available;
    } catch {
      available = null;
    }
    showCost();
  }

  function showCost() {
    const size = Number(chunkSize.value);
    const each = Number(price.value);
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(each) || each < 0) {
      cost.textContent = "Enter the chunk size and the price to see the cost.";
      return;
    }
    const balance = available === null ? "" : ` You have ${credits(available)} credits available.`;
    if (items === null) {
      cost.textContent = dataset.files.length
        ? `Cost: ${credits(each)} credits per chunk of ${size} items (the server counts the items).${balance}`
        : `Choose a dataset to see the cost.${balance}`;
      return;
    }
    const chunks = Math.ceil(items / size);
    const total = chunks * each;
    const short = available !== null && total > available;
    cost.textContent =
      `${credits(items)} items → ${credits(chunks)} chunks × ${credits(each)} = ` +
      `${credits(total)} credits, reserved when the job is created.${balance}` +
      (short ? ` That is ${credits(total - available)} short.` : "");
    cost.classList.toggle("short", short);
  }

  function onWork() {
    codeFields.hidden = !workCode.checked;
    taskFields.hidden = workCode.checked;
  }

  dataset.addEventListener("change", async () => {
    items = null;
    showCost();
    items = await countItems(dataset.files[0]);
    showCost();
  });
  for (const input of [chunkSize, price]) input.addEventListener("input", showCost);
  workTask.addEventListener("change", onWork);
  workCode.addEventListener("change", onWork);

  async function artifact(file, purpose) {
    if (!uploaded.has(file)) uploaded.set(file, (await uploadFile(file, purpose)).id);
    return uploaded.get(file);
  }

  function showPaymentRequired(details) {
    const d = details || {};
    error.replaceChildren(
      el("strong", { text: "Not enough credits. " }),
      `This job needs ${credits(d.required)} credits and you have ${credits(d.available)} available: ` +
        `${credits(d.shortfall)} short. Nothing was reserved. `,
      el("a", { text: "Deposit credits in your wallet", attrs: { href: "#/wallet" } }),
      ", then create the job again.",
    );
  }

  function collect() {
    const problems = [];
    const body = {};
    if (!dataset.files.length) problems.push("Choose a dataset file.");
    if (workCode.checked) {
      if (!code.files.length) problems.push("Choose a code bundle, or pick a task type instead.");
      body.runtime = runtime.value;
    } else if (!TASK_TYPE.test(taskType.value.trim())) {
      taskType.setAttribute("aria-invalid", "true");
      problems.push("Task type: letters, digits and _ . : - only, up to 100 characters.");
    } else {
      taskType.removeAttribute("aria-invalid");
      body.task_type = taskType.value.trim();
    }
    for (const [input, key, name, min] of [
      [chunkSize, "chunk_size", "Items per chunk", 1],
      [slots, "max_concurrency", "Slots", 1],
      [price, "price_per_chunk", "Price per chunk", 0],
    ]) {
      const got = positive(input, name, min);
      if (got.error) problems.push(got.error);
      else body[key] = got.value;
    }
    if (attempts.value.trim()) {
      const got = positive(attempts, "Max attempts");
      if (got.error) problems.push(got.error);
      else body.max_attempts = got.value;
    }
    const parsed = parseLabels(labels.value);
    if (!parsed.ok) problems.push(`Required capabilities: ${parsed.message}`);
    else body.required_labels = parsed.labels;
    body.allow_own_nodes = ownNodes.checked;
    return { problems, body };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.replaceChildren();
    const { problems, body } = collect();
    if (problems.length) {
      error.textContent = problems.join(" ");
      return;
    }
    submit.disabled = true;
    try {
      body.dataset_artifact_id = await artifact(dataset.files[0]);
      if (workCode.checked) body.code_artifact_id = await artifact(code.files[0], "code");
      const job = await createJob("POST", "/jobs", body);
      ctx.notify(`Created job ${job.job_id}: ${job.chunk_count} chunks.`);
      ctx.navigate(`#/jobs/${job.job_id}`);
    } catch (err) {
      if (err.status === 402) showPaymentRequired(err.details);
      else error.textContent = err.status && !err.code ? err.message : ctx.errorText(err);
      refreshWallet();
    } finally {
      submit.disabled = false;
    }
  });

  await refreshWallet();
  return () => {};
}
