"""Which rollup rows a series reads, and with which columns (the SQL, no engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaignreports.domain.windows import Granularity, Window, live_window, range_window
from campaignreports.rollups import Column, series_query

NOW = datetime(2026, 12, 3, 18, 51, tzinfo=UTC)


def _selects(*columns: Column, window: Window | None = None) -> list[str]:
    query = series_query(
        "db",
        columns,
        tenant_id="t",
        campaign_id="c",
        window=window or live_window(NOW),
        include_machine_activity=False,
    )
    inner = query.sql.split("FROM (", 1)[1]
    return inner.split("UNION ALL")


CONVERSIONS = (Column("conversions", None), Column("converters", None))


def test_a_live_series_reads_profiles_only_of_the_types_whose_profiles_it_merges() -> None:
    selects = _selects(*CONVERSIONS, Column("sent", "email"), Column("delivered", "email"))
    assert len(selects) == 2
    merged, counted = selects
    assert "type IN ('converted')" in merged and " profiles FROM" in merged
    assert "type IN ('delivered', 'sent')" in counted and "channel IN ('email')" in counted
    assert "emptyArrayUInt32()) AS profiles" in counted, "an empty state: the column is not read"


def test_a_series_is_one_read_where_a_second_would_cost_more_than_it_saves() -> None:
    assert len(_selects(Column("impressions", None), Column("unique_impressions", None))) == 1
    assert len(_selects(Column("sent", None), Column("conversions", None))) == 1
    assert "profiles" not in _selects(Column("sent", None))[0]
    assert len(_selects(*CONVERSIONS, Column("sent", None))) == 1, "one type counted"
    month = range_window(NOW - timedelta(days=30), NOW, "UTC", Granularity.DAY, now=NOW, retention_days=400)
    assert len(_selects(*CONVERSIONS, Column("sent", None), Column("delivered", None), window=month)) == 1
