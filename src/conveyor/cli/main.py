"""Entry point: ``conveyor <command>``."""

from __future__ import annotations

import typer

from conveyor.cli import (
    admin_cmd,
    db,
    demo,
    jobs_cmd,
    nodes_cmd,
    serve,
    tasks_cmd,
    wallet_cmd,
    worker_cmd,
    workers_cmd,
)

app = typer.Typer(
    name="conveyor",
    help="Conveyor: a self-hostable distributed task service.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.command("worker")(worker_cmd.worker)
app.command("workers", context_settings=workers_cmd.SETTINGS)(workers_cmd.workers)
app.command("login")(tasks_cmd.login)
app.command("submit")(tasks_cmd.submit)
app.command("status")(tasks_cmd.status)
app.command("list")(tasks_cmd.list_tasks)
app.command("watch")(tasks_cmd.watch)
app.command("cancel")(tasks_cmd.cancel)
app.command("retry")(tasks_cmd.retry)
app.add_typer(nodes_cmd.app, name="nodes")
app.add_typer(admin_cmd.app, name="admin")
app.add_typer(jobs_cmd.app, name="jobs")
app.add_typer(wallet_cmd.app, name="wallet")
app.command("demo")(demo.demo)


@app.command("version")
def version() -> None:
    """Print the version."""
    from conveyor import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
