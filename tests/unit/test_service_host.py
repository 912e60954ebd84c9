"""ServiceHost stops the process when a component's background work ends on its own."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from campaignreports.service import (
    HEALTH_INTERVAL_SECONDS,
    LIVENESS,
    NOT_SERVING,
    REFLECTION_V1,
    SERVING,
    ServiceHost,
)


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


class Troubled(Worker):
    """A component reporting what it cannot do, as `problems` says, changeable by the test."""

    service_names = ("test.Reports", "test.Layouts")

    def __init__(self) -> None:
        super().__init__(fails_after=None)
        self.reasons: dict[str, str] = {}

    def problems(self) -> dict[str, str]:
        return self.reasons


async def _statuses(address: str) -> dict[str, int]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        names = ["", "test.Reports", "test.Layouts", LIVENESS]
        replies = [await stub.Check(health_pb2.HealthCheckRequest(service=name)) for name in names]
    return {name: reply.status for name, reply in zip(names, replies, strict=True)}


async def _becomes(address: str, expected: dict[str, int]) -> dict[str, int]:
    """The statuses once they are `expected` (or after 5 s): they follow within a few intervals."""
    for _ in range(int(5 / HEALTH_INTERVAL_SECONDS)):
        seen = await _statuses(address)
        if seen == expected:
            break
        await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
    return seen


async def test_health_follows_the_components_problems() -> None:
    component = Troubled()
    host = ServiceHost("127.0.0.1:0", [component], grace_seconds=1)
    await host.start()
    try:
        assert set((await _statuses(host.address)).values()) == {SERVING}
        component.reasons = {"test.Layouts": "NATS connection dashboards is reconnecting"}
        only_layouts = {"": SERVING, "test.Reports": SERVING, "test.Layouts": NOT_SERVING, LIVENESS: SERVING}
        assert await _becomes(host.address, only_layouts) == only_layouts
        component.reasons = {"": "cannot consume partitions [0]"}
        whole = {"": NOT_SERVING, "test.Reports": NOT_SERVING, "test.Layouts": NOT_SERVING, LIVENESS: SERVING}
        assert await _becomes(host.address, whole) == whole
        component.reasons = {}
        all_well = dict.fromkeys(whole, SERVING)
        assert await _becomes(host.address, all_well) == all_well
    finally:
        await host.stop()


async def _reflect(address: str, method: str, request: reflection_pb2.ServerReflectionRequest):
    """One reflection request to `method` (v1 and v1alpha are the same messages on the wire)."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.stream_stream(
            method,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        return await call(iter([request])).read()


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_answers_in_v1_and_v1alpha(version: str) -> None:
    host = ServiceHost("127.0.0.1:0", [Worker(None)], 1)
    await host.start()
    try:
        method = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
        listed = await _reflect(
            host.address, method, reflection_pb2.ServerReflectionRequest(list_services="")
        )
        services = {s.name for s in listed.list_services_response.service}
        assert {
            "grpc.health.v1.Health",
            REFLECTION_V1,
            "grpc.reflection.v1alpha.ServerReflection",
        } <= services
        found = await _reflect(
            host.address,
            method,
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health"),
        )
        assert found.file_descriptor_response.file_descriptor_proto
    finally:
        await host.stop()
