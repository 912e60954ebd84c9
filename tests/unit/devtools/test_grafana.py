"""The Grafana dashboard: the committed JSON is what the builder makes (`make docs`), freshness
and lag come first, and there is a row per service. Its queries run against a real Prometheus
in tests/test_observability.py."""

from __future__ import annotations

import json
from pathlib import Path

from devtools import grafana
from devtools.docs import GENERATED_ELSEWHERE

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "campaign-reports.json"


def test_the_committed_dashboard_is_the_built_one() -> None:
    assert "deploy/grafana/campaign-reports.json" in GENERATED_ELSEWHERE
    assert DASHBOARD.read_text() == grafana.dashboard_json(), "run `make docs`"


def test_freshness_and_lag_first_then_a_row_per_service() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Freshness and lag", "Ingest", "Aggregator", "Query", "Processes"]
    first = [p for p in panels if p["type"] != "row"][:2]
    assert [t["expr"] for p in first for t in p["targets"]] == [
        "max by (partition) (aggregator_freshness_seconds)",
        "max by (partition) (aggregator_consumer_pending)",
    ]
    assert all(p["gridPos"]["y"] == 1 for p in first)
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"] and all(t["refId"] and t["expr"] for t in panel["targets"]), panel[
                "title"
            ]
