// #/users (admins): every account, with disable or enable and the role change.
// The API refuses to disable or demote the last enabled admin; its message shows.

import { $, el, formatTime, fromTemplate, show } from "../dom.js";

const PAGE = 500;

let view = null; // {ctx}

function userRow(user, self) {
  const name = el("span", { text: user.username });
  const nameCell = el("td", { className: "col-user", attrs: { "data-label": "User" } }, [name]);
  if (self) nameCell.append(el("span", { className: "muted", text: " (you)" }));
  const toggle = el("button", {
    text: user.disabled ? "Enable" : "Disable",
    className: user.disabled ? "small secondary" : "small danger",
    attrs: { type: "button", "data-action": "toggle", "aria-label": `${user.disabled ? "Enable" : "Disable"} ${user.username}` },
  });
  const nextRole = user.role === "admin" ? "user" : "admin";
  const label = `Make ${nextRole}`;
  const role = el("button", {
    text: label,
    className: "small secondary",
    // The visible words first: speech users say what they see.
    attrs: { type: "button", "data-action": "role", "data-role": nextRole, "aria-label": `${label}: ${user.username}` },
  });
  return el("tr", { attrs: { "data-user-id": user.user_id, "data-username": user.username } }, [
    nameCell,
    el("td", { className: "col-role", text: user.role, attrs: { "data-label": "Role" } }),
    el("td", { attrs: { "data-label": "State" } }, [
      el("span", { className: `status ${user.disabled ? "status-cancelled" : "status-completed"}`, text: user.disabled ? "disabled" : "enabled" }),
    ]),
    el("td", { text: formatTime(user.created_at), attrs: { "data-label": "Created" } }),
    el("td", { className: "col-actions" }, [toggle, role]),
  ]);
}

async function load(current) {
  const { users } = await current.ctx.api("GET", `/admin/users?limit=${PAGE}`);
  if (view !== current) return;
  $("users-body").replaceChildren(...users.map((u) => userRow(u, u.username === current.ctx.username)));
  show($("users-empty"), users.length === 0);
}

function refresh(current) {
  $("users-error").textContent = "";
  load(current).catch((err) => {
    if (view === current) $("users-error").textContent = current.ctx.errorText(err);
  });
}

async function onClick(current, event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("tr[data-user-id]");
  const disabled = row.querySelector(".status").textContent === "disabled";
  const body = button.dataset.action === "toggle" ? { disabled: !disabled } : { role: button.dataset.role };
  button.disabled = true;
  $("users-error").textContent = "";
  try {
    const user = await current.ctx.api("PATCH", `/admin/users/${encodeURIComponent(row.dataset.userId)}`, body);
    if (view !== current) return;
    row.replaceWith(userRow(user, user.username === current.ctx.username));
    current.ctx.notify(`${user.username} is now ${user.disabled ? "disabled" : "enabled"}, ${user.role}.`);
  } catch (err) {
    if (view !== current) return;
    $("users-error").textContent = current.ctx.errorText(err);
    button.disabled = false;
  }
}

export async function mount(root, ctx) {
  root.append(fromTemplate("tpl-users"));
  const current = { ctx };
  view = current;
  $("users-body").addEventListener("click", (event) => onClick(current, event));
  $("users-refresh").addEventListener("click", () => refresh(current));
  try {
    await load(current);
  } catch (err) {
    if (view === current) $("users-error").textContent = ctx.errorText(err);
  }
}

export function unmount() {
  view = null;
}
