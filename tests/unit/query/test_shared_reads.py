"""SharedReads: one read for every concurrent caller of a key, reused briefly, never a failure."""

from __future__ import annotations

import asyncio

import pytest

from campaignreports.query.shared_reads import SharedReads

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingRead:
    """A read that takes a moment and counts how often it ran."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(0.05)
        if self.fail:
            raise ValueError("storage refused")
        return self.calls


async def test_concurrent_callers_of_one_key_share_one_read() -> None:
    shared: SharedReads[int] = SharedReads(0.25, Clock())
    read = CountingRead()
    results = await asyncio.gather(*(shared.get("tab", read) for _ in range(50)))
    assert results == [1] * 50
    assert read.calls == 1


async def test_different_keys_read_separately() -> None:
    shared: SharedReads[int] = SharedReads(0.25, Clock())
    reads = {key: CountingRead() for key in ("a", "b")}
    await asyncio.gather(*(shared.get(key, reads[key]) for key in ("a", "b", "a", "b")))
    assert [r.calls for r in reads.values()] == [1, 1]


async def test_a_finished_read_is_reused_only_within_max_age() -> None:
    clock = Clock()
    shared: SharedReads[int] = SharedReads(0.25, clock)
    read = CountingRead()
    assert await shared.get("tab", read) == 1
    clock.now += 0.2
    assert await shared.get("tab", read) == 1
    clock.now += 0.1  # 0.3 s after the read finished
    assert await shared.get("tab", read) == 2
    assert read.calls == 2


async def test_a_failed_read_reaches_every_waiter_and_is_not_reused() -> None:
    shared: SharedReads[int] = SharedReads(0.25, Clock())
    failing = CountingRead(fail=True)
    outcomes = await asyncio.gather(*(shared.get("tab", failing) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(o, ValueError) for o in outcomes)
    assert failing.calls == 1
    assert await shared.get("tab", CountingRead()) == 1  # read again at once
    assert len(shared) == 1


async def test_a_caller_going_away_does_not_cancel_the_read_of_the_others() -> None:
    shared: SharedReads[int] = SharedReads(0.25, Clock())
    read = CountingRead()
    leaving = asyncio.create_task(shared.get("tab", read))
    staying = asyncio.create_task(shared.get("tab", read))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == 1
    assert read.calls == 1


async def test_stale_entries_are_forgotten() -> None:
    clock = Clock()
    shared: SharedReads[int] = SharedReads(0.25, clock)
    for key in range(20):
        await shared.get(key, CountingRead())
    clock.now += 1
    await shared.get("other", CountingRead())
    assert len(shared) == 1
