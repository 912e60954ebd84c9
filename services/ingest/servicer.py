"""IngestService: translates between protos and the domain, nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import grpc
from google.protobuf.message import DecodeError
from opentelemetry import trace

from campaignreports import auth
from campaignreports.domain.validation import Rejection, Violation, check_batch
from campaignreports.grpcerrors import abort_field
from campaignreports.grpctypes import Context
from campaignreports.ingest.publisher import GroupCommitPublisher, PublishError
from campaignreports.stream import batch
from campaignreports.telemetry import TENANT, Telemetry, grpc_parent_context
from campaignreports.v1 import event_pb2, ingest_service_pb2, ingest_service_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


@dataclass(frozen=True)
class MalformedRequest:
    """Request bytes that are not an IngestRequest (answered INVALID_ARGUMENT, not INTERNAL)."""

    reason: str


def decode_request(raw: bytes) -> ingest_service_pb2.IngestRequest | MalformedRequest:
    try:
        return ingest_service_pb2.IngestRequest.FromString(raw)
    except DecodeError as exc:
        return MalformedRequest(str(exc).rpartition(": ")[2] or "undecodable")


def add_to_server(servicer: IngestServicer, server: grpc.aio.Server) -> None:
    """Register like the generated helper, but decode requests leniently."""
    serialize = ingest_service_pb2.IngestResponse.SerializeToString
    handlers = {
        "Ingest": grpc.unary_unary_rpc_method_handler(
            servicer.Ingest, request_deserializer=decode_request, response_serializer=serialize
        ),
        "IngestStream": grpc.stream_stream_rpc_method_handler(
            servicer.IngestStream, request_deserializer=decode_request, response_serializer=serialize
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


class RequestError(Exception):
    """A problem with a whole request, naming the field at fault (if a field is at fault)."""

    def __init__(self, code: grpc.StatusCode, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.code, self.field, self.description = code, field, description


@dataclass(frozen=True)
class ForeignEvents:
    """Events of tenants the caller's key does not cover, and where the others came from."""

    rejections: list[Rejection]
    positions: list[int]  # request index of each writable event


def _writable(events: Sequence[event_pb2.Event]) -> tuple[Sequence[event_pb2.Event], ForeignEvents | None]:
    """The events the caller may write; the others rejected naming `tenant_id`."""
    principal = auth.current_principal.get()
    if principal is None or auth.ALL_TENANTS in principal.tenants:
        return events, None
    positions, rejections = [], []
    for index, event in enumerate(events):
        if principal.may_access(event.tenant_id):
            positions.append(index)
        else:
            description = f"key {principal.name!r} may not write events of this tenant"
            rejections.append(Rejection(index, event.event_id[:128], Violation("tenant_id", description)))
    if not rejections:
        return events, None
    return [events[i] for i in positions], ForeignEvents(rejections, positions)


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        publisher: GroupCommitPublisher,
        telemetry: Telemetry,
        *,
        max_events_per_request: int,
        retention: timedelta,
        requests_in_flight_per_call: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publisher = publisher
        self._max_events = max_events_per_request
        self._retention = retention
        self._requests_in_flight_per_call = requests_in_flight_per_call
        self._clock = clock
        self._tracer = telemetry.tracer(__name__)
        meter = telemetry.meter(__name__)
        self._accepted = meter.create_counter("ingest.events.accepted", description="Events stored")
        self._rejected = meter.create_counter(
            "ingest.events.rejected", description="Events refused, by the field at fault (`field`)"
        )

    async def Ingest(
        self, request: ingest_service_pb2.IngestRequest, context: Context
    ) -> ingest_service_pb2.IngestResponse:
        parent = grpc_parent_context(context.invocation_metadata())
        with self._tracer.start_as_current_span("Ingest", context=parent, kind=trace.SpanKind.SERVER):
            try:
                return await self._ingest(request)
            except RequestError as exc:
                await self._abort(exc, context)

    async def IngestStream(
        self,
        request_iterator: AsyncIterator[ingest_service_pb2.IngestRequest],
        context: Context,
    ) -> AsyncIterator[ingest_service_pb2.IngestResponse]:
        """Up to `requests_in_flight_per_call` requests are processed at once; answers keep request order.

        While the window is full the stream is not read, so HTTP/2 flow control holds a fast
        producer back instead of letting requests pile up in memory.
        """
        parent = grpc_parent_context(context.invocation_metadata())
        window: asyncio.Queue[asyncio.Task[ingest_service_pb2.IngestResponse] | None] = asyncio.Queue(
            self._requests_in_flight_per_call
        )

        async def handle(request: ingest_service_pb2.IngestRequest) -> ingest_service_pb2.IngestResponse:
            with self._tracer.start_as_current_span(
                "IngestStream", context=parent, kind=trace.SpanKind.SERVER
            ):
                return await self._ingest(request)

        async def read() -> None:
            async for request in request_iterator:
                await window.put(asyncio.create_task(handle(request)))
            await window.put(None)

        reader = asyncio.create_task(read())
        try:
            while (task := await window.get()) is not None:
                try:
                    yield await task
                except RequestError as exc:
                    await self._abort(exc, context)
            await reader
        finally:
            reader.cancel()
            while not window.empty():
                pending = window.get_nowait()
                if pending is not None:
                    pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _abort(self, error: RequestError, context: Context) -> NoReturn:
        if error.field:
            await abort_field(context, error.field, error.description, error.code)
        await context.abort(error.code, error.description)

    async def _ingest(
        self, request: ingest_service_pb2.IngestRequest | MalformedRequest
    ) -> ingest_service_pb2.IngestResponse:
        if isinstance(request, MalformedRequest):
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "",
                f"the request is not a valid IngestRequest: {request.reason}",
            )
        count = len(request.events)
        if count == 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "events", "the request holds no event")
        if count > self._max_events:
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "events",
                f"{count} events in one request; the limit is {self._max_events}",
            )
        # The tenant this call's log lines name: its first event's (a request is nearly always one
        # tenant's, and looking at every event costs time); bounded, since it is not checked yet.
        TENANT.set(request.events[0].tenant_id[:64])
        events, foreign = _writable(request.events)
        checked = check_batch(events, self._clock(), self._retention)
        valid, rejections = checked.valid, checked.rejections
        if foreign:
            rejections = sorted(
                [Rejection(foreign.positions[r.index], r.event_id, r.violation) for r in rejections]
                + foreign.rejections,
                key=lambda r: r.index,
            )
        if valid:
            try:
                await self._publisher.publish(batch.from_fields(checked.fields))
            except PublishError as exc:
                raise RequestError(
                    grpc.StatusCode.UNAVAILABLE,
                    "",
                    "the event stream is unavailable; the events of this request were not accepted, retry",
                ) from exc
        self._accepted.add(len(valid))
        for rejection in rejections:
            self._rejected.add(1, {"field": rejection.violation.field.partition(".")[0]})
        if rejections:
            first = rejections[0]
            log.debug(
                "refused %d of %d events; the first at index %d: %s: %s",
                len(rejections),
                count,
                first.index,
                first.violation.field,
                first.violation.description,
            )
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
