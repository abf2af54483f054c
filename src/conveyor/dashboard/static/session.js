// The signed-in session and the API client.
//
// The tokens live in sessionStorage (gone with the tab) and only ever travel in an
// Authorization header. EventSource cannot send headers, so streams use a
// short-lived, single-use ticket from POST /auth/stream-ticket in their URL instead.

const API = "/api/v1";
const ACCESS = "conveyor.access_token";
const REFRESH = "conveyor.refresh_token";
const ROLE = "conveyor.role";
const USER = "conveyor.username";
const store = window.sessionStorage;

let refreshing = null;
let onExpired = () => {};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function errorText(err) {
  if (err instanceof ApiError) {
    const first = Array.isArray(err.details) && err.details[0];
    if (first && first.field && first.message) {
      return `${err.message}: ${first.field}: ${first.message}`;
    }
    return err.message;
  }
  return "The server could not be reached.";
}

export function saveTokens(body) {
  store.setItem(ACCESS, body.access_token);
  if (body.refresh_token) store.setItem(REFRESH, body.refresh_token);
  if (body.role) store.setItem(ROLE, body.role);
}

export function rememberUser(username) {
  store.setItem(USER, username);
}

export function clearSession() {
  for (const key of [ACCESS, REFRESH, ROLE, USER]) store.removeItem(key);
}

export const hasSession = () => Boolean(store.getItem(ACCESS));
export const refreshToken = () => store.getItem(REFRESH);
export const username = () => store.getItem(USER) || "";
export const role = () => store.getItem(ROLE) || "";
export const isAdmin = () => role() === "admin";

// Called when the session cannot be renewed any more.
export function onSessionExpired(callback) {
  onExpired = callback;
}

async function readBody(response) {
  if (response.status === 204) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function refreshTokens() {
  // One refresh at a time: a refresh token is single-use, so two parallel
  // refreshes would make the server revoke the whole family.
  if (refreshing) return refreshing;
  const token = store.getItem(REFRESH);
  if (!token) return Promise.resolve(false);
  refreshing = fetch(`${API}/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ refresh_token: token }),
    cache: "no-store",
    credentials: "omit",
  })
    .then(async (response) => {
      if (!response.ok) return false;
      saveTokens(await response.json());
      return true;
    })
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

// One call to the API with the session's bearer token, as the raw Response (for
// callers that need its headers or its body as a Blob). A 401 renews the access
// token once and repeats the call; an error answer is thrown as an ApiError read
// from the documented JSON error shape. `body` is sent as JSON, except a FormData
// (a multipart upload), which the browser encodes with its own Content-Type.
export function apiFetch(method, path, { body, headers = {} } = {}) {
  return send(method, path, body, headers, false);
}

async function send(method, path, body, extra, retried) {
  const headers = { Accept: "application/json", ...extra };
  const token = store.getItem(ACCESS);
  if (token) headers.Authorization = `Bearer ${token}`;
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined || form ? body : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  if (response.status === 401 && token && !retried) {
    // Another call may have refreshed meanwhile: then only this call is repeated.
    const renewed = store.getItem(ACCESS) !== token || (await refreshTokens());
    if (renewed) return send(method, path, body, extra, true);
    onExpired();
  }
  if (!response.ok) {
    const error = ((await readBody(response)) || {}).error || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `Request failed (HTTP ${response.status}).`,
      error.details,
    );
  }
  return response;
}

// A JSON call to the API; `headers` adds to the usual ones (an Idempotency-Key).
export async function api(method, path, body, headers = {}) {
  return readBody(await apiFetch(method, path, { body, headers }));
}

// A file from the API (an artifact's content), as a Blob: a plain link could not
// carry the Authorization header.
export async function apiBlob(path) {
  return (await apiFetch("GET", path)).blob();
}

// crypto.randomUUID() exists only in secure contexts; a self-hosted dashboard may
// well be served over plain HTTP on a LAN address.
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The Idempotency-Key of one user action (a deposit, a new job). A retry of the
// same request after an unknown outcome (the network failed, or a 5xx, perhaps
// after the server committed) sends the same key, so the server answers it with
// the first outcome instead of acting twice; a changed request, or any next action
// after an answer, gets a fresh key.
export function idempotentAction() {
  let pending = null;
  return async function run(method, path, body) {
    const request = JSON.stringify([method, path, body]);
    if (!pending || pending.request !== request) {
      pending = { request, key: randomKey() };
    }
    const { key } = pending;
    try {
      const answer = await api(method, path, body, { "Idempotency-Key": key });
      if (pending && pending.key === key) pending = null;
      return answer;
    } catch (err) {
      const unknown = err instanceof ApiError && (err.status === 0 || err.status >= 500);
      if (!unknown && pending && pending.key === key) pending = null;
      throw err;
    }
  };
}

// An SSE URL with a fresh ticket: for one task's stream, or (taskId null) any.
export async function streamUrl(path, taskId, query = {}) {
  const body = taskId ? { task_id: taskId } : {};
  const { ticket } = await api("POST", "/auth/stream-ticket", body);
  const params = new URLSearchParams({ ...query, ticket });
  return `${API}${path}?${params.toString()}`;
}
