"""Property-based fuzzing of every gRPC method and every HTTP route (Hypothesis), against the real
services: random and near-valid requests, raw bytes, hostile headers and bodies.

What must hold for every request: no INTERNAL / UNKNOWN / DATA_LOSS from gRPC and no 5xx from
HTTP (an error is the caller's, named clearly), and afterwards health is unchanged and the
pipeline still counts. Example counts are bounded (FUZZ_EXAMPLES) so that `make test` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import acceptance_funnel, metric_values, poll_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline import Pipeline, open_web
from yarl import URL

from campaignreports.domain.catalog import TABS, WIDGETS
from campaignreports.v1 import (
    dashboard_service_pb2,
    ingest_service_pb2,
    query_service_pb2,
)

pytestmark = pytest.mark.timeout(300)
T = TypeVar("T")

FUZZ_EXAMPLES = int(os.environ.get("TEST_FUZZ_EXAMPLES", "300"))
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

TENANT = "fuzz-tenant"  # the pipeline's own tenant is added where a tenant is drawn
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
HOSTILE_TEXT = st.one_of(
    TEXT,
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=200, max_size=5000),
    st.sampled_from(["", " ", "\r\n", "\x00", "a" * 257, "😀" * 300, "../../etc/passwd", "=1+1", "%00", "*"]),
)
# Near-valid values per field name: what a real client sends, so that requests get past the
# first check and reach the deep paths.
NEAR_VALID: dict[str, list[str]] = {
    "tenant_id": [TENANT],
    "campaign_id": ["c1", "spring-sale", "fuzz-campaign"],
    "widget_id": list(WIDGETS),
    "tab": list(TABS),
    "locale": ["en", "fr", "fr-CA", "sv", "nl", "xx"],
    "timezone": ["", "UTC", "Europe/Paris", "Asia/Kathmandu", "America/St_Johns", "Mars/Base"],
    "user_id": ["kim", "alice@example.com"],
    "view": ["graph", "table", "donut"],
    "event_id": ["e1", "e2"],
    "profile_id": ["p1", "p2"],
    "control_treatment_id": ["", "A", "B"],
}
NOW = 1_780_000_000  # near the present, in seconds


def _string(name: str) -> st.SearchStrategy[str]:
    near = NEAR_VALID.get(name)
    return st.one_of(st.sampled_from(near), HOSTILE_TEXT) if near else HOSTILE_TEXT


def _scalar(field: pb_descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == field.TYPE_STRING:
        return _string(field.name)
    if kind == field.TYPE_BOOL:
        return st.booleans()
    if kind == field.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-(2**31), 2**31 - 1))
    if kind in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_SFIXED32):
        return st.one_of(st.integers(-5, 100), st.integers(-(2**31), 2**31 - 1))
    if kind in (field.TYPE_INT64, field.TYPE_SINT64, field.TYPE_SFIXED64):
        return st.one_of(st.integers(-5, 100), st.integers(-(2**63), 2**63 - 1))
    if kind in (field.TYPE_UINT32, field.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if kind in (field.TYPE_UINT64, field.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if kind in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if kind == field.TYPE_FLOAT else 64)
    if kind == field.TYPE_BYTES:
        return st.binary(max_size=64)
    raise AssertionError(f"no strategy for {field.full_name}")


def messages(descriptor: pb_descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `descriptor` with some fields set, from near-valid and hostile values."""
    cls = _message_class(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        seconds = st.one_of(st.integers(NOW - 40 * 86_400, NOW + 86_400), st.integers(-(2**63), 2**63 - 1))
        nanos = st.one_of(st.just(0), st.integers(-(2**31), 2**31 - 1))
        return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)
    if depth > 3:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        single = (
            messages(field.message_type, depth + 1) if field.type == field.TYPE_MESSAGE else _scalar(field)
        )
        fields[field.name] = st.lists(single, max_size=3) if field.is_repeated else single

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            target = getattr(message, name)
            if isinstance(value, list):
                for item in value:
                    target.add().CopyFrom(item) if isinstance(item, Message) else target.append(item)
            elif isinstance(value, Message):
                target.CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries({}, optional=fields).map(build)


def _message_class(descriptor: pb_descriptor.Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


async def fuzz(strategy: st.SearchStrategy[T], example: Callable[[T], Awaitable[None]]) -> None:
    """Run `example` on FUZZ_EXAMPLES draws of `strategy`. Hypothesis drives from a worker
    thread; each example runs on this test's event loop, where the channels and servers live."""
    loop = asyncio.get_running_loop()

    @FUZZ_SETTINGS
    @given(strategy)
    def run(drawn: T) -> None:
        asyncio.run_coroutine_threadsafe(example(drawn), loop).result(timeout=60)

    await asyncio.to_thread(run)


SERVICES = [
    query_service_pb2.DESCRIPTOR.services_by_name["QueryService"],
    dashboard_service_pb2.DESCRIPTOR.services_by_name["DashboardService"],
    ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"],
    health_pb2.DESCRIPTOR.services_by_name["Health"],
]
METHODS = [method for service in SERVICES for method in service.methods]


def _with_tenant(request: Message, tenant: str) -> Message:
    """Most requests name the pipeline's tenant, so that they reach its data."""
    if "tenant_id" in request.DESCRIPTOR.fields_by_name and request.tenant_id == TENANT:  # type: ignore[attr-defined]
        request.tenant_id = tenant  # type: ignore[attr-defined]
    for event in getattr(request, "events", []) if request.DESCRIPTOR.name == "IngestRequest" else []:
        if event.tenant_id == TENANT:
            event.tenant_id = tenant
    return request


async def _call(channel: grpc.aio.Channel, method: pb_descriptor.MethodDescriptor, request: Any) -> None:
    """Call `method` (a message, or raw bytes) and fail on a forbidden status."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    serialize: Callable[[Any], bytes] = (
        (lambda raw: raw) if isinstance(request, bytes) else type(request).SerializeToString
    )
    try:
        if not method.server_streaming:
            if method.client_streaming:
                call = channel.stream_unary(path, request_serializer=serialize)
                await call(iter([request]), timeout=10)
            else:
                await channel.unary_unary(path, request_serializer=serialize)(request, timeout=10)
            return
        if method.client_streaming:
            streamed = channel.stream_stream(path, request_serializer=serialize)(iter([request]), timeout=10)
        else:
            streamed = channel.unary_stream(path, request_serializer=serialize)(request, timeout=10)
        try:
            await asyncio.wait_for(streamed.read(), 3)  # the first answer (or error) is enough
        except TimeoutError:
            pass
        finally:
            streamed.cancel()
    except grpc.aio.AioRpcError as exc:
        assert exc.code() not in FORBIDDEN, f"{path}: {exc.code().name} {exc.details()} for {request!r:.500}"


async def _health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status


async def _still_counts(pipeline: Pipeline, campaign_id: str) -> None:
    await pipeline.ingest.Ingest(
        ingest_service_pb2.IngestRequest(events=acceptance_funnel(pipeline.tenant_id, campaign_id))
    )
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id=campaign_id, widget_id="email_statistics"
    )
    widget = await poll_async(
        lambda: pipeline.query.GetWidget(request), lambda w: metric_values(w)["clicks"] == 1
    )
    assert metric_values(widget)["sent"] == 2


REQUESTS = st.one_of(
    *[st.tuples(st.just(method), messages(method.input_type)) for method in METHODS],
    st.tuples(st.sampled_from(METHODS), st.binary(max_size=300)),
)


async def test_no_grpc_request_is_an_internal_error(pipeline: Pipeline) -> None:
    before = await _health(pipeline.query_address)
    async with (
        grpc.aio.insecure_channel(pipeline.query_address) as query,
        grpc.aio.insecure_channel(pipeline.ingest_address) as ingest,
    ):

        async def one(drawn: tuple[pb_descriptor.MethodDescriptor, Any]) -> None:
            method, request = drawn
            if isinstance(request, Message):
                request = _with_tenant(request, pipeline.tenant_id)
            channel = ingest if method.containing_service.name == "IngestService" else query
            await _call(channel, method, request)

        await fuzz(REQUESTS, one)
    assert await _health(pipeline.query_address) == before == health_pb2.HealthCheckResponse.SERVING
    assert await _health(pipeline.ingest_address) == health_pb2.HealthCheckResponse.SERVING
    await _still_counts(pipeline, "after-grpc-fuzz")


# ---- HTTP ----------------------------------------------------------------------------------

# aiohttp's HTTP parser refuses a longer request line itself (4xx, plain text), before the app.
AIOHTTP_MAX_LINE = 8190
ROUTES = [
    ("GET", "/"),
    ("GET", "/api/config"),
    ("GET", "/api/widgets"),
    ("GET", "/api/campaigns"),
    ("GET", "/api/report"),
    ("GET", "/api/watch"),
    ("GET", "/api/export.csv"),
    ("GET", "/api/dashboard"),
    ("PUT", "/api/dashboard"),
    ("DELETE", "/api/dashboard"),
    ("GET", "/static/app.js"),
    ("GET", "/static/../../../etc/passwd"),
    ("POST", "/api/report"),
    ("GET", "/nowhere"),
]
PARAMETERS = {
    "campaign": ["c1", "fuzz-campaign"],
    "tab": list(TABS),
    "locale": ["en", "fr", "xx"],
    "window": ["live", "range", "other"],
    "start": ["2026-11-01", "2026-11-01T10:00:00+05:30", "0001-01-01", "9999-12-31", "soon"],
    "end": ["2026-11-02", "9999-12-31T23:59:59", "-1"],
    "timezone": ["UTC", "Asia/Kathmandu", "Mars/Base"],
    "granularity": ["hour", "day", "week", "month", "year"],
    "machine": ["0", "1"],
    "widget": [*list(WIDGETS)[:5], "nope"],
    "user": ["kim", "x" * 3000],
}
QUERY = st.dictionaries(
    st.one_of(st.sampled_from(list(PARAMETERS)), TEXT.filter(bool)),
    st.one_of(*[st.sampled_from(v) for v in PARAMETERS.values()], HOSTILE_TEXT),
    max_size=8,
)
RAW_QUERY = st.binary(max_size=200).map(lambda raw: urllib.parse.quote_from_bytes(raw, safe="=&"))
LAYOUTS = st.fixed_dictionaries(
    {},
    optional={
        "placements": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "widgetId": st.one_of(st.sampled_from(list(WIDGETS)), TEXT),
                        "x": st.one_of(st.integers(-3, 14), st.integers(-(2**70), 2**70)),
                        "y": st.integers(-3, 60),
                        "width": st.integers(-1, 14),
                        "height": st.integers(-1, 60),
                        "view": st.one_of(st.sampled_from(["graph", "table", "donut"]), TEXT),
                    },
                ),
                max_size=4,
            ),
            st.recursive(st.none() | st.booleans() | st.floats() | TEXT, lambda c: st.lists(c, max_size=3)),
        ),
        "revision": st.one_of(st.integers(-(2**70), 2**70), st.floats(), TEXT, st.none(), st.booleans()),
    },
).map(lambda body: json.dumps(body).encode())
BODIES = st.one_of(LAYOUTS, st.binary(max_size=300), st.just(b"[" * 50_000))
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "multipart/form-data; boundary=x"]
        ),
        "Origin": st.sampled_from(
            ["http://evil.example", "null", "http://127.0.0.1", "\x7f", "http://[", "http://a:b"]
        ),
        "Host": st.sampled_from(
            ["[", "evil.example", "127.0.0.1:1", "", "localhost:99999", "a" * 300, "[::1"]
        ),
        "X-Forwarded-User": st.one_of(st.sampled_from(["alice", "bob"]), TEXT.filter(str.isprintable)),
    },
)


@pytest.mark.parametrize("identity", ["none", "header"])
async def test_no_http_request_is_a_server_error(pipeline: Pipeline, identity: str) -> None:
    async with open_web(pipeline, CR_WEB_IDENTITY=identity) as client:
        base = URL(f"http://127.0.0.1:{client.port}")

        async def one(drawn: tuple[tuple[str, str], dict[str, str] | str, dict[str, str], bytes]) -> None:
            (method, path), query, headers, body = drawn
            raw_query = query if isinstance(query, str) else urllib.parse.urlencode(query)
            url = (
                URL(f"{base}{path}?{raw_query}", encoded=True)
                if raw_query
                else base.with_path(path, encoded=True)
            )
            try:
                response = await client.session.request(
                    method, url, data=body if method in {"PUT", "POST"} else None, headers=headers
                )
            except ValueError:
                return  # a header or URL aiohttp's own client refuses to send
            async with response:
                assert response.status < 500, (method, str(url), response.status, await response.text())
                if len(str(url)) > AIOHTTP_MAX_LINE:
                    assert response.status >= 400  # refused by aiohttp's parser, before the app
                elif response.status >= 400:
                    assert response.content_type == "application/json", (method, str(url))
                    assert "error" in await response.json()
                elif path == "/api/watch":
                    await asyncio.wait_for(response.content.readline(), 5)

        await fuzz(st.tuples(st.sampled_from(ROUTES), st.one_of(QUERY, RAW_QUERY), HEADERS, BODIES), one)
    assert await _health(pipeline.query_address) == health_pb2.HealthCheckResponse.SERVING
    await _still_counts(pipeline, f"after-http-fuzz-{identity}")
