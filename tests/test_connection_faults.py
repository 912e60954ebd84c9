"""Fault cases (`make chaos`): each NATS connection of the embedded stack, in turn, is cut for a
few seconds and then closed for good, while events are ingested.

The stack runs as in production mode on one machine: `python -m campaignreports.ingest` and
`python -m campaignreports.stack.embedded` (aggregator + query, whose dashboards have their own
connection), both reaching a real nats-server through `NatsProxy`, which breaks one named
connection at a time. The test is the supervisor: a process that exits is started again, as
Kubernetes or `make run` would.

For every case: while the connection is down, the services that need it report NOT_SERVING;
a cut connection comes back by itself; a connection closed for good makes its process exit
non-zero within 10 s; and in the end every accepted event is counted once (lost 0, doubled 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from faults import chaos, record
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import complete_event, poll_async
from natsproxy import NatsProxy
from test_faults import Load

from campaignreports.query.component import DASHBOARD_SERVICE_NAME
from campaignreports.stack.processes import NatsServer, free_port
from campaignreports.v1 import (
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)

pytestmark = [chaos, pytest.mark.timeout(240)]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
EXIT_WITHIN_SECONDS = 10.0
CUT_SECONDS = 3.0


@dataclass
class Supervised:
    """A service process, started again whenever it exits (as its supervisor would)."""

    module: str
    environ: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None
    exits: list[tuple[float, int]] = field(default_factory=list)  # (when, exit code)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise())

    async def _spawn(self) -> asyncio.subprocess.Process:
        with self.log.open("ab") as log:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, env=self.environ, stdout=log, stderr=log
            )

    async def _supervise(self) -> None:
        while True:
            self.process = await self._spawn()
            code = await self.process.wait()
            self.exits.append((time.monotonic(), code))
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 30)


@dataclass
class Stack:
    proxy: NatsProxy
    ingest: Supervised
    backend: Supervised
    ingest_address: str
    query_address: str


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    nats = NatsServer(tmp_path / "nats").start()
    proxy = NatsProxy(int(nats.url.rpartition(":")[2]))
    port = await proxy.start()
    ingest_address, query_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    environ = {
        **os.environ,
        "CR_NATS_URL": f"nats://127.0.0.1:{port}",
        "CR_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'clickhouse'}",
        "CR_INGEST_LISTEN": ingest_address,
        "CR_QUERY_LISTEN": query_address,
        "CR_SHUTDOWN_GRACE_SECONDS": "1",
        "CR_AGGREGATOR_ACK_WAIT_SECONDS": "2",
    }
    ingest = Supervised("campaignreports.ingest", environ, tmp_path / "ingest.log")
    backend = Supervised("campaignreports.stack.embedded", environ, tmp_path / "embedded.log")
    await ingest.start()
    await backend.start()
    try:
        for address in (ingest_address, query_address):
            await poll_async(lambda a=address: health(a), lambda s: s == SERVING, within=60)
        yield Stack(proxy, ingest, backend, ingest_address, query_address)
    finally:
        await ingest.stop()
        await backend.stop()
        await proxy.stop()
        nats.stop()


async def health(address: str, service: str = "") -> int | None:
    """The health status, or None when nothing answers (the process is restarting)."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1
            )
        except grpc.aio.AioRpcError:
            return None
    return reply.status


async def counted(query_address: str, tenant: str) -> int:
    async with grpc.aio.insecure_channel(query_address) as channel:
        try:
            reply = await query_service_pb2_grpc.QueryServiceStub(channel).ListCampaigns(
                query_service_pb2.ListCampaignsRequest(tenant_id=tenant), timeout=5
            )
        except grpc.aio.AioRpcError:
            return -1
    return sum(c.events for c in reply.campaigns)


def batches(tenant: str, count: int) -> list[ingest_service_pb2.IngestRequest]:
    return [
        ingest_service_pb2.IngestRequest(
            events=[complete_event("EMAIL", "SENT", tenant, f"conn-{i % 3}") for _ in range(100)]
        )
        for i in range(count)
    ]


async def observe(address: str, service: str, seconds: float) -> list[int | None]:
    """Health answers every 0.1 s for `seconds`."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(await health(address, service))
        await asyncio.sleep(0.1)
    return seen


# connection name -> (which process holds it, which health name must say NOT_SERVING, short name)
CONNECTIONS = {
    "campaign-reports-ingest": ("ingest", "", "ingest"),
    "campaign-reports-embedded": ("backend", "", "aggregator"),
    "campaign-reports-embedded-dashboards": ("backend", DASHBOARD_SERVICE_NAME, "dashboards"),
}


@pytest.mark.parametrize("connection", list(CONNECTIONS))
async def test_each_nats_connection_cut_then_closed_for_good(stack: Stack, connection: str) -> None:
    which, health_name, short = CONNECTIONS[connection]
    supervised: Supervised = getattr(stack, which)
    address = stack.ingest_address if which == "ingest" else stack.query_address
    tenant = f"conn-{uuid.uuid4().hex[:8]}"
    load = Load()
    async with grpc.aio.insecure_channel(stack.ingest_address) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        await load.run(stub, batches(tenant, 10))
        assert connection in stack.proxy.names()

        # 1. Cut for a few seconds: NOT_SERVING while it is down, SERVING again without a restart.
        sending = asyncio.create_task(load.run(stub, batches(tenant, 30), workers=2, within=60))
        await stack.proxy.cut(connection, CUT_SECONDS)
        during = await observe(address, health_name, CUT_SECONDS - 0.3)
        assert NOT_SERVING in during, during
        # Once it has noticed, it says so until the connection is back.
        assert SERVING not in during[during.index(NOT_SERVING) :], during
        back = await poll_async(lambda: health(address, health_name), lambda s: s == SERVING, within=15)
        assert back == SERVING and supervised.exits == []
        await sending

        # 2. Closed for good: the process exits non-zero within 10 s, and comes back restarted.
        sending = asyncio.create_task(load.run(stub, batches(tenant, 30), workers=2, within=90))
        closed_at = time.monotonic()
        await stack.proxy.close_for_good(connection)
        while not supervised.exits and time.monotonic() - closed_at < EXIT_WITHIN_SECONDS + 5:
            answered = await health(address, health_name)
            if time.monotonic() - closed_at > 2.0:  # found out within 2 s; never SERVING after
                assert answered != SERVING, "a process whose connection is closed for good still says SERVING"
            await asyncio.sleep(0.1)
        assert supervised.exits, f"the {which} process did not exit"
        exited_at, code = supervised.exits[0]
        assert code != 0 and exited_at - closed_at < EXIT_WITHIN_SECONDS, (code, exited_at - closed_at)
        await poll_async(lambda: health(address, health_name), lambda s: s == SERVING, within=60)
        await sending
        fault_over = exited_at

    total = await poll_async(
        lambda: counted(stack.query_address, tenant), lambda n: n >= len(load.accepted), 90
    )
    recovery = time.monotonic() - fault_over
    await asyncio.sleep(1.5)  # anything still arriving would be a double count
    total = await counted(stack.query_address, tenant)
    fault = f"NATS connection {short} cut, then closed: exit {exited_at - closed_at:.1f} s"
    outcome = record(fault, load.accepted, total, recovery)
    assert (outcome.lost, outcome.doubled) == (0, 0), outcome
