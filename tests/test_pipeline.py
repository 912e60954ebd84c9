"""Integration: ingest -> JetStream -> aggregator -> ClickHouse -> query, in one process,
against a real nats-server, the real chDB engine and real gRPC over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from helpers import acceptance_funnel, email_event, metric_values, poll_async
from pipeline import Pipeline, open_pipeline

from campaignreports.stack.processes import NatsServer
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(60)

REQUIRED = ("event_id", "tenant_id", "campaign_id", "profile_id", "occurred_at")


async def email_statistics(pipeline: Pipeline, campaign_id: str) -> dict[str, float]:
    widget = await pipeline.query.GetWidget(
        query_service_pb2.GetWidgetRequest(
            tenant_id=pipeline.tenant_id, campaign_id=campaign_id, widget_id="email_statistics"
        )
    )
    return metric_values(widget)


async def test_ingested_events_reach_the_live_widget(pipeline: Pipeline) -> None:
    events = acceptance_funnel(pipeline.tenant_id, "c1")
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    assert reply.accepted == len(events) and not reply.rejected
    values = await poll_async(lambda: email_statistics(pipeline, "c1"), lambda v: v["clicks"] == 1)
    assert (values["sent"], values["delivered"], values["opens"], values["distinct_opens"]) == (2, 2, 3, 2)
    assert values["clicks"] == 1 and values["distinct_clicks"] == 1


async def test_ingest_and_aggregator_spans_share_the_trace(pipeline: Pipeline) -> None:
    event = email_event(pipeline.tenant_id, "traced", event_pb2.EVENT_TYPE_SENT, "p1")
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[event]))

    async def finished() -> list:
        return list(pipeline.spans.get_finished_spans())

    spans = await poll_async(finished, lambda s: any(x.name == "aggregator.store" for x in s))
    ingest_span = next(s for s in spans if s.name == "Ingest")
    store_span = next(s for s in spans if s.name == "aggregator.store")
    assert store_span.context.trace_id == ingest_span.context.trace_id
    assert store_span.parent is not None and store_span.parent.span_id == ingest_span.context.span_id


async def test_a_missing_required_field_is_rejected_with_index_and_name(pipeline: Pipeline) -> None:
    events = []
    for field in REQUIRED:
        events.append(email_event(pipeline.tenant_id, "partial", event_pb2.EVENT_TYPE_SENT, "ok"))
        bad = email_event(pipeline.tenant_id, "partial", event_pb2.EVENT_TYPE_SENT, "bad")
        bad.ClearField(field)
        events.append(bad)
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    assert reply.accepted == len(REQUIRED)
    assert [(r.index, r.field) for r in reply.rejected] == [(2 * i + 1, f) for i, f in enumerate(REQUIRED)]
    assert all(r.field in r.description for r in reply.rejected)
    values = await poll_async(lambda: email_statistics(pipeline, "partial"), lambda v: v["sent"] >= 5)
    assert values["sent"] == len(REQUIRED)


async def test_a_retried_request_is_stored_once(pipeline: Pipeline) -> None:
    events = [email_event(pipeline.tenant_id, "retry", event_pb2.EVENT_TYPE_SENT, f"p{i}") for i in range(3)]
    request = ingest_service_pb2.IngestRequest(events=events)
    for _ in range(3):
        assert (await pipeline.ingest.Ingest(request)).accepted == 3
    marker = email_event(pipeline.tenant_id, "retry", event_pb2.EVENT_TYPE_DELIVERED, "p0")
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[marker]))
    values = await poll_async(lambda: email_statistics(pipeline, "retry"), lambda v: v["delivered"] == 1)
    assert values["sent"] == 3


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries google.rpc.Status details"
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return [v.field for v in bad_request.field_violations]


async def test_an_empty_request_is_invalid_argument_naming_events(pipeline: Pipeline) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["events"]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"tenant_id": "t", "campaign_id": "c", "widget_id": "no_such_widget"}, "widget_id"),
        ({"campaign_id": "c", "widget_id": "email_statistics"}, "tenant_id"),
        ({"tenant_id": "t", "widget_id": "email_statistics"}, "campaign_id"),
    ],
)
async def test_bad_widget_requests_name_the_field(
    pipeline: Pipeline, request_fields: dict, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pipeline.query.GetWidget(query_service_pb2.GetWidgetRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == [field]


async def test_an_unknown_campaign_is_all_zeros(pipeline: Pipeline) -> None:
    values = await email_statistics(pipeline, "never-seen")
    assert values and set(values.values()) == {0.0}


async def test_tenants_do_not_see_each_other(pipeline: Pipeline) -> None:
    other = email_event("someone-else", "shared-name", event_pb2.EVENT_TYPE_SENT, "p1")
    mine = email_event(pipeline.tenant_id, "shared-name", event_pb2.EVENT_TYPE_DELIVERED, "p1")
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[other, mine]))
    values = await poll_async(
        lambda: email_statistics(pipeline, "shared-name"), lambda v: v["delivered"] == 1
    )
    assert values["sent"] == 0


async def test_ingest_stream_answers_each_request_in_order(pipeline: Pipeline) -> None:
    sizes = [1, 3, 2]

    async def requests() -> AsyncIterator[ingest_service_pb2.IngestRequest]:
        for n, size in enumerate(sizes):
            events = [
                email_event(pipeline.tenant_id, "streamed", event_pb2.EVENT_TYPE_SENT, f"p{n}-{i}")
                for i in range(size)
            ]
            events[0].ClearField("profile_id")  # one rejection per request, at index 0
            yield ingest_service_pb2.IngestRequest(events=events)

    replies = [reply async for reply in pipeline.ingest.IngestStream(requests())]
    assert [(r.accepted, [x.index for x in r.rejected]) for r in replies] == [(0, [0]), (2, [0]), (1, [0])]
    values = await poll_async(lambda: email_statistics(pipeline, "streamed"), lambda v: v["sent"] >= 3)
    assert values["sent"] == 3


@pytest.fixture
async def lingering(shared_nats: NatsServer, chdb_dsn: str) -> AsyncIterator[Pipeline]:
    """Group commit waiting 0.2 s for company (2 ms by default): concurrent requests share a
    message even when a busy machine spreads their arrival over more than the default."""
    async with open_pipeline(
        shared_nats, chdb_dsn, with_aggregator=True, CR_INGEST_LINGER_SECONDS="0.2"
    ) as running:
        yield running


async def test_a_message_shared_by_concurrent_requests_links_their_traces(lingering: Pipeline) -> None:
    pipeline = lingering
    requests = [
        ingest_service_pb2.IngestRequest(
            events=[email_event(pipeline.tenant_id, "linked", event_pb2.EVENT_TYPE_SENT, f"p{i}")]
        )
        for i in range(5)
    ]
    await asyncio.gather(*(pipeline.ingest.Ingest(r) for r in requests))

    async def finished() -> list:
        return list(pipeline.spans.get_finished_spans())

    spans = await poll_async(
        finished, lambda s: sum(len(x.links) + 1 for x in s if x.name == "aggregator.store") >= 5
    )
    ingest_traces = {s.context.trace_id for s in spans if s.name == "Ingest"}
    stored = [s for s in spans if s.name == "aggregator.store"]
    reached = {s.context.trace_id for s in stored} | {
        link.context.trace_id for s in stored for link in s.links
    }
    assert len(ingest_traces) == 5 and ingest_traces <= reached
    assert len(stored) < 5, "group commit should have put concurrent requests in a shared message"
