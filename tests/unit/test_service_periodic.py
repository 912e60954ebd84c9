"""Periodic components: they tick on their interval and stop promptly, even when a tick's
client library turns the cancellation into an error of its own (as nats-py does)."""

from __future__ import annotations

import asyncio
import time

import pytest

from campaignreports.service import Periodic

pytestmark = pytest.mark.timeout(30)


class SwallowsCancellation(Periodic):
    def __init__(self) -> None:
        super().__init__(0.01)
        self.ticks = 0

    async def tick(self) -> None:
        self.ticks += 1
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            raise TimeoutError("what a client library may raise instead") from None


class Failing(Periodic):
    async def tick(self) -> None:
        raise RuntimeError("broken")


async def test_it_ticks_and_stops_by_its_event_without_cancelling_a_tick() -> None:
    periodic = SwallowsCancellation()
    await periodic.start()
    for _ in range(50):  # two ticks of 0.2 s, however busy the machine (at most 5 s)
        if periodic.ticks >= 2:
            break
        await asyncio.sleep(0.1)
    started = time.monotonic()
    await periodic.stop()
    assert time.monotonic() - started < 1
    assert periodic.ticks >= 2
    task = periodic.background()
    assert task is not None and task.done() and not task.cancelled()


async def test_a_tick_that_raises_ends_the_background_task() -> None:
    periodic = Failing(0.01)
    await periodic.start()
    task = periodic.background()
    assert task is not None
    await asyncio.wait({task}, timeout=5)
    assert isinstance(task.exception(), RuntimeError)
    await periodic.stop()


async def test_interval_zero_never_runs() -> None:
    periodic = Failing(0)
    await periodic.start()
    assert periodic.background() is None
    await periodic.stop()
