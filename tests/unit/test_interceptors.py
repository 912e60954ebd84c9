"""Interceptors wrap a method's handler once, not on every call, and time every call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from campaignreports.interceptors import MetricsInterceptor, WrappedHandlers


def _handler() -> grpc.RpcMethodHandler:
    async def behaviour(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    return grpc.unary_unary_rpc_method_handler(behaviour)


def test_a_handler_is_wrapped_once_until_it_changes() -> None:
    built: list[str] = []

    def build(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        built.append(method)
        return _handler()

    handlers, first, second = WrappedHandlers(), _handler(), _handler()
    wrapped = handlers.get("/s/M", first, build)
    assert handlers.get("/s/M", first, build) is wrapped
    assert handlers.get("/s/M", second, build) is not wrapped  # the inner handler changed
    handlers.get("/s/N", first, build)
    assert built == ["/s/M", "/s/M", "/s/N"]


def _durations(reader: InMemoryMetricReader) -> dict[tuple[str, int], int]:
    """(method, status code) -> calls recorded in rpc.server.duration."""
    counts: dict[tuple[str, int], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points if metric.name == "rpc.server.duration" else ():
                    attributes = point.attributes or {}
                    key = (str(attributes["rpc.method"]), int(str(attributes["rpc.grpc.status_code"])))
                    counts[key] = counts.get(key, 0) + int(getattr(point, "count", 0))
    return counts


async def test_every_call_is_timed_with_its_status_even_a_stream_the_client_cancelled() -> None:
    """A server stream the client cancels is suspended where it yielded: its duration must still
    be recorded when the call ends, not whenever (if ever) its generator is collected."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def forever(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        while True:
            yield request
            await asyncio.sleep(0.01)

    reader = InMemoryMetricReader()
    interceptor = MetricsInterceptor(MeterProvider(metric_readers=[reader]).get_meter("test"))
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "t.S",
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(echo),
                    "Watch": grpc.unary_stream_rpc_method_handler(forever),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary("/t.S/Echo")(b"x", timeout=5) == b"x"
            stream = channel.unary_stream("/t.S/Watch")(b"y", timeout=5)
            assert await stream.read() == b"y"
            stream.cancel()
            for _ in range(100):  # 5 s at most
                if ("Watch", 0) in _durations(reader):
                    break
                await asyncio.sleep(0.05)
            # Recorded while the server still runs (gRPC reports no status for a cancelled stream).
            assert _durations(reader) == {("Echo", 0): 1, ("Watch", 0): 1}
    finally:
        await server.stop(None)
