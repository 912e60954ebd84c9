"""Which rollup rows a series reads, and with which columns (the SQL, no engine)."""

from __future__ import annotations

from datetime import UTC, datetime

from campaignreports.domain.windows import live_window
from campaignreports.rollups import Column, series_query

NOW = datetime(2026, 12, 3, 18, 51, tzinfo=UTC)


def _selects(*columns: Column) -> list[str]:
    query = series_query(
        "db", columns, tenant_id="t", campaign_id="c", window=live_window(NOW), include_machine_activity=False
    )
    inner = query.sql.split("FROM (", 1)[1]
    return inner.split("UNION ALL")


def test_a_series_reads_profiles_only_of_the_types_whose_profiles_it_merges() -> None:
    selects = _selects(Column("conversions", None), Column("converters", None), Column("sent", "email"))
    assert len(selects) == 2
    merged, counted = selects
    assert "type IN ('converted')" in merged and " profiles FROM" in merged
    assert "type IN ('sent')" in counted and "channel IN ('email')" in counted
    assert "emptyArrayUInt32()) AS profiles" in counted, "an empty state: the column is not read"


def test_a_series_of_one_kind_of_column_is_one_read() -> None:
    assert len(_selects(Column("impressions", None), Column("unique_impressions", None))) == 1
    assert len(_selects(Column("sent", None), Column("conversions", None))) == 1
    counts_only = _selects(Column("sent", None))[0]
    assert "profiles" not in counts_only
