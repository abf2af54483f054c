"""The ``conveyor`` command: one Typer module per command group."""
