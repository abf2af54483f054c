"""``conveyor admin``: accounts (list, disable, enable, role, invite) through the API,
and ``reset-password``, which works on the database directly so a locked-out
operator can get back in."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from conveyor.cli import output
from conveyor.cli.server_deps import require_server
from conveyor.cli.tasks_cmd import AsJson, Server, with_client
from conveyor.client.models import User

app = typer.Typer(help="Accounts and invites (admins).", no_args_is_help=True)


def _users_table(users: list[User]) -> Table:
    table = Table("id", "username", "role", "disabled", "created")
    for user in users:
        created = user.created_at.isoformat(timespec="seconds") if user.created_at else ""
        name, role = output.plain(user.username), output.plain(user.role)
        table.add_row(output.plain(user.id), name, role, "yes" if user.disabled else "", created)
    return table


def _show(users: list[User], as_json: bool) -> None:
    if as_json:
        output.emit_json([u.raw for u in users])
    else:
        output.console.print(_users_table(users))


@app.command("users")
def users(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """List accounts, oldest first."""
    _show(with_client(server, as_json, lambda c: c.list_users(limit, offset)), as_json)


@app.command("disable")
def disable(user_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Disable an account: it cannot log in, and its tokens stop working now."""
    _show([with_client(server, as_json, lambda c: c.update_user(user_id, disabled=True))], as_json)


@app.command("enable")
def enable(user_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Enable a disabled account."""
    _show([with_client(server, as_json, lambda c: c.update_user(user_id, disabled=False))], as_json)


@app.command("role")
def role(
    user_id: str,
    new_role: Annotated[str, typer.Argument(help="user or admin")],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Change an account's role; its tokens stop working now."""
    if new_role not in ("user", "admin"):
        output.fail("the role is user or admin", output.USAGE, as_json, "invalid_input")
    _show([with_client(server, as_json, lambda c: c.update_user(user_id, role=new_role))], as_json)


@app.command("invite")
def invite(
    expires_in: Annotated[int | None, typer.Option(help="seconds the code is valid")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Create an invite code for CONVEYOR_REGISTRATION=invite (shown only now)."""
    created = with_client(server, as_json, lambda c: c.create_invite(expires_in))
    if as_json:
        output.emit_json(created)
    else:
        output.console.print(f"invite code: [bold]{output.plain(created['code'])}[/bold]")
        output.console.print(f"expires at {output.plain(created['expires_at'])}")


@app.command("reset-password")
def reset_password(
    username: str,
    password: Annotated[
        str | None,
        typer.Option(help="the new password (default: asked for)", envvar="CONVEYOR_NEW_PASSWORD"),
    ] = None,
) -> None:
    """Set an account's password in the database of CONVEYOR_DATABASE_URL (run it where
    the server runs). Every token of the account stops working."""
    require_server("admin reset-password")
    from conveyor.errors import ConveyorError
    from conveyor.security.passwords import SecretHasher
    from conveyor.services.auth import check_password
    from conveyor.settings import Settings
    from conveyor.store.database import Database
    from conveyor.store.users import get_user_by_name, update_user

    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except ConveyorError as exc:
        output.fail(exc.message, output.USAGE, False, exc.code)
    settings = Settings()
    hasher = SecretHasher(
        settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
    )

    async def run() -> bool:
        db = Database(settings.database_url)
        try:
            async with db.write() as conn:
                user = await get_user_by_name(conn, username)
                if user is None:
                    return False
                await update_user(conn, user.id, password_hash=hasher.hash(password))
                return True
        finally:
            await db.dispose()

    if not asyncio.run(run()):
        output.fail(f"no account named {username!r}", 1, False, "user_not_found")
    # Replicas trust a cached credential version for CONVEYOR_AUTH_CACHE_SECONDS.
    typer.echo(
        f"password of {username} changed; its tokens stop working within "
        f"{settings.auth_cache_seconds:g} s"
    )
