"""Which rollup a window is read from (the SQL is checked against ClickHouse elsewhere)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from campaignreports.domain.windows import Granularity, live_window, range_window
from campaignreports.rollups import (
    GLOBAL_TOTAL_LEVELS,
    LIVE_TOTAL_LEVELS,
    Chosen,
    Column,
    Cut,
    breakdown_query,
    cut_query,
    level_for,
    pieces,
    series_query,
    series_rows,
)

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


def _tables(window) -> list[tuple[str, float]]:
    return [(p.level.table, (p.end - p.start) / 3600) for p in pieces(window)]


@pytest.mark.parametrize(
    ("window", "tables"),
    [
        (_range("UTC", 30), ["rollup_day"]),
        # Whole days, and the finest rollup that fits at the edges (never hours and quarter hours).
        (_range("Europe/Paris", 30), ["rollup_15m", "rollup_day", "rollup_15m"]),
        (_range("Asia/Kathmandu", 30), ["rollup_15m", "rollup_day", "rollup_15m"]),
        # Live: the edges in minutes, no quarter hours (one rollup fewer to read).
        (live_window(NOW), ["rollup_minute", "rollup_hour", "rollup_minute"]),
    ],
)
def test_totals_read_each_part_of_the_window_from_the_coarsest_rollup_that_fits(window, tables) -> None:
    found = pieces(window)
    assert [p.level.table for p in found] == tables
    assert found[0].start == int(window.start.timestamp()) and found[-1].end == int(window.end.timestamp())
    assert all(a.end == b.start for a, b in itertools.pairwise(found)), "contiguous"
    assert all(p.start % p.level.seconds == 0 == p.end % p.level.seconds for p in found)
    # Coarsest: no piece holds a whole bucket of a coarser level read.
    for piece in found:
        levels = LIVE_TOTAL_LEVELS if window.is_live else GLOBAL_TOTAL_LEVELS
        for coarser in (level for level in levels if level.seconds > piece.level.seconds):
            assert -(-piece.start // coarser.seconds) * coarser.seconds + coarser.seconds > piece.end


def test_a_series_per_value_reads_its_window_whole_and_its_cut_in_pieces() -> None:
    window = _range("Asia/Kathmandu", 30)
    clicks = Column("clicks", "email")
    common = {"tenant_id": "t", "campaign_id": "c", "window": window, "include_machine_activity": False}
    cut = cut_query("db", Cut("url", clicks, 5, (clicks,)), **common)
    assert "FROM db.rollup_day" in cut.sql, "the cut ranks the links over the window's pieces"
    assert "LIMIT 5\nSETTINGS optimize_use_projections = 0" in cut.sql, "the rollup's own order"
    query = series_query("db", [clicks], chosen=Chosen("url", ("https://a", "https://b")), **common)
    parameters = query.parameters
    assert (parameters["bucketed_start"], parameters["bucketed_end"]) == (
        int(window.start.timestamp()),
        int(window.end.timestamp()),
    )
    assert "FROM db.rollup_15m" in query.sql and "rollup_day" not in query.sql
    assert parameters["chosen_url"] == ["https://a", "https://b"], "the chosen values are bound, not written"
    assert "https://a" not in query.sql


def _used(rows, start: int, end: int) -> list[tuple[int, int]]:
    """The [start, end) of each rollup bucket a series reads, from `series_rows`' conditions."""
    used = []
    for read in rows:
        step = read.level.seconds
        for number in range(start // step, (end - 1) // step + 1):
            inside = read.parent is None or number * step // read.parent.seconds in read.within
            if number not in read.cut and inside:
                used.append((max(number * step, start), min(number * step + step, end)))
    return used


@pytest.mark.parametrize(
    ("window", "tables"),
    [
        (_range("UTC", 30), ["rollup_day"]),
        (_range("UTC", 3, Granularity.HOUR), ["rollup_hour"]),
        (_range("Europe/Paris", 30), ["rollup_hour"]),
        (_range("Asia/Kathmandu", 30), ["rollup_hour", "rollup_15m"]),
        (_range("Asia/Kathmandu", 399, Granularity.MONTH), ["rollup_day", "rollup_hour", "rollup_15m"]),
        (_range("Asia/Kolkata", 60, Granularity.WEEK), ["rollup_day", "rollup_hour", "rollup_15m"]),
        (_range("America/New_York", 120, Granularity.WEEK), ["rollup_day", "rollup_hour"]),
        (live_window(NOW), ["rollup_minute"]),
    ],
)
def test_a_series_reads_each_bucket_once_from_the_coarsest_rollups_inside_it(window, tables) -> None:
    rows = series_rows(window, merging_states=True)
    assert [read.level.table for read in rows] == tables
    start, end = int(window.start.timestamp()), int(window.end.timestamp())
    used = sorted(_used(rows, start, end))
    assert used[0][0] == start and used[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(used)), "every second once, none twice"
    starts = [*window.bucket_seconds, end]
    for first, last in used:  # each rollup bucket read lies inside one window bucket
        assert any(a <= first and last <= b for a, b in itertools.pairwise(starts)), (first, last)


def test_a_series_of_counts_reads_one_rollup() -> None:
    """Counts cost little per row: a second rollup read costs more than the rows it saves."""
    window = _range("Asia/Kathmandu", 30)
    assert [r.level.table for r in series_rows(window, merging_states=False)] == ["rollup_15m"]
    common = {"tenant_id": "t", "campaign_id": "c", "window": window, "include_machine_activity": False}
    counts = series_query("db", [Column("sent", "email")], **common)
    assert "FROM db.rollup_15m" in counts.sql and "rollup_hour" not in counts.sql
    distinct = series_query("db", [Column("distinct_opens", "email")], **common)
    assert "FROM db.rollup_15m" in distinct.sql and "FROM db.rollup_hour" in distinct.sql
