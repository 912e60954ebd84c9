"""ClickHouse clients: the report reads' client runs with its own session settings, on the same
engine as the writer's."""

from __future__ import annotations

import uuid

from campaignreports.clickhouse import READER_SETTINGS, ClickHouse
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
