// The hash router: one view at a time inside #app-view, loaded on first use.
//
// A view is an ES module under views/ exporting `async mount(root, ctx)` and
// `unmount()`. `root` is a fresh empty element (inside <main>) that only this
// mount owns, so late answers of a view already left write into a detached
// element and not into the next view. `ctx` is
//   { params: {id?}, api, errorText, notify, navigate(hash, notice?), role, username, isAdmin }
// with role and username strings and isAdmin a boolean, fixed for the sign-in.

import { $, el } from "./dom.js";

// Literal import() calls: the browser resolves each against this file's URL.
const LOADERS = {
  tasks: () => import("./views/tasks.js"),
  task: () => import("./views/task.js"),
  ops: () => import("./views/ops.js"),
  node: () => import("./views/node.js"),
  users: () => import("./views/users.js"),
  jobs: () => import("./views/jobs.js"),
  provider: () => import("./views/provider.js"),
  wallet: () => import("./views/wallet.js"),
};

// section: the nav link marked current; admin: only admins may open it.
const ROUTES = [
  { path: /^\/tasks$/, view: "tasks", section: "tasks", title: "Tasks" },
  { path: /^\/tasks\/([^/]+)$/, view: "task", section: "tasks", title: "Task" },
  { path: /^\/ops$/, view: "ops", section: "ops", title: "Operations", admin: true },
  { path: /^\/nodes\/([^/]+)$/, view: "node", section: "ops", title: "Node", admin: true },
  { path: /^\/users$/, view: "users", section: "users", title: "Users", admin: true },
  { path: /^\/jobs$/, view: "jobs", section: "jobs", title: "Jobs" },
  { path: /^\/jobs\/([^/]+)$/, view: "jobs", section: "jobs", title: "Job" },
  { path: /^\/provider$/, view: "provider", section: "provider", title: "Provide" },
  { path: /^\/wallet$/, view: "wallet", section: "wallet", title: "Wallet" },
];
export const DEFAULT_HASH = "#/tasks";

let baseCtx = null; // null while signed out
let current = null; // the mounted view module
let generation = 0; // a later navigation makes an earlier, still loading one stale

export function match(hash) {
  const path = hash.replace(/^#/, "") || "/";
  for (const route of ROUTES) {
    const found = route.path.exec(path);
    if (!found) continue;
    let id;
    if (found[1] !== undefined) {
      try {
        id = decodeURIComponent(found[1]);
      } catch {
        return null;
      }
    }
    return { route, params: id === undefined ? {} : { id } };
  }
  return null;
}

let carried = ""; // a notice for the next view (navigate's second argument)

// Goes to a route; notice, if given, is shown on the view it lands on.
export function navigate(hash, notice = "") {
  carried = notice;
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function markNav(section) {
  for (const link of $("nav").querySelectorAll("a[data-section]")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function leave() {
  const leaving = current;
  current = null;
  if (leaving && typeof leaving.unmount === "function") {
    try {
      leaving.unmount();
    } catch (err) {
      console.error("a view failed to unmount", err);
    }
  }
}

function message(root, title, text, link = true) {
  const children = [el("h2", { text: title, attrs: { tabindex: "-1" } }), el("p", { text })];
  if (link) children.push(el("p", {}, [el("a", { text: "Go to the task list", attrs: { href: DEFAULT_HASH } })]));
  root.append(el("section", { className: "card view-message", attrs: { role: "alert" } }, children));
}

async function render() {
  if (!baseCtx) return;
  generation += 1;
  const mine = generation;
  leave();
  // A notice belongs to the view it was given in, unless it was sent along.
  baseCtx.notify(carried);
  carried = "";
  const root = el("div", { className: "view" });
  $("app-view").replaceChildren(root);
  const found = match(window.location.hash);
  if (!found) {
    markNav("");
    document.title = "Not found · Conveyor";
    message(root, "No such page", `Nothing lives at ${window.location.hash || "/"}.`);
    return;
  }
  const { route, params } = found;
  markNav(route.section);
  document.title = `${route.title} · Conveyor`;
  if (route.admin && !baseCtx.isAdmin) {
    message(root, route.title, "You need to be an admin to see this page.");
    return;
  }
  let module;
  try {
    module = await LOADERS[route.view]();
  } catch (err) {
    if (mine !== generation) return;
    console.error(`the ${route.view} view failed to load`, err);
    message(root, route.title, `This view failed to load (${route.view}). Reload the page to try again.`);
    return;
  }
  if (mine !== generation) return;
  current = module;
  try {
    await module.mount(root, { ...baseCtx, params });
  } catch (err) {
    if (mine !== generation) return;
    console.error(`the ${route.view} view failed`, err);
    root.replaceChildren();
    // An ApiError has a status and a message for people; anything else is a bug here.
    const text = err && err.status !== undefined ? baseCtx.errorText(err) : String(err);
    message(root, route.title, `This view failed: ${text}`);
  }
}

window.addEventListener("hashchange", () => render());

// Signed in: show the route in the address bar (or the default one).
export function startRouter(ctx) {
  baseCtx = { ...ctx, navigate };
  if (!match(window.location.hash) && !window.location.hash.replace(/^#\/?/, "")) {
    // replace, not assign: Back must not land on an empty address that bounces here again.
    window.history.replaceState(null, "", DEFAULT_HASH);
  }
  render();
}

export function stopRouter() {
  baseCtx = null;
  generation += 1;
  leave();
  $("app-view").replaceChildren();
}
