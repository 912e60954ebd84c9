"""MemoryRelease: freed memory goes back to the system, on a schedule, without stopping the process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from campaignreports.clickhouse import ClickHouse
from campaignreports.memory import MemoryRelease
from campaignreports.settings import CommonSettings, load_settings


def _anonymous_kib() -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith("RssAnon:")))


def test_memory_the_embedded_engine_freed_is_returned(chdb_dsn: str) -> None:
    """After a query that needs a few hundred MiB, the engine's allocator keeps them (measured:
    514 MiB after a 10M-row groupArray) until released.

    The engine is shared with the other tests of this worker, whose rollups the engine merges in
    the background once they are quiet; a merge that allocates during the measurement holds its
    memory through the release. Merges are stopped for the measurement, and a measurement a
    running merge spoiled is taken again (at most three times)."""
    clickhouse = ClickHouse(load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn}))
    clickhouse.client.command("SYSTEM STOP MERGES")
    try:
        release = MemoryRelease(clickhouse, 0)
        measured: list[tuple[int, int]] = []
        for _ in range(3):
            release.release()
            before = _anonymous_kib()
            clickhouse.query_rows("SELECT length(groupArray(toString(number))) FROM numbers(4000000)", {})
            grown = _anonymous_kib() - before
            release.release()
            measured.append((before + grown - _anonymous_kib(), grown))
            if grown > 100 * 1024 and measured[-1][0] > grown // 2:
                break
        returned, grown = measured[-1]
        assert grown > 100 * 1024, measured
        assert returned > grown // 2, measured
        assert release.releases == 2 * len(measured)
    finally:
        clickhouse.client.command("SYSTEM START MERGES")
        clickhouse.close()


async def test_it_releases_on_its_interval_until_stopped() -> None:
    release = MemoryRelease(None, 0.05)
    await release.start()
    task = release.background()
    assert task is not None
    while release.releases < 3:  # noqa: ASYNC110 - waits for the component's own schedule
        await asyncio.sleep(0.02)
    await release.stop()
    assert task.done()
    stopped_at = release.releases
    await asyncio.sleep(0.15)
    assert release.releases == stopped_at


async def test_an_interval_of_zero_never_releases() -> None:
    release = MemoryRelease(None, 0)
    await release.start()
    assert release.background() is None
    await release.stop()
    assert release.releases == 0


def test_the_release_reads_what_holds_the_engines_memory(chdb_dsn: str) -> None:
    """After a release, the engine's memory by kind: its tracker's total, its caches and its
    allocator's heap, whose resident bytes cover what it allocated. The tracker's total is not
    bounded below: memory freed on another thread than the one that allocated it can take it
    under zero (seen: -12 MB in a test process)."""
    clickhouse = ClickHouse(load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn}))
    try:
        release = MemoryRelease(clickhouse, 0)
        assert release.engine_memory == {}
        release.release()
        memory = release.engine_memory
        assert {"tracked", "merges", "mark_cache", "allocator_allocated", "allocator_resident"} <= set(memory)
        assert 0 < memory["allocator_allocated"] <= memory["allocator_resident"]
    finally:
        clickhouse.close()
