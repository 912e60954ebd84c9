"""The aggregator killed with SIGKILL in the middle of a backlog loses and doubles nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from faults import chaos, record
from helpers import complete_event, poll

from campaignreports import jetstream
from campaignreports.processes import NatsServer, free_port
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.v1 import query_service_pb2, query_service_pb2_grpc

pytestmark = pytest.mark.timeout(240)

CAMPAIGNS = [f"backlog-{i}" for i in range(8)]
MESSAGES, EVENTS_PER_MESSAGE, DUPLICATE_EVERY = 200, 500, 20


async def publish_backlog(settings: CommonSettings) -> set[str]:
    """Publish the backlog straight to the stream; return the distinct event ids."""
    nc = await jetstream.connect(settings, "backlog")
    js = nc.jetstream()
    await jetstream.ensure_stream(js, settings)
    distinct: set[str] = set()
    previous: list = []
    for number in range(MESSAGES):
        campaign = CAMPAIGNS[number % len(CAMPAIGNS)]
        events = [complete_event("EMAIL", "SENT", "crash", campaign) for _ in range(EVENTS_PER_MESSAGE)]
        # Every 20th message repeats events of the previous message of the same campaign.
        if number >= len(CAMPAIGNS) and number % DUPLICATE_EVERY == 0:
            events[:100] = previous[number - len(CAMPAIGNS)][:100]
        previous.append(events)
        distinct.update(e.event_id for e in events)
        partition = jetstream.partition_of("crash", campaign, settings.stream_partitions)
        payload = event_batch_pb2.EventBatch(events=events).SerializeToString()
        await js.publish(jetstream.partition_subject(settings, partition), payload)
    await jetstream.close(nc)
    return distinct


def counted(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = query_service_pb2_grpc.QueryServiceStub(channel)
        try:
            return sum(
                int(
                    next(
                        m.value
                        for m in stub.GetWidget(
                            query_service_pb2.GetWidgetRequest(
                                tenant_id="crash", campaign_id=campaign, widget_id="email_statistics"
                            ),
                            timeout=5,
                        ).metrics
                        if m.id == "sent"
                    )
                )
                for campaign in CAMPAIGNS
            )
        except grpc.RpcError:
            return -1


@chaos
async def test_sigkill_mid_backlog_then_restart_counts_each_event_once(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    env = {
        "CR_NATS_URL": nats_server.url,
        "CR_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'chdb'}",
        "CR_QUERY_LISTEN": f"127.0.0.1:{free_port()}",
        "CR_AGGREGATOR_FETCH_BATCH": "2",
        "CR_AGGREGATOR_ACK_WAIT_SECONDS": "3",
        "CR_LOG_LEVEL": "WARNING",
    }
    distinct_ids = await publish_backlog(load_settings(CommonSettings, env))
    distinct = len(distinct_ids)
    address = env["CR_QUERY_LISTEN"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "campaignreports.stack.embedded"], env={**os.environ, **env}
        )

    process = start()
    try:
        at_kill = poll(lambda: counted(address), lambda n: n > 0, within=60)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert 0 < at_kill < distinct, f"killed at {at_kill} of {distinct}: not in the middle of the backlog"
        process = start()
        restarted_at = time.monotonic()
        final = poll(lambda: counted(address), lambda n: n >= distinct, within=120)
        recovery = time.monotonic() - restarted_at
        await asyncio.sleep(1.5)  # anything still arriving would be a double count
        outcome = record(
            "aggregator SIGKILLed mid-batch, restarted", distinct_ids, counted(address), recovery
        )
        assert counted(address) == final == distinct
        assert (outcome.lost, outcome.doubled) == (0, 0)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
