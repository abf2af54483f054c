"""deploy/grafana/conveyor.json: well formed, and built on metrics a real server exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.observability.scrape import scrape
from tests.server import Api

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "conveyor.json"
# Every metric of ours or of prometheus_client's process collector.
METRIC = re.compile(r"\b((?:conveyor|process|python)_[a-z0-9_]+)\b")


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _queries(dashboard: dict[str, Any]) -> list[str]:
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["query"]["query"])
    return queries


def test_the_dashboard_is_well_formed() -> None:
    dashboard = _dashboard()
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "task_type"} <= variables
    for panel in panels:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
    for query in _queries(dashboard):
        assert query.count("(") == query.count(")"), query
        assert query.count("{") == query.count("}"), query
        assert METRIC.search(query), f"no metric in {query!r}"


async def test_every_query_names_a_metric_the_server_exports(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("grafana")
    _, node = await api.new_node(admin, node_id="g1", task_types=["noop"])
    await api.submit(user)
    (held,) = (await api.claim(node))["tasks"]
    finish = {"task_id": held["task_id"], "version": held["version"], "status": "completed"}
    await api.claim(node, max_tasks=0, finishes=[finish])
    exported = (await scrape(api.base_url)).names
    used = {name for query in _queries(_dashboard()) for name in METRIC.findall(query)}
    assert "conveyor_tasks_backlog" in used and "conveyor_oldest_pending_task_age_seconds" in used
    missing = sorted(used - exported)
    assert not missing, f"the dashboard queries metrics /metrics does not have: {missing}"
