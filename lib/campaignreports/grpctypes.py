"""The gRPC types every servicer and interceptor names, with their type parameters filled in.

Requests and responses differ per method; the servicers annotate those themselves, so the
context and the method handler are typed once here over any message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias

import grpc

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
# What a server interceptor is handed: the next handler, or None for a method nobody serves.
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"
# Call metadata as servicers read it (`context.invocation_metadata()`).
Metadata: TypeAlias = "Iterable[tuple[str, str | bytes]]"
