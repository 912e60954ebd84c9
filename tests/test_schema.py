"""The schema: migrations are idempotent, an upgraded database equals a fresh one, and the
cluster DDL is valid ClickHouse SQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from helpers import complete_event

from campaignreports import schema_v3
from campaignreports.aggregator.consumer import write
from campaignreports.aggregator.writer import Decoded, Writer
from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.windows import live_window
from campaignreports.recipients import FILTER_COLUMNS, RecipientQuery, recipients_query
from campaignreports.rollups import Column, breakdown_query, series_query
from campaignreports.schema import MIGRATIONS, ROLLUPS, Dialect, current_schema, migrate
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stream import batch
from campaignreports.v1 import event_pb2

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clickhouse(chdb_dsn: str) -> Iterator[ClickHouse]:
    client = ClickHouse(load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn}))
    yield client
    client.close()


def structure(clickhouse: ClickHouse, database: str) -> dict[str, list[tuple]]:
    """Every object of the database but the migrations table and version 3's kept tables."""
    tables = [
        (*table, sorted(settings.split(", ")))
        for *table, settings in clickhouse.query_rows(
            "SELECT name, engine, sorting_key, partition_key, "
            "extract(create_table_query, ' SETTINGS (.*)$') FROM system.tables "
            "WHERE database = {db:String} AND name != 'schema_migrations' AND NOT endsWith(name, '_v3') "
            "ORDER BY name",
            {"db": database},
        )
    ]
    columns = clickhouse.query_rows(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} "
        "AND table != 'schema_migrations' AND NOT endsWith(table, '_v3') ORDER BY table, position",
        {"db": database},
    )
    indexes = clickhouse.query_rows(
        "SELECT table, name, type_full FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND NOT endsWith(table, '_v3') ORDER BY 1, 2",
        {"db": database},
    )
    views = clickhouse.query_rows(
        "SELECT name, as_select FROM system.tables WHERE database = {db:String} "
        "AND engine = 'MaterializedView' ORDER BY name",
        {"db": database},
    )
    projections = clickhouse.query_rows(
        "SELECT table, name, sorting_key, query FROM system.projections "
        "WHERE database = {db:String} AND NOT endsWith(table, '_v3') ORDER BY 1, 2",
        {"db": database},
    )
    normalised = [(name, query.replace(f"{database}.", "")) for name, query in views]
    return {
        "tables": tables,
        "columns": columns,
        "indexes": indexes,
        "projections": projections,
        "views": normalised,
    }


def test_migrating_twice_changes_nothing(clickhouse: ClickHouse) -> None:
    dialect = Dialect(f"schema_{uuid.uuid4().hex[:8]}")
    assert migrate(clickhouse.client, dialect) == MIGRATIONS[-1].version
    before = structure(clickhouse, dialect.database)
    assert migrate(clickhouse.client, dialect) == MIGRATIONS[-1].version
    assert structure(clickhouse, dialect.database) == before
    assert {t[0] for t in before["tables"]} >= {
        "events", "profiles", "rollup_minute", "rollup_15m", "rollup_hour", "rollup_day"
    }  # fmt: skip


@pytest.mark.parametrize("version", [m.version for m in MIGRATIONS[:-1]])
def test_a_database_of_every_earlier_version_upgrades_to_the_fresh_schema(
    clickhouse: ClickHouse, version: int
) -> None:
    fresh = Dialect(f"fresh_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, fresh)
    old = Dialect(f"old_{uuid.uuid4().hex[:8]}")
    assert migrate(clickhouse.client, old, target=version) == version
    assert structure(clickhouse, old.database) != structure(clickhouse, fresh.database)
    migrate(clickhouse.client, old)
    assert structure(clickhouse, old.database) == structure(clickhouse, fresh.database)
    kept = clickhouse.query_rows(
        "SELECT name FROM system.tables WHERE database = {db:String} AND endsWith(name, '_v3') ORDER BY name",
        {"db": old.database},
    )
    assert kept == [("events_v3",), ("rollup_15m_v3",), ("rollup_minute_v3",)]


def test_a_version_2_database_gets_the_narrower_dedup_lookup(clickhouse: ClickHouse) -> None:
    fresh = Dialect(f"fresh_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, fresh, target=3)
    old = Dialect(f"old_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, old, target=3)
    clickhouse.client.command(
        f"ALTER TABLE {old.database}.events_dedup_mv MODIFY QUERY "
        f"{schema_v3.dedup_select(old, '', by_block_event_ids=False)}"
    )
    clickhouse.client.command(f"DELETE FROM {old.database}.schema_migrations WHERE version > 2")
    assert structure(clickhouse, old.database) != structure(clickhouse, fresh.database)
    migrate(clickhouse.client, old, target=3)
    assert structure(clickhouse, old.database) == structure(clickhouse, fresh.database)


def test_the_cluster_ddl_parses(clickhouse: ClickHouse) -> None:
    dialect = Dialect("reports", cluster="reports_cluster")
    statements = current_schema(dialect)
    assert all(" ON CLUSTER reports_cluster" in s for s in statements)
    assert any("ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/reports/" in s for s in statements)
    assert any("Distributed(reports_cluster, reports, events_local, cityHash64" in s for s in statements)
    for statement in statements:
        formatted = clickhouse.query_rows("SELECT formatQuery({q:String})", {"q": statement})[0][0]
        assert formatted.startswith("CREATE")
    for migration in MIGRATIONS[2:]:  # the ones after the cluster schema was created whole
        for statement in migration.statements(dialect):
            assert " ON CLUSTER reports_cluster" in statement
            clickhouse.query_rows("SELECT formatQuery({q:String})", {"q": statement})


def _rollups(clickhouse: ClickHouse, database: str) -> dict[str, list[tuple]]:
    """Every rollup's figures per (dimension, value, type): events, distinct profiles, quantiles."""
    return {
        rollup: clickhouse.query_rows(
            "SELECT dimension, value, type, sum(events), groupBitmapMerge(profiles), "
            "arrayMap(q -> ifNotFinite(q, -1), quantilesBFloat16Merge(0.5, 0.9)(engage_seconds)) "
            f"FROM {database}.{rollup} "
            "GROUP BY dimension, value, type ORDER BY dimension, value, type",
            {},
        )
        for rollup in ROLLUPS
    }


def _granules(clickhouse: ClickHouse, database: str) -> list[tuple]:
    """(table, index granularity) of every rollup table, but version 3's kept ones."""
    return clickhouse.query_rows(
        "SELECT name, extract(create_table_query, 'index_granularity = (\\d+)') FROM system.tables "
        "WHERE database = {db:String} AND name LIKE 'rollup%' AND engine != 'MaterializedView' "
        "AND NOT endsWith(name, '_v3') ORDER BY name",
        {"db": database},
    )


FINER = sorted((rollup, "1024") for rollup in ROLLUPS)


def _store(chdb_dsn: str, database: str, events: list[event_pb2.Event]) -> None:
    settings = load_settings(
        CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn, "CR_CLICKHOUSE_DATABASE": database}
    )
    clickhouse = ClickHouse(settings)
    try:
        write(Writer(clickhouse), Decoded.of(batch.from_events(events)), uuid.uuid4().hex)
    finally:
        clickhouse.close()


def _events(count: int, hours_ago: float) -> list[event_pb2.Event]:
    kinds = [("EMAIL", "SENT"), ("EMAIL", "DELIVERED"), ("EMAIL", "OPENED"), ("EMAIL", "CLICKED")]
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    events = []
    for number in range(count):
        event = complete_event(*kinds[number % len(kinds)], campaign_id="upgraded", occurred_at=at)
        event.profile_id = f"p{number // len(kinds)}"
        events.append(event)
    return events


def _version_6_with_data(clickhouse: ClickHouse, chdb_dsn: str) -> tuple[Dialect, dict[str, list[tuple]]]:
    """A version 6 database holding events of 2 hours and 40 days ago, and its rollups' figures."""
    old = Dialect(f"old_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, old, target=6)
    _store(chdb_dsn, old.database, _events(400, hours_ago=2) + _events(200, hours_ago=24 * 40))
    return old, _rollups(clickhouse, old.database)


def test_a_version_6_database_keeps_every_figure_in_the_finer_rollups_of_version_7(
    clickhouse: ClickHouse, chdb_dsn: str
) -> None:
    old, before = _version_6_with_data(clickhouse, chdb_dsn)
    assert all(before.values()), "every level holds rows"
    migrate(clickhouse.client, old)
    assert _rollups(clickhouse, old.database) == before
    assert _granules(clickhouse, old.database) == FINER, "the version 6 tables are gone"
    # The views write into the new tables: events stored after the upgrade are counted once.
    _store(chdb_dsn, old.database, _events(40, hours_ago=1))
    after = {
        (rollup, row[0], row[2]): row[3]
        for rollup, rows in _rollups(clickhouse, old.database).items()
        for row in rows
    }
    earlier = {(rollup, row[0], row[2]): row[3] for rollup, rows in before.items() for row in rows}
    assert after[("rollup_minute", "", "sent")] == earlier[("rollup_minute", "", "sent")] + 10
    assert after[("rollup_day", "", "sent")] == earlier[("rollup_day", "", "sent")] + 10


def test_version_7_completes_after_an_interruption_with_every_figure(
    clickhouse: ClickHouse, chdb_dsn: str
) -> None:
    """Interrupted after one rollup took its new table's place, before its data moved: run
    again, the upgrade moves what is left and counts nothing twice."""
    old, before = _version_6_with_data(clickhouse, chdb_dsn)
    (seven,) = [m for m in MIGRATIONS if m.version == 7]
    for statement in seven.statements(old):
        clickhouse.client.command(statement)
    clickhouse.client.command(f"EXCHANGE TABLES {old.database}.rollup_15m AND {old.database}.rollup_15m_v6")
    migrate(clickhouse.client, old)
    assert _rollups(clickhouse, old.database) == before
    assert _granules(clickhouse, old.database) == FINER


def _recipients(clickhouse: ClickHouse, database: str) -> tuple[list[tuple], list[tuple], str]:
    """The clickers of the upgraded campaign, narrowed by every filter: the page with all
    filters, the page without them, and the plan of the first."""
    now = datetime.now(UTC)
    filters = tuple((column, f"{column}-1") for column in FILTER_COLUMNS)
    pages, plan = [], ""
    for narrowing in (filters, ()):
        query = recipients_query(
            database,
            RecipientQuery(
                "acme", "upgraded", "clicked", "email", now - timedelta(days=3), now, narrowing, False, 50
            ),
        )
        pages.append(clickhouse.query_rows(query.sql, query.parameters))
        plan = plan or "\n".join(
            row[0] for row in clickhouse.query_rows("EXPLAIN " + query.sql, query.parameters)
        )
    return pages[0], pages[1], plan


def _until_mutations_done(clickhouse: ClickHouse, database: str) -> None:
    deadline = time.monotonic() + 30
    while clickhouse.query_rows(
        "SELECT count() FROM system.mutations WHERE database = {db:String} AND NOT is_done", {"db": database}
    )[0][0]:
        assert time.monotonic() < deadline, "the projection is still being built"
        time.sleep(0.1)


def test_version_8_narrows_the_projection_by_profile_and_recipients_still_read_it(
    clickhouse: ClickHouse,
) -> None:
    old = Dialect(f"old_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, old, target=7)
    # Enough rows for the projection to be the cheaper read; every filter's value on a third.
    filters = ", ".join(f"concat('{column}-', toString(number % 3))" for column in FILTER_COLUMNS)
    clickhouse.client.command(
        f"INSERT INTO {old.database}.events (event_id, tenant_id, campaign_id, channel, type, profile_id, "
        f"occurred_at, {', '.join(FILTER_COLUMNS)}) "
        "SELECT toString(number), 'acme', 'upgraded', 'email', ['sent', 'clicked'][number % 2 + 1], "
        f"concat('p', toString(number % 5000)), now64(3) - toIntervalSecond(number), {filters} "
        "FROM numbers(100000)"
    )
    narrowed, whole, plan = _recipients(clickhouse, old.database)
    assert len(narrowed) == 51 and len(whole) == 51, "a page of 50 and one more"
    assert narrowed != whole
    assert "ReadFromMergeTree (by_profile)" in plan
    migrate(clickhouse.client, old)
    _until_mutations_done(clickhouse, old.database)  # the projection, built again
    after = _recipients(clickhouse, old.database)
    assert after[:2] == (narrowed, whole)
    assert "ReadFromMergeTree (by_profile)" in after[2]
    (query,) = clickhouse.query_rows(
        "SELECT query FROM system.projections WHERE database = {db:String} AND table = 'events'",
        {"db": old.database},
    )
    assert "event_id" not in query[0] and "profile_id" in query[0]


def _parts(clickhouse: ClickHouse, database: str) -> dict[tuple[str, str], int]:
    """Active parts of each rollup partition."""
    rows = clickhouse.query_rows(
        "SELECT table, partition, count() FROM system.parts WHERE database = {db:String} AND active "
        "AND table LIKE 'rollup%' GROUP BY table, partition",
        {"db": database},
    )
    return {(table, partition): parts for table, partition, parts in rows}


def test_version_9_merges_each_quiet_rollup_partition_into_one_part(
    clickhouse: ClickHouse, chdb_dsn: str
) -> None:
    """Background merges leave a large and a small part side by side; once a partition has been
    left alone for `quiet_merge_seconds`, version 9 makes it one part, every figure unchanged."""
    old = Dialect(f"old_{uuid.uuid4().hex[:8]}", quiet_merge_seconds=1)
    migrate(clickhouse.client, old, target=8)
    _store(chdb_dsn, old.database, _events(4000, hours_ago=2) + _events(2000, hours_ago=24 * 40))
    _store(chdb_dsn, old.database, _events(4, hours_ago=2) + _events(4, hours_ago=24 * 40))
    before = _rollups(clickhouse, old.database)
    parts = _parts(clickhouse, old.database)
    assert len(parts) == 7 and set(parts.values()) == {2}, parts  # two months, one minute partition
    migrate(clickhouse.client, old)
    deadline = time.monotonic() + 30
    while set(_parts(clickhouse, old.database).values()) != {1}:
        assert time.monotonic() < deadline, _parts(clickhouse, old.database)
        time.sleep(0.2)
    assert _rollups(clickhouse, old.database) == before


def _raw_parts_after_merging(clickhouse: ClickHouse, database: str) -> list[int]:
    """Bytes of each raw part once three parts of over half a MiB each are stored and merged as
    far as the table's settings let the engine."""
    for block in range(3):
        clickhouse.client.command(
            f"INSERT INTO {database}.events (event_id, tenant_id, campaign_id, channel, type, profile_id, "
            "occurred_at) SELECT toString(generateUUIDv4()), 'acme', 'capped', 'email', 'sent', "
            f"toString(generateUUIDv4()), now64(3) - toIntervalSecond(number) FROM numbers({block}, 40000)"
        )
    parameters = {"db": database}
    sizes = (
        "SELECT bytes_on_disk FROM system.parts WHERE database = {db:String} AND table = 'events' AND active"
    )
    assert all(size > 512 * 1024 for (size,) in clickhouse.query_rows(sizes, parameters))
    clickhouse.client.command(f"OPTIMIZE TABLE {database}.events")
    return [size for (size,) in clickhouse.query_rows(sizes, parameters)]


def test_version_11_merges_raw_parts_only_up_to_the_cap(clickhouse: ClickHouse) -> None:
    """Two parts of over half a MiB each make more than a cap of 1 MiB: no merge joins them,
    where without a cap the same three parts become one. Both merge every column in one pass."""
    capped = Dialect(f"old_{uuid.uuid4().hex[:8]}", raw_part_mib=1)
    migrate(clickhouse.client, capped, target=10)
    migrate(clickhouse.client, capped)
    assert len(_raw_parts_after_merging(clickhouse, capped.database)) == 3
    uncapped = Dialect(f"fresh_{uuid.uuid4().hex[:8]}", raw_part_mib=0)
    migrate(clickhouse.client, uncapped)
    assert len(_raw_parts_after_merging(clickhouse, uncapped.database)) == 1
    for database in (capped.database, uncapped.database):  # either way merged in one pass
        (create,) = clickhouse.query_rows(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = 'events'",
            {"db": database},
        )
        assert "enable_vertical_merge_algorithm = 0" in create[0]


def _table_settings(clickhouse: ClickHouse, database: str) -> dict[str, str]:
    return dict(
        clickhouse.query_rows(
            "SELECT name, extract(create_table_query, ' SETTINGS (.*)$') FROM system.tables "
            "WHERE database = {db:String} AND engine LIKE '%MergeTree'",
            {"db": database},
        )
    )


def test_version_12_widens_the_rollups_merges_only(clickhouse: ClickHouse) -> None:
    """A version 11 database's four rollups merge more parts at once after the migration; the
    raw and profiles tables keep the engine's merges."""
    dialect = Dialect(f"old_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, dialect, target=11)
    assert not any("merge_selector_base" in s for s in _table_settings(clickhouse, dialect.database).values())
    migrate(clickhouse.client, dialect)
    after = _table_settings(clickhouse, dialect.database)
    widened = {name for name, settings in after.items() if "merge_selector_base = 10" in settings}
    assert widened == set(ROLLUPS)


def _timed_rows(clickhouse: ClickHouse, database: str, campaign: str) -> dict[str, set[tuple[str, str]]]:
    """Rollup -> the (dimension, type) of a campaign's rows that hold a time-to-engage state."""
    timed = {}
    for rollup in ROLLUPS:
        rows = clickhouse.query_rows(
            "SELECT dimension, type, quantilesBFloat16Merge(0.5, 0.9)(engage_seconds)[1] "
            f"FROM {database}.{rollup} WHERE campaign_id = {{campaign:String}} GROUP BY dimension, type",
            {"campaign": campaign},
        )
        timed[rollup] = {
            (dimension, type_) for dimension, type_, median in rows if median == median
        }  # not NaN
    return timed


def test_version_13_keeps_time_to_engage_in_the_totals_rows_only(
    clickhouse: ClickHouse, chdb_dsn: str
) -> None:
    """Before version 13 every breakdown row held its own time-to-engage state; after it, what the
    views write holds them in the totals' rows only, and every figure already stored stays."""
    old = Dialect(f"old_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, old, target=12)
    _store(chdb_dsn, old.database, _events(400, hours_ago=2))
    before = _rollups(clickhouse, old.database)
    totals = {("", "opened"), ("", "clicked")}
    for timed in _timed_rows(clickhouse, old.database, "upgraded").values():
        assert timed > totals | {("recipient_domain", "opened")}
    migrate(clickhouse.client, old)
    assert _rollups(clickhouse, old.database) == before
    later = _events(400, hours_ago=1)
    for event in later:
        event.campaign_id = "later"
    _store(chdb_dsn, old.database, later)
    assert _timed_rows(clickhouse, old.database, "later") == {rollup: totals for rollup in ROLLUPS}


def _plan(clickhouse: ClickHouse, sql: str, parameters: dict) -> str:
    return "\n".join(row[0] for row in clickhouse.query_rows("EXPLAIN " + sql, parameters))


def test_a_series_reads_the_rollups_by_type_and_a_breakdown_their_own_order(
    clickhouse: ClickHouse, chdb_dsn: str
) -> None:
    """Version 10's projection holds the same rows by channel and type: a series of one type
    reads it, with the figures of the rollup's own order; a breakdown keeps the own order."""
    dialect = Dialect(f"fresh_{uuid.uuid4().hex[:8]}")
    migrate(clickhouse.client, dialect)
    now = datetime.now(UTC)
    events = _events(8000, hours_ago=2)
    for number, event in enumerate(events):  # a type's rows of 1,000 minutes: a granule of several
        event.occurred_at.FromDatetime(now - timedelta(minutes=2 + number // 4 % 1000))
    _store(chdb_dsn, dialect.database, events)
    common = {"tenant_id": "acme", "campaign_id": "upgraded", "window": live_window(now)}
    columns = [Column("clicks", "email"), Column("distinct_clicks", "email")]
    series = series_query(dialect.database, columns, include_machine_activity=False, **common)
    assert "ReadFromMergeTree (by_type)" in _plan(clickhouse, series.sql, series.parameters)
    figures = clickhouse.query_rows(series.sql, series.parameters)
    assert sum(row[1] for row in figures) == 2000 and sum(row[2] for row in figures) == 2000
    own_order = series.sql + "\nSETTINGS optimize_use_projections = 0"
    assert "(by_type)" not in _plan(clickhouse, own_order, series.parameters)
    assert clickhouse.query_rows(own_order, series.parameters) == figures
    breakdown = breakdown_query(dialect.database, columns, ["url"], include_machine_activity=False, **common)
    assert "(by_type)" not in _plan(clickhouse, breakdown.sql, breakdown.parameters)
