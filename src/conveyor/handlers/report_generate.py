"""``report_generate``: a table in, CSV and HTML artifacts out."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor.handlers.base import Handler, artifacts_of, parse_params, stop_if_cancelled
from conveyor.handlers.config import HandlerSettings
from conveyor.worker.context import TaskContext

MAX_ROWS = 100_000
# Spreadsheets run cells starting with these as formulas; a leading quote defuses them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | None


class ReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    columns: list[str] = Field(min_length=1, max_length=200)
    rows: list[list[Cell] | dict[str, Cell]] = Field(max_length=MAX_ROWS)
    format: list[Literal["csv", "html"]] = Field(default=["csv", "html"], min_length=1)

    @model_validator(mode="after")
    def _rows_fit_columns(self) -> ReportParams:
        width = len(self.columns)
        for index, row in enumerate(self.rows):
            if isinstance(row, list) and len(row) != width:
                raise ValueError(f"row {index} has {len(row)} cells, expected {width}")
        return self

    def table(self) -> list[list[Cell]]:
        return [
            [row.get(c) for c in self.columns] if isinstance(row, dict) else row
            for row in self.rows
        ]


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    return str(cell)


def _csv_cell(cell: Cell) -> str:
    text = _text(cell)
    return "'" + text if isinstance(cell, str) and text.startswith(_FORMULA_START) else text


def build_csv(p: ReportParams, table: list[list[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_csv_cell(c) for c in p.columns])
    writer.writerows([_csv_cell(c) for c in row] for row in table)
    return out.getvalue().encode("utf-8")


def build_html(p: ReportParams, table: list[list[Cell]]) -> bytes:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in p.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{esc(_text(c))}</td>" for c in row) + "</tr>" for row in table
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(p.title)}</title></head>\n<body>\n<h1>{esc(p.title)}</h1>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"
        f"<p>{len(table)} rows</p>\n</body></html>\n"
    )
    return page.encode("utf-8")


def file_stem(title: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", title).strip("-.")
    return stem[:80] or "report"


def make_report_generate(settings: HandlerSettings | None = None) -> Handler:
    builders = {
        "csv": (build_csv, "text/csv; charset=utf-8"),
        "html": (build_html, "text/html; charset=utf-8"),
    }

    async def report_generate(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        p = parse_params(ReportParams, params)
        artifacts = artifacts_of(ctx)
        table = p.table()
        formats = list(dict.fromkeys(p.format))
        await ctx.progress({"stage": "validated", "rows": len(table), "percent": 10})
        ids: dict[str, str] = {}
        for done, fmt in enumerate(formats, start=1):
            stop_if_cancelled(ctx)
            build, content_type = builders[fmt]
            data = build(p, table)
            name = f"{file_stem(p.title)}.{fmt}"
            ref = await artifacts.upload(name, data, content_type, task_id=ctx.task_id)
            ids[fmt] = ref.id
            percent = 10 + 90 * done // len(formats)
            await ctx.progress({"stage": f"{fmt} uploaded", "percent": percent})
        return {"artifacts": ids, "rows": len(table)}

    return report_generate
