"""The ingest service as a component: what its `main` and the tests compose."""

from __future__ import annotations

from datetime import timedelta

import grpc

from campaignreports import jetstream
from campaignreports.ingest.publisher import GroupCommitPublisher
from campaignreports.ingest.servicer import SERVICE_NAME, IngestServicer, add_to_server
from campaignreports.ingest.settings import IngestSettings
from campaignreports.lag import ConsumerLag
from campaignreports.memory import MemoryRelease
from campaignreports.service import ServerSecurity, ServiceHost
from campaignreports.telemetry import Telemetry


class IngestComponent:
    """The IngestService as a component of a ServiceHost."""

    service_names = (SERVICE_NAME,)

    def __init__(self, servicer: IngestServicer, publisher: GroupCommitPublisher) -> None:
        self._servicer = servicer
        self._publisher = publisher

    async def drain(self) -> None:
        """Nothing to end early: IngestStream calls finish within the grace period."""

    def register(self, server: grpc.aio.Server) -> None:
        add_to_server(self._servicer, server)

    async def start(self) -> None:
        """Nothing to start: the publisher sends as requests come."""

    async def stop(self) -> None:
        """After the server stopped taking calls: send what is pending, await acknowledgements."""
        await self._publisher.close()

    def background(self) -> None:
        """Publishing happens within calls."""

    def problems(self) -> dict[str, str]:
        """What ingest needs is its NATS connection, which a ConnectionWatch reports on."""
        return {}


def build(
    settings: IngestSettings, nc: jetstream.NatsClient, js: jetstream.JetStreamContext, telemetry: Telemetry
) -> IngestComponent:
    publisher = GroupCommitPublisher(
        nc,
        js,
        [jetstream.partition_subject(settings, p) for p in range(settings.stream_partitions)],
        timeout_seconds=settings.publish_timeout_seconds,
        linger_seconds=settings.linger_seconds,
        # Headroom below the stream's limit for headers (trace links).
        max_message_bytes=jetstream.MAX_MESSAGE_BYTES - 8 * 1024,
        max_inflight_messages=settings.max_inflight_messages,
        meter=telemetry.meter(__name__),
    )
    servicer = IngestServicer(
        publisher,
        telemetry,
        max_events_per_request=settings.max_events_per_request,
        retention=timedelta(days=settings.retention_days),
        requests_in_flight_per_call=settings.requests_in_flight_per_call,
    )
    return IngestComponent(servicer, publisher)


def host(
    settings: IngestSettings,
    component: IngestComponent,
    nc: jetstream.NatsClient,
    listen: str | None = None,
    telemetry: Telemetry | None = None,
) -> ServiceHost:
    """The ingest gRPC server with its request limits, NOT_SERVING while its NATS connection
    (where every accepted event goes) is down, stopped once that connection is closed for good."""
    return ServiceHost(
        listen or settings.ingest_listen,
        [
            component,
            jetstream.ConnectionWatch(nc, "ingest"),
            *(
                [
                    ConsumerLag(
                        nc.jetstream(), settings, range(settings.stream_partitions), telemetry.meter(__name__)
                    )
                ]
                if telemetry is not None
                else []
            ),
            MemoryRelease(None, settings.memory_release_seconds),
        ],
        settings.shutdown_grace_seconds,
        max_receive_bytes=settings.max_request_bytes,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        security=ServerSecurity.from_settings(settings),
        telemetry=telemetry,
    )
