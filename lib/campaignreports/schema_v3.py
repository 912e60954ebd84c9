"""The schema of versions 2 and 3, frozen: what migrations 2 and 3 create, whatever the
current schema becomes. Never edit: a database of any age must upgrade the same way.

Versions 2-3 wrote through a Null table `events_incoming` whose view `events_dedup_mv` looked
up stored events to drop duplicates; `rollup_minute` and `rollup_15m` were built from raw
events, with exact `uniqExact(String)` distinct-profile states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaignreports.schema import Dialect

LIVE_ROLLUP_HOURS = 25
_RAW_COLUMNS = (
    "event_id", "tenant_id", "campaign_id", "message_id", "channel", "type", "profile_id",
    "occurred_at", "treatment_id", "reason", "bounce_category", "recipient_domain", "platform",
    "url", "interaction_type", "element_id", "is_machine",
)  # fmt: skip
_BREAKDOWN_DIMENSIONS = (
    "reason", "bounce_category", "recipient_domain", "platform", "url", "interaction_type",
    "element_id", "treatment_id",
)  # fmt: skip
_DISTINCT_PROFILE_TYPES = frozenset({"clicked", "impression", "interaction", "opened", "profile_entered"})


def _events(d: Dialect, s: str) -> str:
    return f"""
        CREATE TABLE IF NOT EXISTS {d.local("events" + s)}{d.on_cluster} (
            {RAW_COLUMN_DDL},
            round_token String,
            stored_at DateTime64(3, 'UTC') DEFAULT now64(3),
            INDEX event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 4
        )
        ENGINE = {d.engine("MergeTree", "events" + s)}
        PARTITION BY toYYYYMMDD(occurred_at)
        ORDER BY (tenant_id, campaign_id, occurred_at, event_id)
        TTL toDateTime(occurred_at) + INTERVAL {d.raw_retention_days} DAY
        {d.dedup_window}
    """


def _incoming(d: Dialect, s: str) -> str:
    return f"""
        CREATE TABLE IF NOT EXISTS {d.local("events_incoming" + s)}{d.on_cluster} (
            {RAW_COLUMN_DDL},
            round_token String
        )
        ENGINE = Null
    """


def _rollup(name: str, ttl: str) -> Callable[[Dialect, str], str]:
    def ddl(d: Dialect, s: str) -> str:
        return f"""
            CREATE TABLE IF NOT EXISTS {d.local(name + s)}{d.on_cluster} (
                tenant_id LowCardinality(String),
                campaign_id String,
                channel LowCardinality(String),
                type LowCardinality(String),
                is_machine Bool,
                dimension LowCardinality(String),
                value String,
                bucket DateTime('UTC'),
                events SimpleAggregateFunction(sum, UInt64),
                profiles AggregateFunction(uniqExact, String)
            )
            ENGINE = {d.engine("AggregatingMergeTree", name + s)}
            PARTITION BY toYYYYMMDD(bucket)
            ORDER BY (tenant_id, campaign_id, dimension, bucket, channel, type, is_machine, value)
            TTL bucket + INTERVAL {ttl.format(d=d)}
            {d.dedup_window}
        """

    return ddl


def dedup_select(d: Dialect, s: str, *, by_block_event_ids: bool = True) -> str:
    """The query of `events_dedup_mv`: the rows of an inserted block not already stored.

    The lookup of stored events is narrowed to the block's campaigns and time range (the
    primary key), and since version 3 to the block's event ids too (the bloom filter index),
    so that a block spanning weeks of a campaign does not read all of it: 2.5x faster inserts
    of such blocks at 3M stored events, the same for blocks of the last minutes."""
    incoming, events = d.local("events_incoming" + s), d.local("events" + s)
    columns = ", ".join((*_RAW_COLUMNS, "round_token"))
    by_ids = f"AND stored.event_id IN (SELECT event_id FROM {incoming})" if by_block_event_ids else ""
    return f"""
        SELECT {columns}
        FROM {incoming}
        WHERE (tenant_id, event_id) NOT IN (
            SELECT stored.tenant_id, stored.event_id FROM {events} AS stored
            WHERE (stored.tenant_id, stored.campaign_id) IN (
                    SELECT DISTINCT tenant_id, campaign_id FROM {incoming})
              {by_ids}
              AND stored.occurred_at >= (SELECT min(occurred_at) FROM {incoming})
              AND stored.occurred_at <= (SELECT max(occurred_at) FROM {incoming})
              AND stored.round_token != (SELECT any(round_token) FROM {incoming})
        )
        LIMIT 1 BY tenant_id, event_id
    """


def _dedup_view(d: Dialect, s: str) -> str:
    return f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS {d.database}.events_dedup_mv{s}{d.on_cluster}
        TO {d.local("events" + s)}
        AS {dedup_select(d, s)}
    """


def _rollup_view(name: str, bucket: str) -> Callable[[Dialect, str], str]:
    breakdowns = ", ".join(f"('{dim}', CAST({dim} AS String))" for dim in _BREAKDOWN_DIMENSIONS)
    distinct_types = ", ".join(f"'{t}'" for t in sorted(_DISTINCT_PROFILE_TYPES))

    def ddl(d: Dialect, s: str) -> str:
        return f"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS {d.database}.{name}_mv{s}{d.on_cluster}
            TO {d.local(name + s)}
            AS SELECT
                tenant_id, campaign_id, channel, type, is_machine,
                breakdown.1 AS dimension, breakdown.2 AS value,
                {bucket}(occurred_at) AS bucket,
                count() AS events,
                uniqExactStateIf(profile_id, type IN ({distinct_types})) AS profiles
            FROM {d.local("events" + s)}
            ARRAY JOIN arrayFilter(b -> b.1 = '' OR b.2 != '', [('', ''), {breakdowns}]) AS breakdown
            GROUP BY tenant_id, campaign_id, channel, type, is_machine, dimension, value, bucket
        """

    return ddl


def _distributed(name: str, sharding_key: str) -> Callable[[Dialect, str], str]:
    def ddl(d: Dialect, s: str) -> str:
        local = d.local(name + s).split(".", 1)[1]
        return f"""
            CREATE TABLE IF NOT EXISTS {d.database}.{name}{s}{d.on_cluster} AS {d.database}.{local}
            ENGINE = Distributed({d.cluster}, {d.database}, {local}, {sharding_key})
        """

    return ddl


RAW_COLUMN_DDL = """
            event_id String,
            tenant_id LowCardinality(String),
            campaign_id String,
            message_id String,
            channel LowCardinality(String),
            type LowCardinality(String),
            profile_id String,
            occurred_at DateTime64(3, 'UTC'),
            treatment_id String,
            reason String,
            bounce_category LowCardinality(String),
            recipient_domain String,
            platform LowCardinality(String),
            url String,
            interaction_type String,
            element_id String,
            is_machine Bool"""

TABLE_DDL: tuple[Callable[[Dialect, str], str], ...] = (
    _events,
    _incoming,
    _rollup("rollup_minute", f"{LIVE_ROLLUP_HOURS} HOUR"),
    _rollup("rollup_15m", "{d.global_retention_days} DAY"),
)
VIEW_DDL: tuple[Callable[[Dialect, str], str], ...] = (
    _dedup_view,
    _rollup_view("rollup_minute", "toStartOfMinute"),
    _rollup_view("rollup_15m", "toStartOfFifteenMinutes"),
)
DISTRIBUTED_DDL: tuple[Callable[[Dialect, str], str], ...] = (
    _distributed("events_incoming", "cityHash64(tenant_id, campaign_id)"),
    _distributed("events", "rand()"),
    _distributed("rollup_minute", "rand()"),
    _distributed("rollup_15m", "rand()"),
)


def schema(d: Dialect) -> list[str]:
    """Every object of version 3 (in cluster mode with its Distributed tables), views last."""
    statements = [ddl(d, "") for ddl in TABLE_DDL]
    if d.cluster:
        statements += [ddl(d, "") for ddl in DISTRIBUTED_DDL]
    return statements + [ddl(d, "") for ddl in VIEW_DDL]
