// #/wallet: balances, deposit and withdraw (the sandbox credits and pays at once,
// Stripe sends the user to its checkout), and the history with cursor paging.

import { el, formatTime } from "../dom.js";
import { idempotentAction } from "../session.js";
import { cardRow, cardTable, credits, ensureStylesheet, section, signed } from "./market_util.js";

const PAGE = 20;
const COLUMNS = ["When", "What", "Reference", "Available", "Reserved", "Earned"];
const KINDS = {
  deposit: "Deposit",
  initial: "Starting credits",
  withdraw: "Withdrawal",
  reserve: "Reserved for a job",
  settle: "Chunk paid",
  release: "Released",
};

let alive = false;

// job:<id> and cancel:<id> name a job: link it. The rest are shown as they are.
function reference(ref) {
  const [kind, id] = ref.split(/:(.*)/s);
  if ((kind === "job" || kind === "cancel") && id) {
    return el("a", { text: `job ${id.slice(0, 8)}`, attrs: { href: `#/jobs/${id}`, title: ref } });
  }
  if ((kind === "chunk" || kind === "release") && id) return `chunk task ${id.slice(0, 8)}`;
  if (kind === "payment" && id) return `payment ${id.slice(0, 8)}`;
  return ref;
}

export function unmount() {
  alive = false;
}

function amountForm(id, title, button, hint) {
  const input = el("input", {
    attrs: { id: `${id}-amount`, type: "number", min: "1", step: "1", inputmode: "numeric", required: "", "aria-describedby": `${id}-hint` },
  });
  const error = el("p", { className: "error", attrs: { role: "alert", id: `${id}-error` } });
  const form = el("form", { className: "amount-form", attrs: { novalidate: "", id: `${id}-form` } }, [
    el("h3", { text: title }),
    el("label", { text: "Amount (credits)", attrs: { for: `${id}-amount` } }),
    input,
    el("small", { className: "muted", text: hint, attrs: { id: `${id}-hint` } }),
    error,
    el("button", { text: button, attrs: { type: "submit" } }),
  ]);
  return { form, input, error };
}

export async function mount(root, ctx) {
  ensureStylesheet();
  alive = true;
  const balances = section("Wallet", "wallet-balances");
  const stats = el("dl", { className: "stats big", attrs: { id: "wallet-stats" } });
  const deposit = amountForm("deposit", "Deposit", "Deposit", "Credits land in your available balance; new jobs reserve from it.");
  const withdraw = amountForm("withdraw", "Withdraw", "Withdraw", "Paid from your earnings first, then your available balance; reserved credits stay with their jobs.");
  balances.node.append(stats, el("div", { className: "grid-forms" }, [deposit.form, withdraw.form]));

  const history = section("Transactions", "wallet-history");
  const { table, body } = cardTable("Wallet transactions, newest first", COLUMNS);
  const empty = el("p", { className: "empty", attrs: { hidden: "" }, text: "No transactions yet: deposits, job reservations, chunk payments and withdrawals will be listed here." });
  const more = el("button", { className: "secondary", text: "Load older", attrs: { type: "button", hidden: "", id: "wallet-more" } });
  const error = el("p", { className: "error", attrs: { role: "alert" } });
  history.node.append(error, el("div", { className: "table-wrap" }, [table]), empty, more);
  root.append(balances.node, history.node);

  let cursor = null;

  function renderBalances(w) {
    stats.replaceChildren(
      ...[
        ["available", "Available", w.available],
        ["reserved", "Reserved for jobs", w.reserved],
        ["earned", "Earned by my nodes", w.earned],
      ].map(([key, name, value]) =>
        el("div", { attrs: { "data-stat": key } }, [el("dt", { text: name }), el("dd", { text: credits(value) })]),
      ),
    );
  }

  function row(t) {
    const tr = cardRow(
      COLUMNS,
      [formatTime(t.created_at), KINDS[t.kind] || t.kind, reference(t.ref), signed(t.available), signed(t.reserved), signed(t.earned)],
      { "data-transaction-id": String(t.transaction_id) },
    );
    // On a phone a card lists only the balances this transaction moved.
    [t.available, t.reserved, t.earned].forEach((value, i) => {
      if (!value) tr.children[3 + i].setAttribute("data-zero", "");
    });
    return tr;
  }

  async function loadPage(reset) {
    try {
      const query = reset || !cursor ? `?limit=${PAGE}` : `?limit=${PAGE}&cursor=${cursor}`;
      const page = await ctx.api("GET", `/wallet/transactions${query}`);
      if (!alive) return;
      const rows = page.transactions.map(row);
      if (reset) body.replaceChildren(...rows);
      else body.append(...rows);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      table.hidden = body.children.length === 0;
      empty.hidden = body.children.length !== 0;
      error.textContent = "";
    } catch (err) {
      error.textContent = ctx.errorText(err);
    }
  }

  async function refresh() {
    try {
      const w = await ctx.api("GET", "/wallet");
      if (alive) renderBalances(w);
    } catch (err) {
      error.textContent = ctx.errorText(err);
    }
    await loadPage(true);
  }

  function explain(err) {
    if (err.status === 402 && err.details) {
      const d = err.details;
      return `You can withdraw at most ${credits(d.available)} credits (earned plus available): ${credits(d.shortfall)} short. Reserved credits stay with their jobs.`;
    }
    if (err.code === "payments_disabled") return "Payments are not set up on this server: an operator has to configure a payment provider (docs/wallet.md).";
    if (err.code === "withdrawals_manual") return "Withdrawals are paid out by an operator on this server, not through the dashboard.";
    return ctx.errorText(err);
  }

  function bind({ form, input, error: formError }, path, verb) {
    // A click retried after a lost answer reuses the key: the server pays out once.
    const send = idempotentAction();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      formError.textContent = "";
      const amount = Number(input.value);
      if (!Number.isInteger(amount) || amount < 1) {
        input.setAttribute("aria-invalid", "true");
        formError.textContent = "Enter a whole number of credits, at least 1.";
        return;
      }
      input.removeAttribute("aria-invalid");
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const payment = await send("POST", path, { amount });
        if (payment.checkout_url) {
          window.location.assign(payment.checkout_url);
          return;
        }
        form.reset();
        renderBalances(payment.wallet);
        ctx.notify(`${verb} ${credits(amount)} credits.`);
        await loadPage(true);
      } catch (err) {
        formError.textContent = explain(err);
      } finally {
        button.disabled = false;
      }
    });
  }

  bind(deposit, "/wallet/deposit", "Deposited");
  bind(withdraw, "/wallet/withdraw", "Withdrew");
  more.addEventListener("click", () => loadPage(false));
  await refresh();
}
