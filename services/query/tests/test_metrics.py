"""Unit tests of metric definitions and the rollup SQL builder (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from campaignreports.domain import metrics
from campaignreports.domain.catalog import WIDGETS
from campaignreports.query.engine import live_bounds
from campaignreports.rollups import counted_expression, totals_query


def test_rate_with_zero_base_is_zero_not_nan() -> None:
    assert metrics.rate("delivered", {"delivered": 0.0, "sent": 0.0}) == 0.0
    assert metrics.rate("delivered", {"delivered": 3.0, "sent": 4.0}) == 0.75
    assert metrics.rate("sent", {"sent": 4.0}) is None


def test_to_deliver_is_targeted_minus_excluded_and_is_the_error_rate_base() -> None:
    counted = {"targeted": 10.0, "excluded": 2.0, "errors": 2.0}
    assert metrics.evaluate("to_deliver", counted) == 8.0
    assert metrics.rate("errors", counted) == 0.25


def test_dependencies_include_rate_bases_and_derivation_inputs() -> None:
    assert metrics.counted_dependencies(["errors"]) == ["errors", "targeted", "excluded"]


def test_machine_activity_is_left_out_unless_included() -> None:
    assert "NOT is_machine" in counted_expression("opens", include_machine_activity=False)
    assert "is_machine" not in counted_expression("opens", include_machine_activity=True)
    assert "AND is_machine" in counted_expression("machine_opens", include_machine_activity=False)
    assert counted_expression("distinct_opens", False).startswith("uniqExactMergeIf(profiles")


def test_user_values_are_bound_never_inlined() -> None:
    hostile = "x' OR 1=1 --"
    query = totals_query(
        "db",
        ["sent"],
        tenant_id=hostile,
        campaign_id=hostile,
        channel="email",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC),
        include_machine_activity=False,
    )
    assert hostile not in query.sql
    assert query.parameters["tenant_id"] == hostile and query.parameters["campaign_id"] == hostile


def test_live_window_covers_24_hours_of_whole_minutes() -> None:
    start, end = live_bounds(datetime(2026, 11, 23, 12, 30, 45, tzinfo=UTC))
    assert start == datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
    assert end == datetime(2026, 11, 23, 12, 31, tzinfo=UTC)


def test_catalog_widgets_only_name_defined_metrics() -> None:
    for widget in WIDGETS.values():
        assert all(m in metrics.METRICS for m in widget.metric_ids)
