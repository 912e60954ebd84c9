"""The aggregator killed with SIGKILL in the middle of a backlog loses and doubles nothing, and
the chart's alerts say so: while it is down and events keep arriving, a real Prometheus
evaluating the rendered rules (scraping the ingest service, which reports every partition's lag)
fires the freshness and lag alerts; once it is back and has caught up, they resolve."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from faults import chaos, record
from helpers import complete_event, poll
from promserver import PrometheusServer
from test_alerts import rendered_rules

from campaignreports import jetstream
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stack.processes import NatsServer, free_port
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.v1 import query_service_pb2, query_service_pb2_grpc

pytestmark = pytest.mark.timeout(240)

CAMPAIGNS = [f"backlog-{i}" for i in range(8)]
MESSAGES, EVENTS_PER_MESSAGE, DUPLICATE_EVERY = 200, 500, 20


# Alerts as the chart renders them, with thresholds and windows a test can wait for.
ALERT_VALUES = (
    "metrics.prometheusRule.freshnessSeconds=1",
    "metrics.prometheusRule.staleFor=1s",
    "metrics.prometheusRule.pendingMessages=1",
    "metrics.prometheusRule.lagWindow=5s",
)
OUTAGE_ALERTS = {"CampaignReportsStale", "CampaignReportsConsumerLagGrowing"}


async def publish_backlog(settings: CommonSettings, messages: int = MESSAGES, first: int = 0) -> set[str]:
    """Publish messages straight to the stream; return the distinct event ids."""
    nc = await jetstream.connect(settings, "backlog")
    js = nc.jetstream()
    await jetstream.ensure_stream(js, settings)
    distinct: set[str] = set()
    previous: list = []
    now = datetime.now(UTC)
    for number in range(first, first + messages):
        campaign = CAMPAIGNS[number % len(CAMPAIGNS)]
        # Over the last 20 minutes, so that rounds are split into inserts (`Slicing`).
        times = [now - timedelta(minutes=1 + i % 20) for i in range(EVENTS_PER_MESSAGE)]
        events = [complete_event("EMAIL", "SENT", "crash", campaign, occurred_at=at) for at in times]
        # Every 20th message repeats events of the previous message of the same campaign.
        if number - first >= len(CAMPAIGNS) and number % DUPLICATE_EVERY == 0:
            events[:100] = previous[number - first - len(CAMPAIGNS)][:100]
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
        "CR_INGEST_LISTEN": f"127.0.0.1:{free_port()}",
        "CR_AGGREGATOR_FETCH_BATCH": "2",
        "CR_AGGREGATOR_ACK_WAIT_SECONDS": "3",
        "CR_AGGREGATOR_SLICE_EVENTS": "5000",  # rounds split into inserts (`Slicing`) as well
        "CR_LAG_INTERVAL_SECONDS": "0.5",
        "CR_LOG_LEVEL": "WARNING",
    }
    settings = load_settings(CommonSettings, env)
    distinct_ids = await publish_backlog(settings)
    address = env["CR_QUERY_LISTEN"]
    metrics = {"ingest": f"127.0.0.1:{free_port()}", "aggregator": f"127.0.0.1:{free_port()}"}

    def start(module: str, job: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", module], env={**os.environ, **env, "CR_METRICS_LISTEN": metrics[job]}
        )

    ingest = start("campaignreports.ingest", "ingest")
    prometheus = PrometheusServer(
        tmp_path, metrics, rendered_rules(*(f"--set={value}" for value in ALERT_VALUES))
    ).start()
    process = start("campaignreports.stack.embedded", "aggregator")
    try:
        at_kill = poll(lambda: counted(address), lambda n: n > 0, within=60)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert 0 < at_kill < len(distinct_ids), f"killed at {at_kill}: not in the middle of the backlog"
        # Events keep arriving while it is down: the reports fall behind and the lag grows,
        # which Prometheus sees from the ingest service's metrics.
        deadline, sent = time.monotonic() + 90, MESSAGES
        while not prometheus.firing() >= OUTAGE_ALERTS:
            assert time.monotonic() < deadline, f"firing: {prometheus.firing()}"
            distinct_ids |= await publish_backlog(settings, 4, sent)
            sent += 4
            await asyncio.sleep(0.5)
        process = start("campaignreports.stack.embedded", "aggregator")
        restarted_at = time.monotonic()
        distinct = len(distinct_ids)
        final = poll(lambda: counted(address), lambda n: n >= distinct, within=120)
        recovery = time.monotonic() - restarted_at
        await asyncio.sleep(1.5)  # anything still arriving would be a double count
        outcome = record(
            "aggregator SIGKILLed mid-batch; lag alerts fired, resolved",
            distinct_ids,
            counted(address),
            recovery,
        )
        assert counted(address) == final == distinct
        assert (outcome.lost, outcome.doubled) == (0, 0)
        # Caught up: freshness and lag back to 0, and the alerts resolve.
        resolved = poll(prometheus.firing, lambda firing: not firing & OUTAGE_ALERTS, within=60)
        assert not resolved & OUTAGE_ALERTS, resolved
        assert prometheus.query("max(aggregator_freshness_seconds) > 0") == []
        assert prometheus.query("max(aggregator_consumer_pending) > 0") == []
    finally:
        for running in (process, ingest):
            running.send_signal(signal.SIGTERM)
            running.wait(30)
        prometheus.stop()
