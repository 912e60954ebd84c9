"""A breakdown's counted columns read as a few maps (`MappedCounts`) equal the conditional
aggregates they replace: for every event-count, distinct-profile and amount metric of the
catalog, every channel a widget reads it for, with and without machine activity, in no currency
and in a named one, with states merged only in the dimensions each column is shown in, computed
by the engine side by side on the same rows."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

import pytest

from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.catalog import CHANNELS
from campaignreports.domain.metrics import DELAY_LEVELS, METRICS, Aggregate, Counted
from campaignreports.rollups import (
    Column,
    MappedCounts,
    counted_expression,
    currencies_expression,
)
from campaignreports.settings import CommonSettings, load_settings


def _of(*aggregates: Aggregate) -> dict[str, str]:
    """metric id -> event type, of the counted metrics of these aggregates."""
    return {
        m: d.source.event_type
        for m, d in sorted(METRICS.items())
        if isinstance(d.source, Counted) and d.source.aggregate in aggregates
    }


_EVENT_METRICS = _of(Aggregate.EVENTS)
_MAPPED_METRICS = _of(Aggregate.EVENTS, Aggregate.DISTINCT_PROFILES, Aggregate.AMOUNT)
_DIMENSIONS = ("", "recipient_domain", "url")
_CURRENCIES = ("EUR", "USD")


def _rows(generator: random.Random) -> str:
    """Rows of every channel (and none), type, machine flag and dimension, as SQL values."""
    types = sorted(set(_of(*Aggregate).values()))
    rows = []
    for channel in ("", *CHANNELS):
        for event_type in types:
            for machine in (0, 1):
                for dimension in _DIMENSIONS:
                    if generator.random() < 0.6:
                        profiles = sorted(generator.sample(range(200), generator.randrange(1, 40)))
                        delays = [generator.uniform(1, 3600) for _ in range(3)]
                        rows.append(
                            f"('{channel}', '{event_type}', {machine}, '{dimension}', "
                            f"{generator.randrange(1, 1000)}, {profiles}, {delays}, "
                            f"'{generator.choice(_CURRENCIES)}', '{generator.randrange(1, 10**6)}.123456789')"
                        )
    return ", ".join(rows)


@pytest.mark.parametrize("currency", ["", "USD"])
@pytest.mark.parametrize("include_machine_activity", [False, True])
def test_mapped_counts_equal_the_conditional_aggregates(
    chdb_dsn: str, include_machine_activity: bool, currency: str
) -> None:
    clickhouse = ClickHouse(load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn}), reads=True)
    table = f"default.mapped_{uuid.uuid4().hex[:8]}"
    generator = random.Random(7)
    columns = tuple(Column(m, channel) for m in _MAPPED_METRICS for channel in (None, *CHANNELS))
    # A delay column or two among them: read one expression each, after the maps.
    columns += tuple(Column(m, "email") for m in _of(*DELAY_LEVELS))
    needed_in = {c: sorted({"", generator.choice(_DIMENSIONS)}) for c in columns if generator.random() < 0.7}
    try:
        clickhouse.client.command(
            f"CREATE TABLE {table} (channel LowCardinality(String), type LowCardinality(String), "
            "is_machine Bool, dimension String, events UInt64, "
            "profiles AggregateFunction(groupBitmap, UInt32), "
            "engage_seconds AggregateFunction(quantilesBFloat16(0.5, 0.9), Float64), "
            "currency LowCardinality(String), amount Decimal(38, 9)) ENGINE = MergeTree ORDER BY tuple()"
        )
        clickhouse.client.command(
            f"INSERT INTO {table} SELECT c, t, m, d, e, arrayReduce('groupBitmapState', p), "
            "arrayReduce('quantilesBFloat16State(0.5, 0.9)', s), y, toDecimal128(a, 9) FROM values("
            "'c String, t String, m Bool, d String, e UInt64, p Array(UInt32), s Array(Float64), "
            f"y String, a String', {_rows(generator)})"
        )
        read = MappedCounts(columns, include_machine_activity, currency, needed_in)
        expected = [
            counted_expression(c, include_machine_activity, currency, needed_in.get(c, ())) for c in columns
        ]
        currencies = None if currency else currencies_expression(columns, include_machine_activity)
        sql = (
            f"SELECT dimension, {', '.join([*read.expressions(), *expected, *filter(None, [currencies])])} "
            f"FROM {table} GROUP BY dimension ORDER BY dimension"
        )
        found = clickhouse.query_rows(sql, {"currency": currency} if currency else {})
        assert [row[0] for row in found] == list(_DIMENSIONS)
        mapped = len(read.expressions())
        for _, *values in found:
            assert read(values[:mapped]) == values[mapped:]
        totals = dict(zip(columns, read(found[0][1 : 1 + mapped]), strict=False))
        assert all(totals[Column(m, None)] > 0 for m in _MAPPED_METRICS), "the rows reach every metric"
        amount = next(c for c in columns if METRICS[c.metric_id].source.aggregate is Aggregate.AMOUNT)  # type: ignore[union-attr]
        assert isinstance(totals[amount], Decimal) and totals[amount] % 1 != 0, "amounts stay exact"
    finally:
        clickhouse.client.command(f"DROP TABLE IF EXISTS {table}")
        clickhouse.close()


def test_a_column_of_two_different_channels_counts_nothing() -> None:
    distinct = next(iter(_of(Aggregate.DISTINCT_PROFILES)))
    counted, event_type = next(iter(_EVENT_METRICS.items()))
    one = Column(counted, None)
    # A distinct-profile metric of its own channel read for another one matches no row.
    own = next(m for m, d in METRICS.items() if isinstance(d.source, Counted) and d.source.channel)
    channel = METRICS[own].source.channel  # type: ignore[union-attr]
    other = Column(own, next(c for c in CHANNELS if c != channel))
    read = MappedCounts((one, Column(distinct, None), other), True)
    sums = {f"email/{event_type}": 3, f"sms/{event_type}": 4}
    assert read([sums, {}]) == [7, 0, 0]
