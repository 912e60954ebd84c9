"""Which rollup a window is read from (the SQL is checked against ClickHouse elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaignreports.domain.windows import Granularity, live_window, range_window
from campaignreports.rollups import Column, breakdown_query, level_for, series_query

NOW = datetime(2026, 11, 30, 12, 34, 56, tzinfo=UTC)
COLUMNS = [Column("sent", "email"), Column("distinct_opens", "email")]


def _range(zone: str, days: int, granularity: Granularity = Granularity.DAY):
    return range_window(NOW - timedelta(days=days), NOW, zone, granularity, now=NOW, retention_days=400)


@pytest.mark.parametrize(
    ("zone", "granularity", "series_table", "totals_table"),
    [
        ("UTC", Granularity.DAY, "rollup_day", "rollup_day"),
        ("UTC", Granularity.HOUR, "rollup_hour", "rollup_hour"),
        ("Europe/Paris", Granularity.DAY, "rollup_hour", "rollup_hour"),
        ("Asia/Kolkata", Granularity.MONTH, "rollup_15m", "rollup_15m"),
        ("Asia/Kathmandu", Granularity.DAY, "rollup_15m", "rollup_15m"),
    ],
)
def test_a_range_is_read_from_the_coarsest_rollup_inside_its_buckets(
    zone: str, granularity: Granularity, series_table: str, totals_table: str
) -> None:
    window = _range(zone, 30, granularity)
    assert level_for(window, per_bucket=True).table == series_table
    assert level_for(window, per_bucket=False).table == totals_table
    series = series_query(
        "db", COLUMNS, tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert f"FROM db.{series_table}" in series.sql
    for level in (level_for(window, per_bucket=True), level_for(window, per_bucket=False)):
        assert all(start % level.seconds == 0 for start in window.bucket_seconds)


def test_the_live_window_is_read_from_minutes() -> None:
    window = live_window(NOW)
    assert level_for(window, per_bucket=True).table == "rollup_minute"
    assert level_for(window, per_bucket=False).table == "rollup_minute"


def test_bitmaps_are_read_only_for_distinct_metrics() -> None:
    window = _range("UTC", 30)
    both = breakdown_query(
        "db", COLUMNS, [], tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    counts = breakdown_query(
        "db", COLUMNS[:1], [], tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert "profiles" in both.sql
    assert "profiles" not in counts.sql
