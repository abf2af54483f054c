"""Entry point: ``conveyor <command>``."""

from __future__ import annotations

import typer

from conveyor.cli import db, serve

app = typer.Typer(
    name="conveyor",
    help="Conveyor: a self-hostable distributed task service.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")


@app.command("version")
def version() -> None:
    """Print the version."""
    from conveyor import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
