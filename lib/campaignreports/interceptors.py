"""What every RPC of every service goes through, whatever its servicer does.

`GuardInterceptor` (the outermost interceptor of every `ServiceHost`):
- refuses a request whose bytes are not the method's message (INVALID_ARGUMENT), and one
  whose identifiers break `REQUEST_RULES` (a user id of 3,000 characters, a
  campaign id with a line break) with INVALID_ARGUMENT naming the field, before any servicer
  builds a NATS key or a ClickHouse parameter from it;
- turns an exception no servicer expected into INTERNAL with a generic message and an incident
  id, and logs the trace under that id: a caller never sees a Python class name or a stack
  (a method a servicer leaves out, such as grpc.health.v1.Health/List, is UNIMPLEMENTED).

`MetricsInterceptor` (outside it, when a service has telemetry) records every call's duration
per method and status code as `rpc.server.duration`, the semantic conventions' histogram.

`wrap` is the one way this module and `campaignreports.auth` wrap a handler's behaviour.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry import metrics, trace

from campaignreports.domain.validation import request_violation
from campaignreports.grpcerrors import abort_field
from campaignreports.grpctypes import Context, Continuation, Handler
from campaignreports.telemetry import TENANT

log = logging.getLogger(__name__)

Behaviour = Callable[[Any, Any], Any]  # the stubs type a handler's behaviour with the sync context
Before = Callable[[Any, Context], Awaitable[None]]
OnError = Callable[[Context, Exception], Awaitable[None]]


def wrap(
    handler: Handler,
    before: Before,
    on_error: OnError | None = None,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """The same handler (same kind, same serializers) that awaits `before(request, context)`
    ahead of its behaviour, in the task that runs it, hands an exception other than an abort
    to `on_error` when one is given. A stream answered by `context.write`
    (grpc.health.v1.Health/Watch) is a coroutine and stays one: it must not become a generator."""

    async def failed(context: Context, exc: Exception) -> None:
        if on_error is None:
            raise exc
        await on_error(context, exc)

    def unary(behaviour: Behaviour) -> Behaviour:
        async def wrapped(request: Any, context: Context) -> Any:
            try:
                await before(request, context)
                return await behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await failed(context, exc)

        return wrapped

    def streaming(behaviour: Behaviour) -> Behaviour:
        if not inspect.isasyncgenfunction(behaviour):
            return unary(behaviour)

        async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                await before(request, context)
                async for response in behaviour(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await failed(context, exc)

        return wrapped

    deserialize = request_deserializer or handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary), deserialize, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            unary(handler.stream_unary), handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            streaming(handler.unary_stream), deserialize, handler.response_serializer
        )
    assert handler.stream_stream is not None, "a handler has one of the four behaviours"
    return grpc.stream_stream_rpc_method_handler(
        streaming(handler.stream_stream), handler.request_deserializer, handler.response_serializer
    )


class WrappedHandlers:
    """Wrapped handlers by method. `intercept_service` runs on every call, but a method's handler
    rarely changes: it is wrapped again only when the inner handler is a different one."""

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[Handler, Handler]] = {}

    def get(
        self,
        method: str,
        handler: Handler,
        build: Callable[[str, Handler], Handler],
    ) -> Handler:
        cached = self._by_method.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._by_method[method] = (handler, build(method, handler))
        return cached[1]


def incident_id() -> str:
    """The current trace id when a span is recording, else a fresh random id: what the caller is
    told and what the log line carries, so that an operator finds one from the other."""
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else secrets.token_hex(16)


async def _internal(context: Context, method: str, exc: Exception) -> None:
    if isinstance(exc, NotImplementedError):  # what generated servicers raise for a method left out
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this server")
    incident = incident_id()
    log.error("%s failed unexpectedly (incident %s)", method, incident, exc_info=exc)
    await context.abort(
        grpc.StatusCode.INTERNAL, f"internal error (incident {incident}); the service logged it"
    )


@dataclass(frozen=True)
class _Undecodable:
    """What arrives instead of a request whose bytes are not that message (corrupt, bad UTF-8)."""

    reason: str


def _lenient(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that hands corrupt bytes on as `_Undecodable`: raised inside gRPC, the
    error would reach the caller as UNKNOWN with protobuf's exception class in its text."""
    if deserialize is None:
        return None

    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except DecodeError as exc:
            return _Undecodable(str(exc).rpartition(": ")[2] or "undecodable")

    return decode


async def _check_request(request: Any, context: Context) -> None:
    if isinstance(request, _Undecodable):
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"the request cannot be decoded: {request.reason}"
        )
    violation = request_violation(request) if isinstance(request, Message) else None
    if violation is not None:
        await abort_field(context, violation.field, violation.description)
    # Checked, so bounded: the tenant the log lines of this call name.
    TENANT.set(getattr(request, "tenant_id", "") if isinstance(request, Message) else "")


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """An interceptor that wraps each method's handler with `_wrap`, once per handler."""

    def __init__(self) -> None:
        self._handlers = WrappedHandlers()

    def _wrap(self, method: str, handler: Handler) -> Handler:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return self._handlers.get(handler_call_details.method, handler, self._wrap)


class GuardInterceptor(WrappingInterceptor):
    """Bounds every request's identifiers and contains every unexpected exception."""

    def _wrap(self, method: str, handler: Handler) -> Handler:
        return _guarded(method, handler)


def _guarded(method: str, handler: Handler) -> Handler:
    """`handler` with its request checked first and unexpected exceptions contained."""

    async def contain(context: Context, exc: Exception) -> None:
        await _internal(context, method, exc)

    request_streaming = handler.stream_unary is not None or handler.stream_stream is not None
    lenient = None if request_streaming else _lenient(handler.request_deserializer)
    return wrap(handler, _check_request, contain, lenient)


class MetricsInterceptor(WrappingInterceptor):
    """Every call's duration in milliseconds, by service, method and gRPC status code (0 is OK),
    as `rpc.server.duration`: Prometheus reads the call counts from the histogram's count."""

    def __init__(self, meter: metrics.Meter) -> None:
        super().__init__()
        self._duration = meter.create_histogram(
            "rpc.server.duration", unit="ms", description="Duration of the gRPC calls served"
        )

    def _wrap(self, method: str, handler: Handler) -> Handler:
        service, _, name = method.lstrip("/").rpartition("/")
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}

        async def start(request: Any, context: Context) -> None:
            started = time.perf_counter()

            def finish(done: Context) -> None:
                elapsed = (time.perf_counter() - started) * 1000
                self._duration.record(elapsed, {**attributes, "rpc.grpc.status_code": _status_number(done)})

            # gRPC calls it once the call has ended, however it ended (an abort, a deadline, a
            # stream the client cancelled), with the status it ended with.
            context.add_done_callback(cast(Any, finish))  # the stubs type it as a class, not a callable

        return wrap(handler, start)


def _status_number(context: Context) -> int:
    """The call's status code as its number (0 when none was set: OK, and also a stream the
    client cancelled, which gRPC does not report as cancelled to a done callback)."""
    code: object = context.code()  # a StatusCode, None before one is set, an int in some versions
    if isinstance(code, grpc.StatusCode):
        return int(code.value[0])
    return code if isinstance(code, int) else 0
