// Admins only: one stream of every task's status changes, shared by the views.
//
// Views subscribe while mounted. The firehose has no history, so after a drop each
// subscriber is told (onResume) to read anew what it shows.

import { $, parseEvent } from "./dom.js";
import { isAdmin, streamUrl } from "./session.js";

const MAX_BACKOFF_MS = 30000;

let source = null;
let retry = null;
let backoff = 1000;
let missed = false; // disconnected since the subscribers last loaded
let running = false;
const subscribers = new Set(); // {onChange(change), onResume()}

function setState(text) {
  const pill = $("firehose-state");
  pill.textContent = text;
  pill.dataset.state = text;
}

// Returns the function that ends the subscription.
export function subscribe(onChange, onResume = () => {}) {
  const entry = { onChange, onResume };
  subscribers.add(entry);
  return () => subscribers.delete(entry);
}

export function firehoseLive() {
  return $("firehose-state").dataset.state === "live";
}

export function startFirehose() {
  if (running) return;
  running = true;
  $("firehose-state").hidden = false;
  connect();
}

export function stopFirehose() {
  running = false;
  clearTimeout(retry);
  if (source) source.close();
  source = null;
  backoff = 1000;
  missed = false;
  setState("offline");
  $("firehose-state").hidden = true;
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
  if (!running || !isAdmin() || source) return;
  const opened = new EventSource(url);
  source = opened;
  opened.addEventListener("open", () => {
    backoff = 1000;
    setState("live");
    if (missed) {
      missed = false;
      for (const entry of [...subscribers]) entry.onResume();
    }
  });
  opened.addEventListener("status_change", (event) => {
    const change = parseEvent(event);
    if (!change || !change.task_id || !change.status) return;
    for (const entry of [...subscribers]) entry.onChange(change);
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
  if (!running || !isAdmin()) return;
  setState("reconnecting");
  missed = true;
  clearTimeout(retry);
  retry = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
}
