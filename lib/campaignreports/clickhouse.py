"""ClickHouse access: one client factory for the embedded engine (chDB) and for servers.

DSNs: `chdb:///absolute/path` or `chdb://relative/path` select the embedded engine (one engine
path per process; aggregator and query then share the process); `http(s)://user@host:port`
selects a ClickHouse server, with the password taken from CR_CLICKHOUSE_PASSWORD so it never
appears in a DSN or a log line.

Calls block, so async code runs them through `ClickHouse.run` on worker threads. Each role
(writer, reader) gets its own client: the chDB client serialises calls per client. The report
reader holds several (`clients`), so that the reads of a tab run side by side: a tab's reads
are a few queries of 10-30 ms, each single-threaded for part of its time (analysis, the final
merge, handing the result over), so on 2 cores three clients took the 100,000-URL campaign's
live email tab from 84 to 65 ms and the 10M-event web tab from 58 to 46 ms (medians).

Bulk inserts go as Arrow tables: to a server through clickhouse-connect, to chDB through
handles of its own on the same engine, which read the table in place (`Python(...)` table
function) instead of encoding every value in Python, about twice as fast. Inserts may run side
by side (the writer's slices): each takes a handle no other insert is using.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from campaignreports.settings import CommonSettings, SettingsError

T = TypeVar("T")

# Session settings of a client that serves report reads. The engine compiles an aggregation to
# machine code the third time it sees its shape, and that call pays the compiler: ~50 ms on a
# 40 ms widget read at 10M events, with no faster reads after it (median 40.6 ms compiled,
# 40.3 ms not). Report reads come in many shapes, so the compile cost recurs; reads skip it.
READER_SETTINGS: dict[str, Any] = {"compile_aggregate_expressions": 0, "compile_expressions": 0}
# Session settings of every client of the embedded engine, under the role's. The query condition
# cache remembers, per part and filter, which granules matched: report reads were no faster with
# it (the 65 widgets live and over 30 days at 10M events, in process, interleaved: 2,632 ms in all
# with it, 2,629 without, each widget within 4 %), and it held 59 MiB of the process at rest after
# `make bench` (up to 100 MiB, its default size). A server keeps its caches in its own memory.
EMBEDDED_SETTINGS: dict[str, Any] = {"use_query_condition_cache": 0}


# What holds the engine's memory, as its `system.metrics` names it -> the name we report. The
# tracker counts what queries, merges and caches allocated; the caches are parts of it.
ENGINE_MEMORY_METRICS = {
    "MemoryTracking": "tracked",
    "MergesMutationsMemoryTracking": "merges",
    "MarkCacheBytes": "mark_cache",
    "PrimaryIndexCacheBytes": "primary_index_cache",
    "QueryConditionCacheBytes": "query_condition_cache",
    "UncompressedCacheBytes": "uncompressed_cache",
}
# The embedded engine's allocator (jemalloc) sums up its heap in one line of its statistics:
# "Allocated: N, active: N, metadata: N (...), resident: N, mapped: N, retained: N".
_JEMALLOC_TOTALS = re.compile(r"^Allocated: (\d+),.* resident: (\d+),", re.MULTILINE)


def chdb_path(dsn: str) -> str | None:
    """The data directory of a `chdb://` DSN, or None for a server DSN."""
    if not dsn.startswith("chdb://"):
        return None
    path = dsn.removeprefix("chdb://")
    if not path:
        raise SettingsError("CR_CLICKHOUSE_DSN: a chdb:// DSN needs a path, e.g. chdb:///var/lib/reports")
    return os.path.abspath(path)


def create_client(settings: CommonSettings, session: dict[str, Any] | None = None) -> Client:
    """A client of the DSN's engine with the `session` settings applied to every call."""
    path = chdb_path(settings.clickhouse_dsn)
    if path is not None:
        os.makedirs(path, exist_ok=True)
        try:
            return clickhouse_connect.get_client(
                interface="chdb", path=path, settings={**EMBEDDED_SETTINGS, **(session or {})}
            )
        except ImportError as exc:
            raise SettingsError(
                "CR_CLICKHOUSE_DSN: a chdb:// DSN needs the embedded engine, which this installation "
                "leaves out: install campaign-reports[embedded], or point the DSN at a ClickHouse server"
            ) from exc
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OSError(f"cannot open the embedded ClickHouse in {path}: {reason}") from exc
    parts = urlsplit(settings.clickhouse_dsn)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError("CR_CLICKHOUSE_DSN must be chdb://PATH or http(s)://[user@]host[:port]")
    if parts.password:
        raise SettingsError("CR_CLICKHOUSE_DSN must not contain a password: use CR_CLICKHOUSE_PASSWORD")
    return clickhouse_connect.get_client(
        interface=parts.scheme,
        host=parts.hostname,
        port=parts.port or (8443 if parts.scheme == "https" else 8123),
        username=parts.username or "default",
        password=settings.clickhouse_password,
        # Concurrent queries on one HTTP session are refused by the server.
        autogenerate_session_id=False,
        settings=session,
    )


class ClickHouse:
    """A blocking ClickHouse client used from asyncio through a worker thread; `reads` for
    the client of the report reads (`READER_SETTINGS`). `clients`: how many queries it runs at
    once (`query_rows`, `query_arrow`), each on a client of its own; other calls use `client`."""

    def __init__(self, settings: CommonSettings, *, reads: bool = False, clients: int = 1) -> None:
        if clients < 1:
            raise ValueError("a ClickHouse needs at least one client")
        self.database = settings.clickhouse_database
        session = READER_SETTINGS if reads else None
        self._clients = [create_client(settings, session) for _ in range(clients)]
        self.client = self._clients[0]
        self._free: queue.SimpleQueue[Client] = queue.SimpleQueue()
        for client in self._clients:
            self._free.put(client)
        self._chdb_path = chdb_path(settings.clickhouse_dsn)
        # The embedded engine's insert handles: those not in use, and all of them (to close).
        self._chdb_free: list[Any] = []
        self._chdb_all: list[Any] = []
        self._chdb_lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        columns: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.client.insert(f"{self.database}.{table}", rows, column_names=list(columns), settings=settings)

    def insert_arrow(self, table: str, data: pa.Table, settings: dict[str, Any]) -> None:
        """Insert an Arrow table (its column names are the table's) with insert settings."""
        if self._chdb_path is None:
            self.client.insert_arrow(f"{self.database}.{table}", data, settings=settings)
            return
        columns = ", ".join(data.column_names)
        assigned = ", ".join(f"{name} = {_quoted(value)}" for name, value in settings.items())
        with self._chdb_handle() as handle:
            # `Python(data)` names the local variable holding the table.
            handle.query(
                f"INSERT INTO {self.database}.{table} ({columns}) SETTINGS {assigned} "
                f"SELECT {columns} FROM Python(data)"
            )

    @contextlib.contextmanager
    def _chdb_handle(self) -> Iterator[Any]:
        """An insert handle of the embedded engine that no other insert is using (a new one when
        all are busy: as many exist as inserts have run at once)."""
        import chdb

        with self._chdb_lock:
            handle = self._chdb_free.pop() if self._chdb_free else None
            if handle is None:
                handle = chdb.connect(self._chdb_path)  # type: ignore[no-untyped-call]
                self._chdb_all.append(handle)
        try:
            yield handle
        finally:
            with self._chdb_lock:
                self._chdb_free.append(handle)

    @contextlib.contextmanager
    def _borrowed(self) -> Iterator[Client]:
        """A client no other query is using, waiting for one to be free."""
        client = self._free.get()
        try:
            yield client
        finally:
            self._free.put(client)

    def query_arrow(self, sql: str, parameters: dict[str, Any]) -> pa.Table:
        with self._borrowed() as client:
            return client.query_arrow(sql, parameters=parameters)

    def query_rows(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        with self._borrowed() as client:
            return client.query(sql, parameters=parameters).result_rows

    def release_memory(self) -> None:
        """Return the memory the embedded engine's allocator freed but keeps for reuse (after a
        large insert or merge, hundreds of MiB) to the system. A server manages its own."""
        if self._chdb_path is not None:
            self.client.command("SYSTEM JEMALLOC PURGE")

    def engine_memory(self) -> dict[str, int]:
        """Bytes of the engine's memory by what holds it (`ENGINE_MEMORY_METRICS`); for the
        embedded engine also its allocator's `allocated` and `resident` bytes, which tell what
        of this process's resident memory the engine accounts for."""
        rows = self.client.query(
            "SELECT metric, value FROM system.metrics WHERE metric IN {names:Array(String)}",
            parameters={"names": list(ENGINE_MEMORY_METRICS)},
        ).result_rows
        memory = {ENGINE_MEMORY_METRICS[name]: int(value) for name, value in rows}
        if self._chdb_path is not None:
            stats = self.client.query("SELECT stats FROM system.jemalloc_stats").result_rows
            totals = _JEMALLOC_TOTALS.search(str(stats[0][0])) if stats else None
            if totals is not None:
                memory["allocator_allocated"], memory["allocator_resident"] = map(int, totals.groups())
        return memory

    def close(self) -> None:
        for client in self._clients:
            client.close()
        with self._chdb_lock:
            for handle in self._chdb_all:
                handle.close()
            self._chdb_all.clear()
            self._chdb_free.clear()


def _quoted(value: object) -> str:
    """A setting's value as SQL: numbers as they are, anything else a quoted string."""
    if isinstance(value, bool | int | float):
        return str(int(value) if isinstance(value, bool) else value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
