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

// A JSON call to the API. A 401 renews the access token once and repeats the call.
export async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  const token = store.getItem(ACCESS);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  if (response.status === 401 && token && !retried) {
    // Another call may have refreshed meanwhile: then only this call is repeated.
    const renewed = store.getItem(ACCESS) !== token || (await refreshTokens());
    if (renewed) return api(method, path, body, true);
    onExpired();
  }
  const data = await readBody(response);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `Request failed (HTTP ${response.status}).`,
      error.details,
    );
  }
  return data;
}

// A file from the API (an artifact's content), as a Blob: a plain link could not
// carry the Authorization header.
export async function apiBlob(path, retried = false) {
  const token = store.getItem(ACCESS);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let response;
  try {
    response = await fetch(API + path, { headers, cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  if (response.status === 401 && token && !retried) {
    const renewed = store.getItem(ACCESS) !== token || (await refreshTokens());
    if (renewed) return apiBlob(path, true);
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
  return response.blob();
}

// An SSE URL with a fresh ticket: for one task's stream, or (taskId null) any.
export async function streamUrl(path, taskId, query = {}) {
  const body = taskId ? { task_id: taskId } : {};
  const { ticket } = await api("POST", "/auth/stream-ticket", body);
  const params = new URLSearchParams({ ...query, ticket });
  return `${API}${path}?${params.toString()}`;
}
