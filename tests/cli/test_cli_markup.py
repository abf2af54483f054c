"""Server text reaches the terminal as written (cli/output.py ``plain``): Rich markup
in an error message, a field name or a table cell (``[/]``, ``[bold]``,
``dataset[0]``) is shown, neither interpreted nor fatal (a stray ``[/]`` made Rich
raise MarkupError). Real server, ``conveyor`` as a subprocess, both databases."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import conveyor
from tests.server import ADMIN, Api


async def _login(tmp: Path, api: Api, username: str, password: str) -> None:
    login = ["login", "--server", api.base_url, "--username", username, "--password", password]
    code, _, err = await conveyor(tmp, *login)
    assert code == 0, err


async def test_error_messages_and_their_fields_keep_their_brackets(
    api: Api, tmp_path: Path
) -> None:
    await api.user_headers("alice")
    await _login(tmp_path, api, "alice", "user-password-1")
    # The server names the unstorable item and key: dataset[0].[/] (a NUL in its value).
    data = tmp_path / "items.json"
    data.write_text(json.dumps([{"ok": 1}, {"[/]": "a\u0000b"}][::-1]))
    create = ["jobs", "create", "echo", "--chunk-size", "1", "--price", "0"]
    code, out, err = await conveyor(tmp_path, *create, "--dataset", str(data))
    assert code == 2, err
    assert err.splitlines() == [
        "error: item cannot be stored: NUL character in a string",
        "  dataset[0].[/]: NUL character in a string",
    ], err
    # --json carries the same details, for scripts.
    code, out, _ = await conveyor(tmp_path, *create, "--dataset", str(data), "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == [{"field": "dataset[0].[/]", "message": "NUL character in a string"}]

    # A message quoting what was asked for: [bold] is text, not a style.
    code, _, err = await conveyor(tmp_path, "jobs", "status", "nope[bold]x")
    assert code == 3 and err == "error: job nope[bold]x not found\n", err
    code, _, err = await conveyor(tmp_path, "submit", "echo", "--params", '{"[red]k": "\\u0000"}')
    assert code == 2 and "  params.[red]k: NUL character in a string" in err.splitlines(), err


async def test_table_cells_show_server_text_as_written(api: Api, tmp_path: Path) -> None:
    admin = await api.admin_headers()
    await api.create_node(admin, node_id="gpu-1", name="[/]gpu [bold]box", task_types=["echo"])
    await _login(tmp_path, api, *ADMIN)
    code, out, err = await conveyor(tmp_path, "nodes", "list")
    assert code == 0, err
    assert "[/]gpu [bold]box" in out, out
