"""Event counts read as one map of sums (`EventSums`) equal the conditional sums they replace,
for every event-count metric of the catalog, every channel a widget reads it for, with and
without machine activity, computed by the engine side by side on the same rows."""

from __future__ import annotations

import random
import uuid

import pytest

from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.catalog import CHANNELS
from campaignreports.domain.metrics import METRICS, Aggregate, Counted
from campaignreports.rollups import EVENT_SUMS, Column, EventSums, counted_expression
from campaignreports.settings import CommonSettings, load_settings


def _of(aggregate: Aggregate) -> dict[str, str]:
    """metric id -> event type, of the counted metrics of one aggregate."""
    return {
        m: d.source.event_type
        for m, d in sorted(METRICS.items())
        if isinstance(d.source, Counted) and d.source.aggregate is aggregate
    }


_EVENT_METRICS = _of(Aggregate.EVENTS)


@pytest.mark.parametrize("include_machine_activity", [False, True])
def test_event_sums_equal_the_conditional_sums(chdb_dsn: str, include_machine_activity: bool) -> None:
    clickhouse = ClickHouse(load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn}), reads=True)
    table = f"default.sums_{uuid.uuid4().hex[:8]}"
    columns = tuple(Column(m, channel) for m in _EVENT_METRICS for channel in (None, *CHANNELS))
    types = sorted(set(_EVENT_METRICS.values()))
    generator = random.Random(7)
    rows = [
        (channel, event_type, machine, generator.randrange(1, 1000))
        for channel in ("", *CHANNELS)
        for event_type in types
        for machine in (0, 1)
        if generator.random() < 0.8
    ]
    try:
        clickhouse.client.command(
            f"CREATE TABLE {table} (channel LowCardinality(String), type LowCardinality(String), "
            "is_machine Bool, events UInt64) ENGINE = MergeTree ORDER BY tuple()"
        )
        clickhouse.client.insert(table, rows, column_names=["channel", "type", "is_machine", "events"])
        expressions = ", ".join(counted_expression(c, include_machine_activity) for c in columns)
        read = clickhouse.query_rows(f"SELECT {EVENT_SUMS}, {expressions} FROM {table}", {})[0]
        expected = list(read[1:])
        assert EventSums(columns, include_machine_activity)([read[0]]) == expected
        assert sum(expected) > 0 and expected.count(0) < len(expected), "the rows reach the metrics"
    finally:
        clickhouse.client.command(f"DROP TABLE IF EXISTS {table}")
        clickhouse.close()


def test_the_other_columns_follow_in_order_then_the_currencies() -> None:
    counted, event_type = next(iter(_EVENT_METRICS.items()))
    opened, other = Column(counted, None), Column(next(iter(_of(Aggregate.DISTINCT_PROFILES))), None)
    sums = {f"email/{event_type}": 3, f"sms/{event_type}": 4}
    assert EventSums((other, opened, other), True)([sums, 10, 20, ["EUR"]]) == [10, 7, 20, ["EUR"]]
