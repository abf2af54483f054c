"""``report_generate`` end to end: artifacts land on the real server, attached to the task."""

from __future__ import annotations

import csv
import io

import pytest

from conveyor.handlers import build_handlers
from conveyor.worker.context import HandlerError
from tests.handlers.conftest import NodeSide, make_run

PARAMS = {
    "title": "Sales <script>alert(1)</script>",
    "columns": ["region", "amount", "note"],
    "rows": [
        ["north", 10, '=HYPERLINK("http://evil")'],
        {"region": "south & east", "amount": 2.5, "note": "<b>bold</b>"},
    ],
}


async def test_builds_csv_and_html_artifacts(report_side: NodeSide) -> None:
    run = report_side.run("report_generate")
    result = await build_handlers()["report_generate"](PARAMS, run.ctx)
    assert result["rows"] == 2
    assert set(result["artifacts"]) == {"csv", "html"}
    assert run.progress[-1]["percent"] == 100

    artifacts = report_side.artifacts
    csv_ref = await artifacts.info(result["artifacts"]["csv"])
    assert csv_ref.name == "Sales-script-alert-1-script.csv"
    assert csv_ref.content_type.startswith("text/csv")
    rows = list(csv.reader(io.StringIO((await artifacts.download(csv_ref.id)).decode())))
    assert rows[0] == ["region", "amount", "note"]
    assert rows[1] == ["north", "10", '\'=HYPERLINK("http://evil")']
    assert rows[2] == ["south & east", "2.5", "<b>bold</b>"]

    page = (await artifacts.download(result["artifacts"]["html"])).decode()
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<td>south &amp; east</td>" in page

    # The task's owner reads the artifacts too: they are attached to the task.
    owner = await report_side.api.http.get(f"/artifacts/{csv_ref.id}", headers=report_side.owner)
    assert owner.status_code == 200 and owner.json()["task_id"] == report_side.task_id


async def test_only_the_formats_asked_for(report_side: NodeSide) -> None:
    params = {**PARAMS, "format": ["html"]}
    result = await build_handlers()["report_generate"](params, report_side.run("x").ctx)
    assert set(result["artifacts"]) == {"html"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**PARAMS, "rows": [["only one cell"]]}, "row 0 has 1 cells"),
        ({**PARAMS, "columns": []}, "columns"),
        ({**PARAMS, "format": ["pdf"]}, "format.0"),
        ({"columns": ["a"], "rows": []}, "title"),
    ],
)
async def test_bad_params(params: dict[str, object], field: str) -> None:
    with pytest.raises(HandlerError) as caught:
        await build_handlers()["report_generate"](params, make_run("report_generate").ctx)
    assert caught.value.code == "invalid_params" and not caught.value.retryable
    assert field in caught.value.message
