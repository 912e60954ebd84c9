"""The ClickHouse schema as versioned, idempotent migrations.

`migrate` applies the migrations not yet recorded in `schema_migrations`, in order. Every
statement is itself idempotent (IF NOT EXISTS), so a migration interrupted half-way is simply
applied again.

Tables:
- `events`: raw events, the aggregator's insert target; retention by TTL.
- `rollup_minute`: per-minute counts and distinct-profile states, fed by the materialized view
  `rollup_minute_mv` on every insert into `events`; serves the live window (kept ~25 h).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "raw events and the per-minute live rollup",
        (
            """
            CREATE TABLE IF NOT EXISTS {db}.events (
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
                is_machine Bool,
                stored_at DateTime64(3, 'UTC') DEFAULT now64(3)
            )
            ENGINE = MergeTree
            PARTITION BY toYYYYMMDD(occurred_at)
            ORDER BY (tenant_id, campaign_id, occurred_at, event_id)
            TTL toDateTime(occurred_at) + INTERVAL 30 DAY
            """,
            """
            CREATE TABLE IF NOT EXISTS {db}.rollup_minute (
                tenant_id LowCardinality(String),
                campaign_id String,
                channel LowCardinality(String),
                type LowCardinality(String),
                is_machine Bool,
                bucket DateTime('UTC'),
                events SimpleAggregateFunction(sum, UInt64),
                profiles AggregateFunction(uniqExact, String)
            )
            ENGINE = AggregatingMergeTree
            PARTITION BY toYYYYMMDD(bucket)
            ORDER BY (tenant_id, campaign_id, bucket, channel, type, is_machine)
            TTL bucket + INTERVAL 25 HOUR
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_minute_mv TO {db}.rollup_minute AS
            SELECT
                tenant_id, campaign_id, channel, type, is_machine,
                toStartOfMinute(occurred_at) AS bucket,
                count() AS events,
                uniqExactState(profile_id) AS profiles
            FROM {db}.events
            GROUP BY tenant_id, campaign_id, channel, type, is_machine, bucket
            """,
        ),
    ),
)


def migrate(client: Client, database: str) -> int:
    """Bring `database` to the newest schema version; return that version."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"""
        CREATE TABLE IF NOT EXISTS {database}.schema_migrations (
            version UInt32, description String, applied_at DateTime DEFAULT now()
        ) ENGINE = MergeTree ORDER BY version
        """
    )
    applied = {
        row[0] for row in client.query(f"SELECT version FROM {database}.schema_migrations").result_rows
    }
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        log.info("applying schema migration %d: %s", migration.version, migration.description)
        for statement in migration.statements:
            client.command(statement.format(db=database))
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.description]],
            column_names=["version", "description"],
        )
    return MIGRATIONS[-1].version
