"""What a platform team sees, end to end: the embedded stack (`make run`'s processes) with its
metrics endpoints on and JSON logs, scraped by a real Prometheus (Debian's package). Traffic
goes in through the API with an API key; the assertions read Prometheus' HTTP API and the
processes' own log lines."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from helpers import acceptance_funnel, email_event
from promserver import PrometheusServer

from campaignreports.stack.__main__ import READY_LINE
from campaignreports.stack.processes import free_port, free_ports
from campaignreports.v1 import (
    event_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)
from devtools import grafana

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

API_KEY = f"observability-{uuid.uuid4().hex}"
TENANT = "observed"
# The stack's processes, in the order they take the metrics ports (CR_STACK_METRICS_PORT + index).
JOBS = ("ingest", "embedded", "web")
TRACE_ID = uuid.uuid4().hex
INGEST = "campaignreports.v1.IngestService"
QUERY = "campaignreports.v1.QueryService"


@dataclass
class Observed:
    ingest: str
    query: str
    prometheus: PrometheusServer
    log: Path
    campaign_id: str


def _start_stack(directory: Path, ingest: str, query: str, metrics_port: int) -> subprocess.Popen[str]:
    keys = directory / "keys.toml"
    keys.write_text(
        f'[[keys]]\nname = "observability-test"\nkey = "{API_KEY}"\n'
        'scopes = ["ingest", "query", "dashboard"]\ntenants = ["*"]\n'
    )
    env = {
        **os.environ,
        "CR_STACK_DATA_DIR": str(directory / "data"),
        "CR_INGEST_LISTEN": ingest,
        "CR_QUERY_LISTEN": query,
        "CR_WEB_LISTEN": f"127.0.0.1:{free_port()}",
        "CR_STACK_METRICS_PORT": str(metrics_port),
        "CR_LOG_FORMAT": "json",
        "CR_LOG_LEVEL": "DEBUG",
        "CR_LAG_INTERVAL_SECONDS": "0.5",
        "CR_MEMORY_RELEASE_SECONDS": "1",
        "CR_API_KEYS_FILE": str(keys),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "campaignreports.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=(directory / "stack.log").open("w"),
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if READY_LINE in line:
            return process
    pytest.fail(f"the stack exited with code {process.wait()} before it was ready")


def _metadata(trace_id: str = "") -> list[tuple[str, str]]:
    metadata = [("authorization", f"Bearer {API_KEY}")]
    if trace_id:
        metadata.append(("traceparent", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"))
    return metadata


def _traffic(ingest: str, query: str, campaign_id: str) -> None:
    """Events (one refused, ten sent twice), every kind of widget over both window kinds,
    a watched report, and a refused query."""
    events = acceptance_funnel(TENANT, campaign_id)
    bad = email_event(TENANT, campaign_id, event_pb2.EVENT_TYPE_SENT, "p9")
    bad.ClearField("occurred_at")
    with grpc.insecure_channel(ingest) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        request = ingest_service_pb2.IngestRequest(events=[*events, bad])
        reply = stub.Ingest(request, metadata=_metadata(TRACE_ID), timeout=10)
        assert reply.accepted == len(events) and [r.field for r in reply.rejected] == ["occurred_at"]
        # The same events again with one new: JetStream keeps this other message, the aggregator
        # drops the ten it already stored.
        again = [*events, email_event(TENANT, campaign_id, event_pb2.EVENT_TYPE_SENT, "p3")]
        stub.Ingest(ingest_service_pb2.IngestRequest(events=again), metadata=_metadata(), timeout=10)
    with grpc.insecure_channel(query) as channel:
        stub = query_service_pb2_grpc.QueryServiceStub(channel)
        for widget_id in ("email_statistics", "email_bounce_reasons", "email_summary"):
            stub.GetWidget(
                query_service_pb2.GetWidgetRequest(
                    tenant_id=TENANT, campaign_id=campaign_id, widget_id=widget_id
                ),
                metadata=_metadata(),
                timeout=10,
            )
        report = query_service_pb2.GetReportRequest(tenant_id=TENANT, campaign_id=campaign_id, tab="email")
        stub.GetReport(report, metadata=_metadata(), timeout=10)
        ranged = query_service_pb2.GetReportRequest()
        ranged.CopyFrom(report)
        ranged.window.range.timezone = "UTC"
        ranged.window.range.granularity = query_service_pb2.GRANULARITY_DAY
        ranged.window.range.start.FromSeconds(int(time.time()) - 3 * 86400)
        ranged.window.range.end.FromSeconds(int(time.time()) + 86400)
        stub.GetReport(ranged, metadata=_metadata(), timeout=10)
        stream = stub.WatchReport(report, metadata=_metadata(), timeout=10)
        next(stream)
        stream.cancel()
        with pytest.raises(grpc.RpcError):
            stub.GetWidget(
                query_service_pb2.GetWidgetRequest(
                    tenant_id=TENANT, campaign_id=campaign_id, widget_id="nope"
                ),
                metadata=_metadata(),
                timeout=10,
            )


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    directory = tmp_path_factory.mktemp("observed")
    ingest, query = (f"127.0.0.1:{free_port()}" for _ in range(2))
    metrics_port = free_ports(len(JOBS))
    stack = _start_stack(directory, ingest, query, metrics_port)
    targets = {job: f"127.0.0.1:{metrics_port + index}" for index, job in enumerate(JOBS)}
    prometheus = PrometheusServer(directory, targets).start()
    campaign_id = f"campaign-{uuid.uuid4().hex[:8]}"
    try:
        _traffic(ingest, query, campaign_id)
        yield Observed(ingest, query, prometheus, directory / "stack.log", campaign_id)
    finally:
        prometheus.stop()
        stack.send_signal(signal.SIGTERM)
        stack.communicate(timeout=60)


# Each metric named by the issue, with the labels (and a value of one) it must be scraped with.
EXPECTED = [
    (
        "ingest",
        f'rpc_server_duration_milliseconds_count{{rpc_service="{INGEST}",rpc_method="Ingest",rpc_grpc_status_code="0"}}',
    ),
    (
        "embedded",
        f'rpc_server_duration_milliseconds_count{{rpc_service="{QUERY}",rpc_method="GetReport",rpc_grpc_status_code="0"}}',
    ),
    (
        "embedded",
        f'rpc_server_duration_milliseconds_count{{rpc_service="{QUERY}",rpc_method="GetWidget",rpc_grpc_status_code="3"}}',
    ),
    (
        "embedded",
        f'rpc_server_duration_milliseconds_bucket{{rpc_service="{QUERY}",rpc_method="WatchReport",le="+Inf"}}',
    ),
    ("ingest", "ingest_events_accepted_total"),
    ("ingest", 'ingest_events_rejected_total{field="occurred_at"}'),
    ("ingest", 'ingest_publish_duration_milliseconds_count{outcome="ok"}'),
    ("ingest", "ingest_publish_in_flight"),
    ("ingest", "ingest_batch_size_count"),
    ("ingest", 'aggregator_consumer_pending{partition="0"}'),
    ("embedded", 'aggregator_consumer_pending{partition="3"}'),
    ("embedded", 'aggregator_consumer_pending_age_seconds{partition="1"}'),
    ("embedded", 'aggregator_freshness_seconds{partition="2"}'),
    ("embedded", 'aggregator_insert_duration_milliseconds_count{outcome="stored"}'),
    ("embedded", "aggregator_insert_rows_total"),
    ("embedded", "aggregator_duplicates_dropped_total"),
    ("embedded", "aggregator_events_stored_total"),
    ("embedded", 'aggregator_retries_total{what="clickhouse_unavailable"}'),
    ("embedded", "aggregator_messages_dead_total"),
    ("embedded", 'aggregator_rebinds_total{partition="0"}'),
    ("embedded", "aggregator_writer_memory_bytes"),
    ("embedded", 'engine_memory_bytes{kind="tracked"}'),
    ("embedded", 'engine_memory_bytes{kind="mark_cache"}'),
    ("embedded", 'engine_memory_bytes{kind="allocator_resident"}'),
    ("embedded", 'query_widgets_duration_milliseconds_count{widget_kind="kpi",window_kind="live"}'),
    ("embedded", 'query_widgets_duration_milliseconds_count{widget_kind="rows",window_kind="live"}'),
    ("embedded", 'query_widgets_duration_milliseconds_count{widget_kind="series",window_kind="live"}'),
    ("embedded", 'query_widgets_duration_milliseconds_count{widget_kind="tab",window_kind="range"}'),
    ("embedded", "query_clickhouse_duration_milliseconds_count"),
    ("embedded", "query_watch_streams"),
    ("embedded", 'query_shared_reads_total{hit="false"}'),
    *((job, 'process_cpu_time_seconds_total{cpu_mode="user"}') for job in JOBS),
    *((job, "process_memory_usage_bytes") for job in JOBS),
]


@pytest.mark.parametrize(("job", "selector"), EXPECTED, ids=[f"{j}:{s}" for j, s in EXPECTED])
def test_every_metric_is_scraped_with_its_labels(observed: Observed, job: str, selector: str) -> None:
    name, _, labels = selector.partition("{")
    expression = f'{name}{{job="{job}",{labels}' if labels else f'{name}{{job="{job}"}}'
    assert observed.prometheus.wait_for(expression)


def test_the_counts_are_the_traffic_sent(observed: Observed) -> None:
    accepted = observed.prometheus.wait_for('ingest_events_accepted_total{job="ingest"}')
    assert float(accepted[0]["value"][1]) == 2 * len(acceptance_funnel(TENANT, observed.campaign_id)) + 1
    # The batch sent twice is stored once: its second copy is dropped as duplicates.
    deadline = time.monotonic() + 30
    while True:
        dropped = observed.prometheus.query('aggregator_duplicates_dropped_total{job="embedded"}')
        if (dropped and float(dropped[0]["value"][1]) == 10) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert dropped and float(dropped[0]["value"][1]) == 10


def test_freshness_and_lag_return_to_zero_after_the_load(observed: Observed) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stale = observed.prometheus.query("max(aggregator_freshness_seconds) > 0")
        pending = observed.prometheus.query("max(aggregator_consumer_pending) > 0")
        seen = observed.prometheus.query("count(aggregator_freshness_seconds)")
        if not stale and not pending and seen and float(seen[0]["value"][1]) == 8:
            return
        time.sleep(0.5)
    pytest.fail("freshness or consumer lag did not return to 0 within 60 s")


def test_json_logs_carry_the_ingest_calls_trace_and_no_secret(observed: Observed) -> None:
    deadline = time.monotonic() + 30
    while True:
        lines = [json.loads(line) for line in observed.log.read_text().splitlines() if line.startswith("{")]
        traced = [line for line in lines if line.get("trace_id") == TRACE_ID]
        services = {line["service"] for line in traced}
        if {
            "campaign-reports-ingest",
            "campaign-reports-embedded",
        } <= services or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # The ingest call's own line (an event refused), in its tenant, and the aggregator storing its events.
    assert any(
        line["service"] == "campaign-reports-ingest"
        and line.get("tenant") == TENANT
        and "refused 1 of 11" in line["message"]
        for line in traced
    ), traced
    assert any(
        line["service"] == "campaign-reports-embedded" and "storing" in line["message"] for line in traced
    ), traced
    text = observed.log.read_text()
    # No line of ours in the text format (foreign lines, e.g. gRPC's C core, may remain text).
    assert not re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ", text, re.M)
    assert API_KEY not in text
    assert API_KEY[:16] not in text


def test_every_dashboard_query_runs_on_the_scraped_metrics(observed: Observed) -> None:
    """The Grafana dashboard's PromQL is valid and finds the series it charts."""
    # A rate needs two scrapes of a counter in its range.
    for counter in (
        "aggregator_insert_rows_total",
        "ingest_events_accepted_total",
        "query_shared_reads_total",
    ):
        observed.prometheus.wait_for(f"count_over_time({counter}[1m]) > 2")
    empty = []
    for expression in grafana.queries():
        if not observed.prometheus.query(expression.replace("$__rate_interval", "1m")):
            empty.append(expression)
    # Rates of what did not happen in this run (refusals, retries) may be empty; the rest may not.
    assert all("rejected" in e or "retries" in e or "dead" in e or "rebinds" in e for e in empty), empty
