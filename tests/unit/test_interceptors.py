"""Interceptors wrap a method's handler once, not on every call."""

from __future__ import annotations

import grpc

from campaignreports.interceptors import WrappedHandlers


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
