"""The fault suite (`make chaos`): ingest stopped under load, nats-server killed under load, a
node of a 3-node NATS cluster killed, a retry storm, durable consumers deleted. Each case ends
by checking that the rollups count exactly the distinct accepted events. (The aggregator
killed mid-batch, storage failing then recovering, and poison messages are in
test_crash_recovery and test_exactly_once.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from faults import chaos, record
from helpers import complete_event, poll_async
from pipeline import Pipeline, open_pipeline

from campaignreports.jetstream import consumer_name
from campaignreports.stack.processes import NatsServer, free_port, nats_cluster, wait_for_port
from campaignreports.v1 import ingest_service_pb2, ingest_service_pb2_grpc

pytestmark = [chaos, pytest.mark.timeout(240)]


def requests(tenant: str, count: int, size: int) -> list[ingest_service_pb2.IngestRequest]:
    return [
        ingest_service_pb2.IngestRequest(
            events=[complete_event("EMAIL", "SENT", tenant, f"chaos-{i % 4}") for _ in range(size)]
        )
        for i in range(count)
    ]


@dataclass
class Load:
    """Clients that send every request until it is accepted, retrying on any error."""

    accepted: set[str] = field(default_factory=set)
    failed_once: list[ingest_service_pb2.IngestRequest] = field(default_factory=list)
    errors: int = 0

    async def accepted_count(self) -> int:
        return len(self.accepted)

    async def run(
        self,
        stub: ingest_service_pb2_grpc.IngestServiceStub,
        pending: Sequence[ingest_service_pb2.IngestRequest],
        workers: int = 4,
        copies: int = 1,
        within: float = 120,
    ) -> None:
        queue: asyncio.Queue[ingest_service_pb2.IngestRequest] = asyncio.Queue()
        for request in pending:
            queue.put_nowait(request)
        deadline = time.monotonic() + within

        async def worker() -> None:
            while not queue.empty():
                request = queue.get_nowait()
                failed = False
                while True:
                    try:
                        replies = await asyncio.gather(
                            *(stub.Ingest(request, timeout=10) for _ in range(copies))
                        )
                        assert all(r.accepted == len(request.events) for r in replies)
                        break
                    except grpc.aio.AioRpcError:
                        self.errors += 1
                        if not failed:
                            self.failed_once.append(request)
                            failed = True
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.2)
                self.accepted.update(e.event_id for e in request.events)

        await asyncio.gather(*(worker() for _ in range(workers)))


def tally(pipeline: Pipeline, tenant: str) -> tuple[set[str], int, int]:
    """(stored event ids, events counted by the 15-minute rollup, by the minute rollup)."""
    stored = {
        row[0]
        for row in pipeline.rows("SELECT event_id FROM {db}.events WHERE tenant_id = {t:String}", t=tenant)
    }
    totals = [
        pipeline.rows(
            f"SELECT sum(events) FROM {{db}}.{table} WHERE tenant_id = {{t:String}} AND dimension = ''",
            t=tenant,
        )[0][0]
        or 0
        for table in ("rollup_15m", "rollup_minute")
    ]
    return stored, int(totals[0]), int(totals[1])


async def settle_and_record(
    pipeline: Pipeline, tenant: str, fault: str, load: Load, fault_over: float
) -> None:
    expected = len(load.accepted)
    stored, counted, counted_live = await poll_async(
        lambda: asyncio.to_thread(tally, pipeline, tenant),
        lambda t: len(t[0]) >= expected and t[1] >= expected,
        within=90,
    )
    recovery = time.monotonic() - fault_over
    await asyncio.sleep(1.5)  # anything still arriving would be a double count
    stored, counted, counted_live = await asyncio.to_thread(tally, pipeline, tenant)
    outcome = record(fault, load.accepted, counted, recovery, stored)
    assert counted_live == counted
    assert (outcome.lost, outcome.doubled) == (0, 0), outcome


async def test_ingest_sigterm_under_load_loses_and_half_accepts_nothing(
    nats_server: NatsServer, chdb_dsn: str
) -> None:
    async with open_pipeline(nats_server, chdb_dsn, with_aggregator=True) as pipeline:
        tenant, port = f"sigterm-{uuid.uuid4().hex[:6]}", free_port()
        env = {
            **os.environ,
            "CR_NATS_URL": nats_server.url,
            "CR_STREAM_NAME": pipeline.settings.stream_name,
            "CR_STREAM_SUBJECT": pipeline.settings.stream_subject,
            "CR_INGEST_LISTEN": f"127.0.0.1:{port}",
            "CR_SHUTDOWN_GRACE_SECONDS": "5",
            "CR_LOG_LEVEL": "WARNING",
        }

        def start() -> subprocess.Popen[bytes]:
            process = subprocess.Popen([sys.executable, "-m", "campaignreports.ingest"], env=env)
            wait_for_port(port, 30, process)
            return process

        process = start()
        load = Load()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            sending = asyncio.create_task(
                load.run(ingest_service_pb2_grpc.IngestServiceStub(channel), requests(tenant, 120, 500))
            )
            await poll_async(load.accepted_count, lambda n: n > 0, within=30)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 30) == 0, "ingest did not stop cleanly"
            fault_over = time.monotonic()
            await asyncio.sleep(2.0)  # the aggregator stores whatever JetStream holds
            stored, _, _ = await asyncio.to_thread(tally, pipeline, tenant)
            for request in list(load.failed_once):
                ids = {e.event_id for e in request.events}
                assert ids <= stored or not ids & stored, "a failed request was half accepted"
            process = start()
            try:
                await sending
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)
        assert load.errors > 0, "the stop should have interrupted some requests"
        await settle_and_record(pipeline, tenant, "ingest SIGTERM under load, restarted", load, fault_over)


async def test_nats_server_sigkill_under_load_then_restart(nats_server: NatsServer, chdb_dsn: str) -> None:
    async with open_pipeline(nats_server, chdb_dsn, with_aggregator=True) as pipeline:
        tenant = f"natskill-{uuid.uuid4().hex[:6]}"
        load = Load()
        sending = asyncio.create_task(load.run(pipeline.ingest, requests(tenant, 160, 250)))
        await poll_async(load.accepted_count, lambda n: n > 5_000, within=30)
        nats_server.kill()
        await asyncio.sleep(1.0)
        nats_server.start()
        fault_over = time.monotonic()
        await sending
        assert load.errors > 0, "the kill should have failed some requests"
        await settle_and_record(
            pipeline, tenant, "nats-server SIGKILL under load, restarted", load, fault_over
        )


async def test_a_cluster_node_killed_during_ingest_then_back(tmp_path: Path, chdb_dsn: str) -> None:
    nodes = [node.start() for node in nats_cluster(tmp_path)]
    urls = ",".join(node.url for node in nodes)
    try:
        # No wait for the cluster to elect its JetStream leader: services wait at start-up.
        async with open_pipeline(
            nodes[0], chdb_dsn, with_aggregator=True, CR_NATS_URL=urls, CR_STREAM_REPLICAS="3"
        ) as pipeline:
            tenant = f"cluster-{uuid.uuid4().hex[:6]}"
            load = Load()
            sending = asyncio.create_task(load.run(pipeline.ingest, requests(tenant, 120, 250)))
            await poll_async(load.accepted_count, lambda n: n > 5_000, within=30)
            nodes[1].kill()
            await asyncio.sleep(2.0)
            nodes[1].start()
            fault_over = time.monotonic()
            await sending
            await settle_and_record(
                pipeline, tenant, "1 of 3 NATS nodes SIGKILLed (R3 stream), back", load, fault_over
            )
    finally:
        for node in nodes:
            node.stop()


async def test_a_retry_storm_counts_each_event_once(pipeline: Pipeline) -> None:
    tenant = f"storm-{uuid.uuid4().hex[:6]}"
    load = Load()
    started = time.monotonic()
    await load.run(pipeline.ingest, requests(tenant, 60, 250), workers=4, copies=3)
    await settle_and_record(pipeline, tenant, "retry storm: every request 3 times at once", load, started)


async def test_deleted_consumers_are_created_again_without_double_counting(pipeline: Pipeline) -> None:
    """A durable consumer lost under the aggregator (deleted by an operator, or by a cluster that
    lost its state) must not stall its partition: it is created again from the stream's start,
    and the events stored before are recognised, not counted twice."""
    tenant = f"unbound-{uuid.uuid4().hex[:6]}"
    load = Load()
    sending = asyncio.create_task(load.run(pipeline.ingest, requests(tenant, 60, 250)))
    await poll_async(load.accepted_count, lambda n: n > 3_000, within=30)
    settings = pipeline.settings
    for partition in range(settings.stream_partitions):
        await pipeline.js.delete_consumer(settings.stream_name, consumer_name(settings, partition))
    fault_over = time.monotonic()
    await sending
    await settle_and_record(pipeline, tenant, "every durable consumer deleted under load", load, fault_over)
