"""IngestService: translates between protos and the domain, nothing more."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import grpc
from opentelemetry import trace

from campaignreports.domain.validation import check_batch
from campaignreports.grpcerrors import abort_field
from campaignreports.ingest.publisher import EventPublisher, PublishError
from campaignreports.telemetry import Telemetry, grpc_parent_context
from campaignreports.v1 import ingest_service_pb2, ingest_service_pb2_grpc

log = logging.getLogger(__name__)


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        publisher: EventPublisher,
        telemetry: Telemetry,
        max_events_per_request: int,
        retention: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publisher = publisher
        self._max_events = max_events_per_request
        self._retention = retention
        self._clock = clock
        self._tracer = telemetry.tracer(__name__)
        meter = telemetry.meter(__name__)
        self._accepted = meter.create_counter("ingest.events.accepted", description="Events stored")
        self._rejected = meter.create_counter("ingest.events.rejected", description="Events refused")

    async def Ingest(
        self, request: ingest_service_pb2.IngestRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.IngestResponse:
        parent = grpc_parent_context(context.invocation_metadata())
        with self._tracer.start_as_current_span("Ingest", context=parent, kind=trace.SpanKind.SERVER):
            return await self._ingest(request, context)

    async def IngestStream(
        self,
        request_iterator: AsyncIterator[ingest_service_pb2.IngestRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ingest_service_pb2.IngestResponse]:
        parent = grpc_parent_context(context.invocation_metadata())
        async for request in request_iterator:
            with self._tracer.start_as_current_span(
                "IngestStream", context=parent, kind=trace.SpanKind.SERVER
            ):
                yield await self._ingest(request, context)

    async def _ingest(
        self, request: ingest_service_pb2.IngestRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.IngestResponse:
        count = len(request.events)
        if count == 0:
            await abort_field(context, "events", "the request holds no event")
        if count > self._max_events:
            await abort_field(
                context,
                "events",
                f"{count} events in one request; the limit is {self._max_events}",
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
        valid, rejections = check_batch(list(request.events), self._clock(), self._retention)
        if valid:
            try:
                await self._publisher.publish(valid)
            except PublishError as exc:
                log.warning("publish failed: %s", exc)
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, "event stream unavailable: nothing was accepted, retry"
                )
        self._accepted.add(len(valid))
        self._rejected.add(len(rejections))
        return ingest_service_pb2.IngestResponse(
            accepted=len(valid),
            rejected=[
                ingest_service_pb2.EventRejection(
                    index=r.index,
                    event_id=r.event_id,
                    field=r.violation.field,
                    description=r.violation.description,
                )
                for r in rejections
            ],
        )
