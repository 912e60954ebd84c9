"""Production mode: every service runs alone from environment variables, reports SERVING,
stops cleanly on SIGTERM, refuses bad settings naming the variable, and exports telemetry over
OTLP when an endpoint is configured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import email_event, poll
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from campaignreports.stack.processes import NatsServer, free_port
from campaignreports.v1 import event_pb2, ingest_service_pb2, ingest_service_pb2_grpc

pytestmark = pytest.mark.timeout(90)


def start(module: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        try:
            return (
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1).status
            )
        except grpc.RpcError:
            return -1


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


class Collector(trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer):
    """A real OTLP/gRPC receiver that remembers what it was sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []  # (service.name, span name)
        self.metric_names: set[str] = set()
        self.lock = threading.Lock()

    def Export(self, request: object, context: grpc.ServicerContext) -> object:
        """TraceService and MetricsService both name their one RPC Export."""
        with self.lock:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                for resource_spans in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    )
                    for scope in resource_spans.scope_spans:
                        self.spans.extend((service, span.name) for span in scope.spans)
                return trace_service_pb2.ExportTraceServiceResponse()
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    self.metric_names.update(m.name for m in scope.metrics)
            return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[str, Collector]]:
    receiver = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", receiver
    server.stop(0)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("module", "variable", "value"),
    [
        ("campaignreports.ingest", "CR_INGEST_MAX_EVENTS_PER_REQUEST", "lots"),
        ("campaignreports.aggregator", "CR_AGGREGATOR_FETCH_BATCH", "-3"),
        ("campaignreports.query", "CR_QUERY_LISTEN", "nowhere"),
    ],
)
def test_a_bad_setting_stops_the_service_naming_the_variable(module: str, variable: str, value: str) -> None:
    process = start(module, {variable: value})
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert variable in output and "Traceback" not in output


def test_each_service_runs_alone_and_ingest_exports_traces_over_otlp(
    tmp_path: Path, nats_server: NatsServer, collector: tuple[str, Collector]
) -> None:
    endpoint, received = collector
    ingest_address, aggregator_address, query_address = (f"127.0.0.1:{free_port()}" for _ in range(3))
    common = {"CR_NATS_URL": nats_server.url, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    # chDB is one engine per process: standalone aggregator and query each get their own here
    # (in production both point at the same ClickHouse server).
    processes = {
        "ingest": start("campaignreports.ingest", {**common, "CR_INGEST_LISTEN": ingest_address}),
        "aggregator": start(
            "campaignreports.aggregator",
            {
                **common,
                "CR_AGGREGATOR_LISTEN": aggregator_address,
                "CR_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'aggregator-chdb'}",
            },
        ),
        "query": start(
            "campaignreports.query",
            {
                **common,
                "CR_QUERY_LISTEN": query_address,
                "CR_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'query-chdb'}",
            },
        ),
    }
    try:
        for address in (ingest_address, aggregator_address, query_address):
            assert poll(lambda a=address: health(a), lambda s: s == 1, within=30) == 1, address
        event = email_event("t", "c", event_pb2.EVENT_TYPE_SENT, "p")
        with grpc.insecure_channel(ingest_address) as channel:
            reply = ingest_service_pb2_grpc.IngestServiceStub(channel).Ingest(
                ingest_service_pb2.IngestRequest(events=[event]), timeout=10
            )
        assert reply.accepted == 1
    finally:
        outputs = {name: stop(process) for name, process in processes.items()}
    assert "Traceback" not in "".join(outputs.values())
    assert ("campaign-reports-ingest", "Ingest") in received.spans
    assert ("campaign-reports-aggregator", "aggregator.store") in received.spans
    assert "ingest.events.accepted" in received.metric_names
