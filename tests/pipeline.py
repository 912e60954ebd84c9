"""The pipeline in this process: ingest, aggregator and query against a real nats-server and
chDB, on loopback gRPC ports, each test isolated by its own database, stream and subjects; and
the web layer over it. The fixtures in conftest.py open it; tests that need another shape
(no aggregator, other settings) call `open_pipeline` themselves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.clickhouse import ClickHouse
from campaignreports.ingest.component import build as build_ingest
from campaignreports.ingest.component import host as ingest_server
from campaignreports.ingest.settings import IngestSettings
from campaignreports.query.component import QueryComponent
from campaignreports.schema import Dialect, migrate
from campaignreports.service import Component, ServerSecurity, ServiceHost
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stack.embedded import EmbeddedSettings
from campaignreports.stack.processes import NatsServer
from campaignreports.telemetry import Telemetry, setup_telemetry
from campaignreports.v1 import dashboard_service_pb2_grpc, ingest_service_pb2_grpc, query_service_pb2_grpc
from campaignreports.web.application import application, channel_to
from campaignreports.web.settings import WebSettings


class _ClientPool:
    """chDB clients kept for the next pipeline of this process (opening two took a fifth of a
    second per test): a pipeline takes a writer and a reader nobody else holds, pointed at its
    own database, and gives them back when it closes."""

    def __init__(self) -> None:
        self._free: dict[str, list[tuple[ClickHouse, ClickHouse]]] = {}

    def take(self, settings: CommonSettings) -> tuple[ClickHouse, ClickHouse]:
        free = self._free.setdefault(settings.clickhouse_dsn, [])
        writer, reader = free.pop() if free else (ClickHouse(settings), ClickHouse(settings, reads=True))
        writer.database = reader.database = settings.clickhouse_database
        return writer, reader

    def give_back(self, dsn: str, writer: ClickHouse, reader: ClickHouse) -> None:
        self._free.setdefault(dsn, []).append((writer, reader))


_CLIENTS = _ClientPool()


@dataclass(frozen=True)
class PipelineSettings(EmbeddedSettings, IngestSettings):
    """Every service's settings, for tests that run them all in one process."""


@dataclass
class Pipeline:
    """Ingest, aggregator and query running in this process against real servers."""

    settings: PipelineSettings
    spans: InMemorySpanExporter
    ingest: ingest_service_pb2_grpc.IngestServiceStub
    query: query_service_pb2_grpc.QueryServiceStub
    dashboards: dashboard_service_pb2_grpc.DashboardServiceStub
    tenant_id: str
    ingest_address: str
    query_address: str
    nats: NatsServer
    js: jetstream.JetStreamContext
    clickhouse: ClickHouse

    def rows(self, sql: str, **parameters: object) -> list[tuple]:
        """Run a read query against this test's database (`{db}` is replaced by its name)."""
        return self.clickhouse.query_rows(sql.replace("{db}", self.settings.clickhouse_database), parameters)


@asynccontextmanager
async def open_pipeline(
    nats_server: NatsServer, chdb_dsn: str, *, with_aggregator: bool, **overrides: str
) -> AsyncIterator[Pipeline]:
    suffix = uuid.uuid4().hex[:12]
    settings = load_settings(
        PipelineSettings,
        {
            "CR_NATS_URL": nats_server.url,
            "CR_CLICKHOUSE_DSN": chdb_dsn,
            "CR_CLICKHOUSE_DATABASE": f"test_{suffix}",
            "CR_STREAM_NAME": f"EVENTS_{suffix}",
            "CR_STREAM_SUBJECT": f"test.{suffix}.events",
            "CR_STORED_SUBJECT": f"test.{suffix}.stored",
            "CR_QUERY_DASHBOARD_BUCKET": f"DASHBOARDS_{suffix}",
            "CR_SHUTDOWN_GRACE_SECONDS": "1",
            **overrides,
        },
    )
    spans = InMemorySpanExporter()
    telemetry: Telemetry = setup_telemetry("test", {}, extra_span_processors=[SimpleSpanProcessor(spans)])
    writer, reader = _CLIENTS.take(settings)
    migrate(writer.client, Dialect.from_settings(settings))
    nc = await jetstream.connect(settings, "test")
    js = nc.jetstream()
    await jetstream.ensure_stream(js, settings)
    ingest_host = ingest_server(
        settings, build_ingest(settings, nc, js, telemetry), nc, "127.0.0.1:0", telemetry=telemetry
    )
    backend: list[Component] = [QueryComponent(reader, nc, settings, telemetry)]
    if with_aggregator:
        backend.insert(0, Aggregator(nc, writer, settings, telemetry))
    backend_host = ServiceHost(
        "127.0.0.1:0", backend, 1, security=ServerSecurity.from_settings(settings), telemetry=telemetry
    )
    await ingest_host.start()
    await backend_host.start()
    ingest_channel = grpc.aio.insecure_channel(ingest_host.address)
    query_channel = grpc.aio.insecure_channel(backend_host.address)
    try:
        yield Pipeline(
            settings,
            spans,
            ingest_service_pb2_grpc.IngestServiceStub(ingest_channel),
            query_service_pb2_grpc.QueryServiceStub(query_channel),
            dashboard_service_pb2_grpc.DashboardServiceStub(query_channel),
            tenant_id=f"tenant-{suffix}",
            ingest_address=ingest_host.address,
            query_address=backend_host.address,
            nats=nats_server,
            js=js,
            clickhouse=reader,
        )
    finally:
        await ingest_channel.close()
        await query_channel.close()
        await ingest_host.stop()
        await backend_host.stop()
        await jetstream.close(nc)
        writer.client.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
        _CLIENTS.give_back(settings.clickhouse_dsn, writer, reader)
        telemetry.shutdown()


@asynccontextmanager
async def open_web(pipeline: Pipeline, **environ: str) -> AsyncIterator[TestClient]:
    """The web layer in this process (aiohttp's test server) over the pipeline's gRPC services,
    showing the pipeline's tenant; `environ` adds settings (CR_WEB_IDENTITY, ...)."""
    settings = load_settings(
        WebSettings,
        {"CR_WEB_QUERY_ADDRESS": pipeline.query_address, "CR_WEB_TENANT": pipeline.tenant_id, **environ},
    )
    channel = channel_to(settings)
    try:
        async with TestClient(TestServer(application(settings, channel), host="127.0.0.1")) as client:
            yield client
    finally:
        await channel.close()
