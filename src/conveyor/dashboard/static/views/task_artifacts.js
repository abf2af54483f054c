// The task page's artifacts: what was uploaded for the task, each downloadable.

import { $, el, formatTime, show } from "../dom.js";
import { apiBlob } from "../session.js";

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

async function download(page, artifact, button) {
  button.disabled = true;
  try {
    const blob = await apiBlob(`/artifacts/${encodeURIComponent(artifact.id)}/content`);
    const url = URL.createObjectURL(blob);
    const link = el("a", { attrs: { href: url, download: artifact.name } });
    document.body.append(link);
    link.click();
    link.remove();
    // The click has started the download; the object URL is not needed after it.
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    page.ctx.notify(page.ctx.errorText(err));
  } finally {
    button.disabled = false;
  }
}

function item(page, artifact) {
  const button = el("button", {
    text: "Download",
    className: "small secondary",
    attrs: { type: "button", "aria-label": `Download ${artifact.name}` },
  });
  button.addEventListener("click", () => download(page, artifact, button));
  return el("li", { attrs: { "data-artifact-id": artifact.id } }, [
    el("code", { text: artifact.name }),
    el("span", { className: "muted", text: ` ${sizeText(artifact.size)}, ${artifact.content_type}, ${formatTime(artifact.created_at)} ` }),
    button,
  ]);
}

export async function renderArtifacts(page, taskId, live) {
  const query = new URLSearchParams({ task_id: taskId });
  const { artifacts } = await page.ctx.api("GET", `/artifacts?${query.toString()}`);
  if (!live(page)) return;
  $("artifacts").replaceChildren(...artifacts.map((artifact) => item(page, artifact)));
  show($("artifacts-empty"), artifacts.length === 0);
}
