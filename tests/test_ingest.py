"""IngestService through its public interface: real gRPC, real nats-server, real chDB."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from helpers import (
    ALL_PAIRS,
    EXPECTED_VALID_PAIRS,
    complete_event,
    email_event,
    metric_values,
    poll_async,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline import Pipeline

from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(120)

Request = ingest_service_pb2.IngestRequest


async def sent_count(pipeline: Pipeline, campaign_id: str) -> float:
    widget = await pipeline.query.GetWidget(
        query_service_pb2.GetWidgetRequest(
            tenant_id=pipeline.tenant_id, campaign_id=campaign_id, widget_id="email_statistics"
        )
    )
    return metric_values(widget)["sent"]


async def test_every_channel_and_type_pair_through_grpc(pipeline: Pipeline) -> None:
    events = [complete_event(c, t, pipeline.tenant_id) for c, t in ALL_PAIRS]
    reply = await pipeline.ingest.Ingest(Request(events=events))
    rejected = {r.index: r for r in reply.rejected}
    for index, pair in enumerate(ALL_PAIRS):
        if pair in EXPECTED_VALID_PAIRS:
            assert index not in rejected, (pair, rejected.get(index))
        else:
            assert rejected[index].field == "type", pair
            assert "is not valid on" in rejected[index].description
    assert reply.accepted == len(EXPECTED_VALID_PAIRS)


def _now(delta: timedelta = timedelta()) -> event_pb2.Event:
    event = email_event("t", "c", event_pb2.EVENT_TYPE_SENT, "p")
    event.occurred_at.FromDatetime(datetime.now(UTC) + delta)
    return event


def _of(channel: str, event_type: str, /, **fields: object) -> Callable[[str], event_pb2.Event]:
    def build(tenant_id: str) -> event_pb2.Event:
        event = complete_event(channel, event_type, tenant_id, "bad")
        for name, value in fields.items():
            if value is None:
                event.ClearField(name)
            else:
                setattr(event, name, value)
        return event

    return build


def _with(**fields: object) -> Callable[[str], event_pb2.Event]:
    """An email SENT event with `fields` set (None clears a field)."""
    return _of("EMAIL", "SENT", **fields)


def _timestamp(delta: timedelta) -> Callable[[str], event_pb2.Event]:
    def build(tenant_id: str) -> event_pb2.Event:
        event = email_event(tenant_id, "bad", event_pb2.EVENT_TYPE_SENT, "p")
        event.occurred_at.FromDatetime(datetime.now(UTC) + delta)
        return event

    return build


def _bad_nanos(tenant_id: str) -> event_pb2.Event:
    event = email_event(tenant_id, "bad", event_pb2.EVENT_TYPE_SENT, "p")
    event.occurred_at.nanos = -5
    return event


# Bad events, each answered by a rejection naming the field (the rest of the request is accepted).
BAD_EVENTS: list[tuple[str, Callable[[str], event_pb2.Event], str]] = [
    ("missing event_id", _with(event_id=None), "event_id"),
    ("missing tenant_id", _with(tenant_id=None), "tenant_id"),
    ("missing campaign_id", _with(campaign_id=None), "campaign_id"),
    ("missing profile_id", _with(profile_id=None), "profile_id"),
    ("missing occurred_at", _with(occurred_at=None), "occurred_at"),
    ("blank event_id", _with(event_id="   "), "event_id"),
    ("over-long event_id", _with(event_id="e" * 129), "event_id"),
    ("over-long url", _of("EMAIL", "CLICKED", url="https://x/" + "a" * 2100), "url"),
    ("control character in campaign_id", _with(campaign_id="spring\x07sale"), "campaign_id"),
    ("newline in profile_id", _with(profile_id="p\n1"), "profile_id"),
    ("unknown type number", _with(type=99), "type"),
    ("unknown channel number", _with(channel=42), "channel"),
    ("occurred_at 10 minutes ahead", _timestamp(timedelta(minutes=10)), "occurred_at"),
    ("occurred_at before the retention", _timestamp(timedelta(days=-45)), "occurred_at"),
    ("occurred_at with negative nanos", _bad_nanos, "occurred_at"),
    ("bounce_category on SENT", _with(bounce_category=event_pb2.BOUNCE_CATEGORY_HARD), "bounce_category"),
    ("BOUNCED without reason", _of("EMAIL", "BOUNCED", reason=None), "reason"),
    ("BOUNCED without category", _of("EMAIL", "BOUNCED", bounce_category=None), "bounce_category"),
    ("unknown bounce category", _of("EMAIL", "BOUNCED", bounce_category=8), "bounce_category"),
    ("CLICKED without url", _of("EMAIL", "CLICKED", url=None), "url"),
    ("push event without platform", _of("PUSH", "SENT", platform=None), "platform"),
    ("email event without recipient_domain", _with(recipient_domain=None), "recipient_domain"),
    ("is_machine on DELIVERED", _of("EMAIL", "DELIVERED", is_machine=True), "is_machine"),
    ("OPENED on SMS", _of("SMS", "SENT", type=event_pb2.EVENT_TYPE_OPENED), "type"),
    ("PROFILE_ENTERED on EMAIL", _with(type=event_pb2.EVENT_TYPE_PROFILE_ENTERED), "type"),
    ("web INTERACTION without element", _of("WEB", "INTERACTION", element_id=None), "element_id"),
]


async def assert_serving(pipeline: Pipeline) -> None:
    async with grpc.aio.insecure_channel(pipeline.ingest_address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_each_kind_of_bad_event_gets_its_documented_answer(pipeline: Pipeline) -> None:
    events = []
    for _, build, _ in BAD_EVENTS:
        events.append(email_event(pipeline.tenant_id, "bad", event_pb2.EVENT_TYPE_SENT, "good"))
        events.append(build(pipeline.tenant_id))
    reply = await pipeline.ingest.Ingest(Request(events=events))
    assert reply.accepted == len(BAD_EVENTS)
    answers = {r.index: (r.field, r.description) for r in reply.rejected}
    for position, (name, _, field) in enumerate(BAD_EVENTS):
        got_field, description = answers[2 * position + 1]
        assert got_field == field, name
        assert len(description) > 10 and field in description, (name, description)
    assert len(answers) == len(BAD_EVENTS)
    await assert_serving(pipeline)


def _violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    if status is None:
        return []
    bad_request = error_details_pb2.BadRequest()
    return [v.field for v in bad_request.field_violations] if status.details[0].Unpack(bad_request) else []


async def _raw_ingest(pipeline: Pipeline, payload: bytes) -> None:
    async with grpc.aio.insecure_channel(pipeline.ingest_address) as channel:
        call = channel.unary_unary("/campaignreports.v1.IngestService/Ingest")
        await call(payload)


async def test_whole_request_problems_get_status_codes_and_the_field(pipeline: Pipeline) -> None:
    tiny = email_event(pipeline.tenant_id, "c", event_pb2.EVENT_TYPE_SENT, "p")
    cases = [
        ("empty request", pipeline.ingest.Ingest(Request()), grpc.StatusCode.INVALID_ARGUMENT, ["events"]),
        (
            "too many events",
            pipeline.ingest.Ingest(Request(events=[tiny] * (pipeline.settings.max_events_per_request + 1))),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            ["events"],
        ),
        (
            "oversized request",
            pipeline.ingest.Ingest(
                Request(events=[_with(reason="r" * pipeline.settings.max_request_bytes)("t")])
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            [],
        ),
        ("corrupt bytes", _raw_ingest(pipeline, b"\xff\xff\xff"), grpc.StatusCode.INVALID_ARGUMENT, []),
        (
            "invalid UTF-8 in a string",
            _raw_ingest(pipeline, b"\x0a\x05\x0a\x03\xff\xfe\xfd"),
            grpc.StatusCode.INVALID_ARGUMENT,
            [],
        ),
    ]
    for name, call, code, fields in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == code, name
        assert caught.value.details(), name
        assert _violations(caught.value) == fields, name
    await assert_serving(pipeline)


async def test_1000_events_with_3_invalid_accepts_997(pipeline: Pipeline) -> None:
    events = [
        email_event(pipeline.tenant_id, "thousand", event_pb2.EVENT_TYPE_SENT, f"p{i}") for i in range(1000)
    ]
    for index in (0, 411, 999):
        events[index].ClearField("profile_id")
    reply = await pipeline.ingest.Ingest(Request(events=events))
    assert reply.accepted == 997
    assert sorted(r.index for r in reply.rejected) == [0, 411, 999]
    assert await poll_async(lambda: sent_count(pipeline, "thousand"), lambda n: n >= 997) == 997


async def test_ingest_stream_with_100_requests_in_flight(pipeline: Pipeline) -> None:
    async def requests() -> AsyncIterator[Request]:
        for size in range(1, 101):
            yield Request(
                events=[
                    email_event(pipeline.tenant_id, "streamed", event_pb2.EVENT_TYPE_SENT, f"p{size}-{i}")
                    for i in range(size)
                ]
            )

    replies = [reply.accepted async for reply in pipeline.ingest.IngestStream(requests())]
    assert replies == list(range(1, 101))
    expected = sum(range(1, 101))
    assert await poll_async(lambda: sent_count(pipeline, "streamed"), lambda n: n >= expected) == expected


async def test_nats_outage_is_unavailable_and_recovers_without_a_restart(
    pipeline_with_own_nats: Pipeline,
) -> None:
    pipeline = pipeline_with_own_nats

    def batch(tag: str) -> Request:
        return Request(
            events=[
                email_event(pipeline.tenant_id, "outage", event_pb2.EVENT_TYPE_SENT, f"{tag}-{i}")
                for i in range(10)
            ]
        )

    accepted = (await pipeline.ingest.Ingest(batch("before"))).accepted
    pipeline.nats.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pipeline.ingest.Ingest(batch("during"), timeout=30)
    assert caught.value.code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
    pipeline.nats.start()

    async def retry() -> int:
        try:
            return (await pipeline.ingest.Ingest(batch("after"), timeout=10)).accepted
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
            return 0

    after = await poll_async(retry, lambda n: n == 10, within=30)
    assert after == 10
    accepted += after
    assert (
        await poll_async(lambda: sent_count(pipeline, "outage"), lambda n: n >= accepted, within=30)
        == accepted
    )


# Random events: the server never fails internally, and whatever it accepts obeys the rules.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_MAYBE = st.one_of(st.just(""), st.sampled_from(["a", "example.com", "https://x.io/a", "click"]), _TEXT)


@st.composite
def random_events(draw: st.DrawFn, tenant_id: str) -> event_pb2.Event:
    event = event_pb2.Event(
        event_id=draw(st.one_of(st.uuids().map(str), _TEXT, st.just("e" * 129))),
        tenant_id=draw(st.sampled_from([tenant_id, "", "a b"])),
        campaign_id=draw(st.sampled_from(["prop", "", "x\ty"])),
        profile_id=draw(st.one_of(st.just("p1"), _TEXT)),
        channel=draw(st.integers(0, 8)),
        type=draw(st.integers(0, 19)),
        reason=draw(_MAYBE),
        recipient_domain=draw(_MAYBE),
        url=draw(_MAYBE),
        interaction_type=draw(_MAYBE),
        element_id=draw(_MAYBE),
        bounce_category=draw(st.integers(0, 5)),
        platform=draw(st.integers(0, 5)),
        is_machine=draw(st.booleans()),
    )
    offset = draw(st.one_of(st.none(), st.floats(-40 * 86_400, 600)))
    if offset is not None:
        event.occurred_at.FromDatetime(datetime.now(UTC) + timedelta(seconds=offset))
    return event


@st.composite
def near_valid_events(draw: st.DrawFn, tenant_id: str) -> event_pb2.Event:
    """A complete event of a valid pair, sometimes with one field replaced by a random value."""
    channel, event_type = draw(st.sampled_from(sorted(EXPECTED_VALID_PAIRS)))
    event = complete_event(channel, event_type, tenant_id, "prop")
    if draw(st.booleans()):
        name = draw(
            st.sampled_from(["event_id", "profile_id", "reason", "url", "recipient_domain", "element_id"])
        )
        setattr(event, name, draw(_TEXT))
    return event


def _is_identifier(value: str, max_length: int) -> bool:
    return 0 < len(value) <= max_length and not any(
        ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value
    )


def assert_obeys_the_rules(event: event_pb2.Event) -> None:
    """An independent statement of the ingest contract's rules (not the service's code)."""
    assert _is_identifier(event.event_id, 128) and _is_identifier(event.tenant_id, 64)
    assert _is_identifier(event.campaign_id, 128) and _is_identifier(event.profile_id, 256)
    when = event.occurred_at.ToDatetime(tzinfo=UTC)
    now = datetime.now(UTC)
    assert now - timedelta(days=30, minutes=1) <= when <= now + timedelta(minutes=5)
    channel = event_pb2.Channel.Name(event.channel).removeprefix("CHANNEL_")
    event_type = event_pb2.EventType.Name(event.type).removeprefix("EVENT_TYPE_")
    assert (channel, event_type) in EXPECTED_VALID_PAIRS
    if event_type in {"EXCLUDED", "ERROR", "BOUNCED"}:
        assert event.reason
    if event_type == "BOUNCED":
        assert event.bounce_category in (1, 2, 3)
    if event_type == "CLICKED":
        assert event.url
    if channel == "EMAIL":
        assert event.recipient_domain
    if channel == "PUSH":
        assert event.platform in (1, 2, 3)
    if event.is_machine:
        assert event_type in {"OPENED", "CLICKED"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_random_events_never_break_the_server(pipeline: Pipeline, data: st.DataObject) -> None:
    """Every example holds one valid event among the random ones, which must be accepted: the
    property can never hold vacuously (every event refused)."""
    any_event = st.one_of(random_events(pipeline.tenant_id), near_valid_events(pipeline.tenant_id))
    events = data.draw(st.lists(any_event, min_size=0, max_size=19))
    channel, event_type = data.draw(st.sampled_from(sorted(EXPECTED_VALID_PAIRS)))
    valid_at = data.draw(st.integers(0, len(events)))
    events.insert(valid_at, complete_event(channel, event_type, pipeline.tenant_id, "prop"))
    reply = await pipeline.ingest.Ingest(Request(events=events))
    rejected = {r.index for r in reply.rejected}
    assert valid_at not in rejected and reply.accepted >= 1
    assert reply.accepted + len(rejected) == len(events)
    for r in reply.rejected:
        assert r.field and r.description
    for index, event in enumerate(events):
        if index not in rejected:
            assert_obeys_the_rules(event)


async def test_a_retried_request_is_dropped_by_the_duplicate_window(pipeline: Pipeline) -> None:
    events = [email_event(pipeline.tenant_id, "dup", event_pb2.EVENT_TYPE_SENT, f"p{i}") for i in range(5)]
    for _ in range(3):
        await pipeline.ingest.Ingest(Request(events=events))
        await asyncio.sleep(pipeline.settings.linger_seconds * 5)
    info = await pipeline.js.stream_info(pipeline.settings.stream_name)
    assert info.state.messages == 1
