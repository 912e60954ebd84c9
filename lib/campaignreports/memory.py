"""Handing freed memory back to the system, so that a process's resident size follows its use.

Allocators keep what a process frees for their own reuse, so that its resident size stays near
its peak: the embedded ClickHouse's jemalloc holds what inserts, merges and large queries freed
(514 MiB after one 10M-row `groupArray`), glibc's malloc the message buffers freed in its arenas,
Arrow's pool the tables built for inserts. Measured after loading 3M events: 1,450 MiB resident,
732 MiB once the engine and glibc had released theirs. `MemoryRelease` releases all three every
CR_MEMORY_RELEASE_SECONDS, in a worker thread, then reads what holds the engine's memory
(`engine.memory`, by `kind`: its tracker's total, merges, caches, its allocator's heap), so that
the process's resident size can be told apart into the engine's part and the rest.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable, Iterable

import pyarrow as pa
from clickhouse_connect.driver.exceptions import ClickHouseError
from opentelemetry import metrics

from campaignreports.clickhouse import ClickHouse
from campaignreports.service import Periodic

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)` (every arena, not only the main heap's top), or None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class MemoryRelease(Periodic):
    """A component without RPCs: releases freed memory every `interval_seconds` (0: never)."""

    task_name = "memory-release"

    def __init__(
        self, clickhouse: ClickHouse | None, interval_seconds: float, meter: metrics.Meter | None = None
    ) -> None:
        super().__init__(interval_seconds)
        self._clickhouse = clickhouse
        self._engine = clickhouse  # still read after its purge failed (`release`)
        self._trim = _malloc_trim()
        self.releases = 0
        self.engine_memory: dict[str, int] = {}  # as read after the last release
        if meter is not None and clickhouse is not None:
            meter.create_observable_up_down_counter(
                "engine.memory",
                [self._observe_engine],
                unit="By",
                description="The ClickHouse engine's memory by `kind` (read after each memory release)",
            )

    def _observe_engine(self, _: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for kind, value in sorted(self.engine_memory.items()):
            yield metrics.Observation(value, {"kind": kind})

    def release(self) -> None:
        """Release once (blocking: call it from a worker thread). A failure of the engine's
        purge is logged and not retried: the process carries on without it."""
        if self._clickhouse is not None:
            try:
                self._clickhouse.release_memory()
            except ClickHouseError as exc:
                log.warning("the embedded ClickHouse did not release its memory (%s); not trying again", exc)
                self._clickhouse = None
        pa.default_memory_pool().release_unused()
        if self._trim is not None:
            self._trim()
        self.releases += 1
        if self._engine is not None:
            try:
                self.engine_memory = self._engine.engine_memory()
            except ClickHouseError as exc:  # a metric never stops the service it describes
                log.debug("the engine's memory not read (%s)", exc)

    async def tick(self) -> None:
        await asyncio.to_thread(self.release)
