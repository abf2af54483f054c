// Conveyor dashboard: plain DOM code in ES modules, no framework, no build step.
// Signing in and out, the header's navigation, and handing the page to the router.

import { $, notify, show } from "./dom.js";
import { startFirehose, stopFirehose } from "./firehose.js";
import { startRouter, stopRouter } from "./router.js";
import {
  api,
  clearSession,
  errorText,
  hasSession,
  isAdmin,
  onSessionExpired,
  refreshToken,
  rememberUser,
  role,
  saveTokens,
  username,
} from "./session.js";

function signOut(message) {
  clearSession();
  stopFirehose();
  // Unmounting drops the views' data and drafts: the next person at this tab sees none.
  stopRouter();
  show($("app-view"), false);
  show($("session"), false);
  show($("nav"), false);
  show($("login-view"), true);
  notify(message);
  $("login-username").focus();
}

function enterApp() {
  notify("");
  const admin = isAdmin();
  $("whoami").textContent = username();
  $("whorole").textContent = role();
  for (const item of $("nav").querySelectorAll("[data-admin]")) show(item, admin);
  show($("login-view"), false);
  show($("session"), true);
  show($("nav"), true);
  show($("app-view"), true);
  if (admin) startFirehose();
  startRouter({ api, errorText, notify, role: role(), username: username(), isAdmin: admin });
}

async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  const name = $("login-username").value.trim();
  const password = $("login-password").value;
  if (!name || !password) {
    error.textContent = "Enter your username and password.";
    return;
  }
  const button = event.submitter || $("login-form").querySelector("button");
  button.disabled = true;
  try {
    saveTokens(await api("POST", "/auth/login", { username: name, password }));
    rememberUser(name);
    $("login-password").value = "";
    enterApp();
  } catch (err) {
    error.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

function onLogout() {
  const token = refreshToken();
  if (token) {
    // Revokes the refresh family server-side; signing out locally matters more.
    api("POST", "/auth/logout", { refresh_token: token }).catch(() => {});
  }
  signOut("");
}

onSessionExpired(() => signOut("Your session has expired. Please sign in again."));
$("login-form").addEventListener("submit", onLogin);
$("logout").addEventListener("click", onLogout);
if (hasSession()) enterApp();
else signOut("");
