"""``conveyor wallet balance | deposit | withdraw | history``."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from conveyor.cli import output
from conveyor.cli.tasks_cmd import AsJson, Server, with_client
from conveyor.client.async_client import AsyncClient
from conveyor.client.models import Payment, Wallet, WalletTransaction

app = typer.Typer(help="Credits: balances, deposits, withdrawals, history.", no_args_is_help=True)

Amount = Annotated[int, typer.Argument(min=1, help="whole credits")]
Key = Annotated[
    str | None,
    typer.Option("--key", help="Idempotency-Key: repeating the command with it moves money once"),
]
UserId = Annotated[str | None, typer.Option("--user", help="admins: another user's wallet")]


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value)


def _wallet_table(wallet: Wallet) -> Table:
    table = Table(title=f"wallet of {output.plain(wallet.user_id)}")
    for name in ("available", "reserved", "earned"):
        table.add_column(name, justify="right")
    table.add_row(str(wallet.available), str(wallet.reserved), str(wallet.earned))
    return table


def _show_payment(payment: Payment, as_json: bool) -> None:
    if as_json:
        output.emit_json(_plain(payment))
        return
    output.console.print(
        f"{output.plain(payment.direction)} of {payment.amount} credits:"
        f" [bold]{output.plain(payment.status)}[/bold]"
        f" ({output.plain(payment.provider)}, {output.plain(payment.id)})"
    )
    if payment.checkout_url:
        output.console.print(f"pay here to have it credited: {output.plain(payment.checkout_url)}")
    output.console.print(_wallet_table(payment.wallet))


@app.command("balance")
def balance(user: UserId = None, server: Server = None, as_json: AsJson = False) -> None:
    """Available, reserved and earned credits."""
    wallet = with_client(server, as_json, lambda client: client.wallet(user))
    if as_json:
        output.emit_json(_plain(wallet))
    else:
        output.console.print(_wallet_table(wallet))


@app.command("deposit")
def deposit(
    amount: Amount, key: Key = None, server: Server = None, as_json: AsJson = False
) -> None:
    """Add credits (the sandbox at once; Stripe once its checkout page is paid)."""
    _move(AsyncClient.deposit, amount, key, server, as_json)


@app.command("withdraw")
def withdraw(
    amount: Amount, key: Key = None, server: Server = None, as_json: AsJson = False
) -> None:
    """Pay credits out, earnings first; exits 9 with the shortfall when short."""
    _move(AsyncClient.withdraw, amount, key, server, as_json)


def _move(
    call: Callable[..., Awaitable[Payment]],
    amount: int,
    key: str | None,
    server: str | None,
    as_json: bool,
) -> None:
    payment = with_client(server, as_json, lambda client: call(client, amount, idempotency_key=key))
    _show_payment(payment, as_json)


@app.command("history")
def history(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    cursor: Annotated[str | None, typer.Option(help="the next page, from a previous run")] = None,
    user: UserId = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """The wallet's ledger transactions, newest first."""

    async def run(client: AsyncClient) -> tuple[list[WalletTransaction], str | None]:
        return await client.transactions(cursor=cursor, limit=limit, user_id=user)

    page, next_cursor = with_client(server, as_json, run)
    if as_json:
        output.emit_json({"transactions": [_plain(t) for t in page], "next_cursor": next_cursor})
        return
    table = Table(title="wallet history")
    for name in ("id", "when", "kind", "ref", "available", "reserved", "earned"):
        table.add_column(
            name, justify="right" if name in ("available", "reserved", "earned") else "left"
        )
    for t in page:
        when = t.created_at.strftime("%Y-%m-%d %H:%M:%S") if t.created_at else ""
        table.add_row(
            str(t.id),
            when,
            output.plain(t.kind),
            output.plain(t.ref),
            _signed(t.available),
            _signed(t.reserved),
            _signed(t.earned),
        )
    output.console.print(table)
    if next_cursor:
        output.console.print(f"more: --cursor {output.plain(next_cursor)}")


def _signed(delta: int) -> str:
    return f"{delta:+d}" if delta else ""
