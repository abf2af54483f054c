"""No code updates or deletes a ledger transaction or entry (the triggers refuse it
too, tested in test_ledger_store.py); this reads the source so nobody adds one."""

from __future__ import annotations

import ast
from pathlib import Path

import conveyor

APPEND_ONLY = {"ledger_transactions", "ledger_entries"}
SOURCE = Path(conveyor.__file__).parent


def _edits(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        # update(ledger_entries) / delete(ledger_entries)
        if isinstance(func, ast.Name) and func.id in {"update", "delete"}:
            names = {a.id for a in node.args if isinstance(a, ast.Name)}
            found += [f"{func.id}({n})" for n in names & APPEND_ONLY]
        # ledger_entries.update() / ledger_entries.delete()
        if (
            isinstance(func, ast.Attribute)
            and func.attr in {"update", "delete"}
            and isinstance(func.value, ast.Name)
            and func.value.id in APPEND_ONLY
        ):
            found.append(f"{func.value.id}.{func.attr}()")
    return found


def test_no_module_edits_the_ledger() -> None:
    offenders = {
        str(path.relative_to(SOURCE)): edits
        for path in SOURCE.rglob("*.py")
        if "migrations" not in path.parts and (edits := _edits(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_scan_would_see_an_edit() -> None:
    sample = "update(ledger_entries).values(amount=1)\nledger_transactions.delete()\n"
    assert sorted(_edits(ast.parse(sample))) == [
        "ledger_transactions.delete()",
        "update(ledger_entries)",
    ]


def test_no_raw_sql_edits_the_ledger() -> None:
    for path in SOURCE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text().lower()
        for table in APPEND_ONLY:
            assert f"update {table}" not in text, path
            assert f"delete from {table}" not in text, path
