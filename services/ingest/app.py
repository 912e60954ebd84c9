"""The ingest service as a component: what its `main` and the tests compose."""

from __future__ import annotations

from datetime import timedelta

import grpc

from campaignreports import jetstream
from campaignreports.ingest.publisher import EventPublisher
from campaignreports.ingest.servicer import IngestServicer
from campaignreports.ingest.settings import IngestSettings
from campaignreports.telemetry import Telemetry
from campaignreports.v1 import ingest_service_pb2, ingest_service_pb2_grpc

SERVICE_NAME = ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


class IngestComponent:
    """The IngestService as a component of a ServiceHost."""

    service_names = (SERVICE_NAME,)

    def __init__(self, servicer: IngestServicer) -> None:
        self._servicer = servicer

    def register(self, server: grpc.aio.Server) -> None:
        ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing runs in the background."""


def build(settings: IngestSettings, js: jetstream.JetStreamContext, telemetry: Telemetry) -> IngestComponent:
    publisher = EventPublisher(js, settings.stream_subject, settings.publish_timeout_seconds)
    return IngestComponent(
        IngestServicer(
            publisher,
            telemetry,
            max_events_per_request=settings.max_events_per_request,
            retention=timedelta(days=settings.retention_days),
        )
    )
