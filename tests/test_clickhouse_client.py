"""ClickHouse clients: the report reads' client runs with its own session settings, on the same
engine as the writer's, and runs as many reads at once as it holds clients."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from campaignreports.clickhouse import EMBEDDED_SETTINGS, READER_SETTINGS, ClickHouse
from campaignreports.settings import CommonSettings, load_settings


def _setting(clickhouse: ClickHouse, name: str) -> int:
    rows = clickhouse.query_rows("SELECT toUInt8(getSetting({name:String}))", {"name": name})
    return int(rows[0][0])


def test_the_reads_client_skips_compiling_aggregations_and_sees_the_writers_rows(chdb_dsn: str) -> None:
    settings = load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn})
    writer, reader = ClickHouse(settings), ClickHouse(settings, reads=True)
    name = f"client_{uuid.uuid4().hex[:8]}"
    table = f"default.{name}"
    writer.database = "default"
    try:
        for setting, value in READER_SETTINGS.items():
            assert _setting(reader, setting) == value, setting
            # The writer keeps the engine's default (compiling on), which READER_SETTINGS turns off.
            assert _setting(writer, setting) != value, setting
        writer.client.command(f"CREATE TABLE {table} (n UInt64) ENGINE = MergeTree ORDER BY n")
        writer.insert(name, [[1], [2]], ["n"])
        assert reader.query_rows(f"SELECT sum(n) FROM {table}", {})[0][0] == 3
    finally:
        writer.client.command(f"DROP TABLE IF EXISTS {table}")
        writer.close()
        reader.close()


def _cached_conditions(clickhouse: ClickHouse) -> int:
    return int(clickhouse.query_rows("SELECT count() FROM system.query_condition_cache", {})[0][0])


def test_the_embedded_engines_clients_leave_the_query_condition_cache_empty(chdb_dsn: str) -> None:
    """Every client of the embedded engine runs with EMBEDDED_SETTINGS, so filtered reads, the
    writer's or the report reads', add nothing to the query condition cache (it made no read
    faster and held memory); the same read asking for the cache does add an entry."""
    settings = load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn})
    writer, reader = ClickHouse(settings), ClickHouse(settings, reads=True)
    table = f"default.conditions_{uuid.uuid4().hex[:8]}"
    try:
        for setting, value in EMBEDDED_SETTINGS.items():
            assert _setting(reader, setting) == value, setting
            assert _setting(writer, setting) == value, setting
        writer.client.command(
            f"CREATE TABLE {table} (n UInt64, s String) ENGINE = MergeTree ORDER BY n "
            "SETTINGS index_granularity = 128"
        )
        writer.client.command(f"INSERT INTO {table} SELECT number, toString(number) FROM numbers(100000)")
        before = _cached_conditions(reader)
        for client in (writer, reader):
            assert client.query_rows(f"SELECT count() FROM {table} WHERE s = '77'", {})[0][0] == 1
        assert _cached_conditions(reader) == before
        cached = reader.client.query(
            f"SELECT count() FROM {table} WHERE s = '78'", settings={"use_query_condition_cache": 1}
        )
        assert cached.result_rows[0][0] == 1
        assert _cached_conditions(reader) == before + 1
    finally:
        writer.client.command(f"DROP TABLE IF EXISTS {table}")
        writer.close()
        reader.close()


def _most_at_once(reader: ClickHouse, watcher: ClickHouse, marker: str) -> int:
    """How many of three reads (each a second's sleep) the reader ran at once, as the engine's
    list of running queries showed them."""
    read = f"SELECT sleep(1), '{marker}'"
    with ThreadPoolExecutor(3) as pool:
        reads = [pool.submit(reader.query_rows, read, {}) for _ in range(3)]
        most = 0
        while not all(future.done() for future in reads):
            running = watcher.query_rows(
                "SELECT count() FROM system.processes WHERE query LIKE {read:String} "
                "AND query NOT LIKE '%system.processes%'",
                {"read": f"%'{marker}'%"},
            )
            most = max(most, int(running[0][0]))
            time.sleep(0.05)
        for future in reads:
            future.result()
    return most


def test_the_reads_client_runs_as_many_reads_at_once_as_it_has_clients(chdb_dsn: str) -> None:
    settings = load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn})
    watcher = ClickHouse(settings)
    readers = [ClickHouse(settings, reads=True, clients=n) for n in (1, 2)]
    try:
        assert [_most_at_once(reader, watcher, uuid.uuid4().hex) for reader in readers] == [1, 2]
    finally:
        for clickhouse in [watcher, *readers]:
            clickhouse.close()
