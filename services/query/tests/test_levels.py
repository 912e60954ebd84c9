"""Which rollup rows a window is read from (the SQL is checked against ClickHouse elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaignreports.domain.windows import Granularity, live_window, range_window
from campaignreports.rollups import Column, breakdown_query, series_query

NOW = datetime(2026, 11, 30, 12, 34, 56, tzinfo=UTC)
COLUMNS = [Column("sent", "email"), Column("distinct_opens", "email")]


def _range(zone: str, days: int, granularity: Granularity = Granularity.DAY):
    return range_window(NOW - timedelta(days=days), NOW, zone, granularity, now=NOW, retention_days=400)


def _tables(sql: str) -> set[str]:
    return {
        name for name in ("rollup_day", "rollup_hour", "rollup_15m", "rollup_minute") if f"db.{name}" in sql
    }


def test_thirty_utc_days_are_thirty_day_rows() -> None:
    window = _range("UTC", 30)
    query = breakdown_query(
        "db", COLUMNS, ["url"], tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert _tables(query.sql) == {"rollup_day"}
    assert len(query.parameters["buckets_86400"]) == len(window.bucket_seconds)
    series = series_query(
        "db", COLUMNS, tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert _tables(series.sql) == {"rollup_day"}


def test_days_cut_at_quarter_hours_read_hours_and_quarter_hours() -> None:
    window = _range("Asia/Kathmandu", 30)
    series = series_query(
        "db", COLUMNS, tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert _tables(series.sql) == {"rollup_hour", "rollup_15m"}
    days = len(window.bucket_seconds)
    assert (len(series.parameters["buckets_3600"]), len(series.parameters["buckets_900"])) == (
        23 * days,
        4 * days,
    )
    # The whole window at once (KPIs, breakdowns) takes whole UTC days in its middle.
    totals = breakdown_query(
        "db", COLUMNS, [], tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert len(totals.parameters["buckets_86400"]) == days - 1


def test_the_live_window_reads_minutes_only_at_its_edges() -> None:
    window = live_window(NOW)
    totals = breakdown_query(
        "db", COLUMNS, [], tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert _tables(totals.sql) == {"rollup_hour", "rollup_15m", "rollup_minute"}
    assert len(totals.parameters["buckets_60"]) < 30
    series = series_query(
        "db", COLUMNS, tenant_id="t", campaign_id="c", window=window, include_machine_activity=False
    )
    assert _tables(series.sql) == {"rollup_minute"}
    assert len(series.parameters["buckets_60"]) == len(window.bucket_seconds)
