"""ServiceHost stops the process when a component's background work ends on its own."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from campaignreports.service import ServiceHost


class Worker:
    """A component whose background task fails after `fails_after` seconds (never if None)."""

    service_names: tuple[str, ...] = ()

    def __init__(self, fails_after: float | None) -> None:
        self._fails_after = fails_after
        self._task: asyncio.Task[None] | None = None
        self.stopped = False

    def register(self, server: grpc.aio.Server) -> None:
        """No services."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="worker-loop")

    async def _run(self) -> None:
        if self._fails_after is None:
            await asyncio.Event().wait()
            return
        await asyncio.sleep(self._fails_after)
        raise ValueError("the loop broke")

    async def drain(self) -> None:
        """Nothing to end early."""

    async def stop(self) -> None:
        self.stopped = True
        if self._task is not None:
            self._task.cancel()

    def background(self) -> asyncio.Task[None] | None:
        return self._task

    def problems(self) -> dict[str, str]:
        return {}


async def test_a_failed_background_task_stops_the_host_and_is_raised() -> None:
    worker = Worker(fails_after=0.2)
    host = ServiceHost("127.0.0.1:0", [worker], grace_seconds=1)
    with pytest.raises(RuntimeError, match="worker-loop ended unexpectedly") as raised:
        await asyncio.wait_for(host.serve_until(asyncio.Event()), 10)
    assert isinstance(raised.value.__cause__, ValueError)
    assert worker.stopped


async def test_the_stop_event_stops_the_host_without_error() -> None:
    worker = Worker(fails_after=None)
    host = ServiceHost("127.0.0.1:0", [worker], grace_seconds=1)
    stop = asyncio.Event()
    serving = asyncio.create_task(host.serve_until(stop))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(serving, 10)
    assert worker.stopped
