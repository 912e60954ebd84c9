"""ListRecipients through gRPC: the profiles behind a number, paged, exact, tenant-scoped and
bounded by the raw events' retention."""

from __future__ import annotations

import csv
import io
import random
import urllib.parse
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from helpers import email_event, poll_async
from pipeline import Pipeline, open_web

from campaignreports.query.engine import WidgetEngine
from campaignreports.query.servicer import QueryServicer
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2, query_service_pb2_grpc

pytestmark = pytest.mark.timeout(90)

CLICKED, OPENED = event_pb2.EVENT_TYPE_CLICKED, event_pb2.EVENT_TYPE_OPENED
LINK_A, LINK_B = "https://shop.example/a", "https://shop.example/b?x=1&y='2'"


def _range(days_back: float, days_forward: float = 1) -> query_service_pb2.TimeWindow:
    window = query_service_pb2.TimeWindow()
    now = datetime.now(UTC)
    window.range.start.FromDatetime(now - timedelta(days=days_back))
    window.range.end.FromDatetime(now + timedelta(days=days_forward))
    window.range.timezone = "UTC"
    return window


async def ingest(pipeline: Pipeline, events: list[event_pb2.Event]) -> None:
    for start in range(0, len(events), 500):
        reply = await pipeline.ingest.Ingest(
            ingest_service_pb2.IngestRequest(events=events[start : start + 500])
        )
        assert reply.accepted == len(events[start : start + 500]), reply


async def every_page(
    pipeline: Pipeline, request: query_service_pb2.ListRecipientsRequest
) -> list[list[query_service_pb2.Recipient]]:
    pages = []
    while True:
        reply = await pipeline.query.ListRecipients(request)
        pages.append(list(reply.recipients))
        if not reply.next_page_token:
            return pages
        request.page_token = reply.next_page_token


async def test_pages_list_each_matching_profile_once_with_its_first_and_last_event(
    pipeline: Pipeline,
) -> None:
    campaign = f"who-{uuid.uuid4().hex[:6]}"
    rng = random.Random(7)
    now = datetime.now(UTC)
    events, expected = [], defaultdict(list)  # profile -> times of its human clicks on LINK_A
    for number in range(260):
        profile = f"p{number:04d}"
        for _ in range(rng.randint(1, 3)):
            when = now - timedelta(hours=rng.uniform(0.1, 20))
            link, machine = rng.choice((LINK_A, LINK_A, LINK_B)), rng.random() < 0.1
            events.append(
                email_event(
                    pipeline.tenant_id, campaign, CLICKED, profile, when=when, url=link, is_machine=machine
                )
            )
            if link == LINK_A and not machine:
                expected[profile].append(when.replace(microsecond=when.microsecond // 1000 * 1000))
        events.append(
            email_event(pipeline.tenant_id, campaign, OPENED, profile, when=now - timedelta(hours=21))
        )
    await ingest(pipeline, events)
    request = query_service_pb2.ListRecipientsRequest(
        tenant_id=pipeline.tenant_id, campaign_id=campaign, event_type=CLICKED, url=LINK_A, page_size=100
    )
    await poll_async(
        lambda: every_page(pipeline, query_service_pb2.ListRecipientsRequest(**_fields(request))),
        lambda pages: sum(map(len, pages)) == len(expected),
        within=30,
    )
    pages = await every_page(pipeline, request)
    assert [len(page) for page in pages] == [100, 100, len(expected) - 200]
    listed = [recipient for page in pages for recipient in page]
    assert [r.profile_id for r in listed] == sorted(expected)  # each once, in profile id order
    for recipient in listed:
        times = expected[recipient.profile_id]
        assert recipient.events == len(times)
        assert recipient.first_at.ToDatetime(UTC) == min(times) and recipient.last_at.ToDatetime(UTC) == max(
            times
        )
    # Machine clicks count when asked for; the other link and the opens never do.
    request = query_service_pb2.ListRecipientsRequest(**_fields(request), include_machine_activity=True)
    with_machines = {r.profile_id for page in await every_page(pipeline, request) for r in page}
    assert with_machines == {e.profile_id for e in events if e.type == CLICKED and e.url == LINK_A}
    opened = await pipeline.query.ListRecipients(
        query_service_pb2.ListRecipientsRequest(
            tenant_id=pipeline.tenant_id, campaign_id=campaign, event_type=OPENED, page_size=1000
        )
    )
    assert len(opened.recipients) == 260 and not opened.next_page_token


def _fields(request: query_service_pb2.ListRecipientsRequest) -> dict[str, object]:
    """The request's fields but its page token and machine switch."""
    return {
        field.name: value
        for field, value in request.ListFields()
        if field.name not in ("page_token", "include_machine_activity")
    }


async def test_another_tenants_profiles_are_never_listed(pipeline: Pipeline) -> None:
    campaign = f"shared-name-{uuid.uuid4().hex[:6]}"
    other = f"{pipeline.tenant_id}-other"
    await ingest(
        pipeline,
        [email_event(pipeline.tenant_id, campaign, CLICKED, "mine", url=LINK_A)]
        + [email_event(other, campaign, CLICKED, f"theirs-{n}", url=LINK_A) for n in range(5)],
    )

    async def listed(tenant: str) -> set[str]:
        reply = await pipeline.query.ListRecipients(
            query_service_pb2.ListRecipientsRequest(
                tenant_id=tenant, campaign_id=campaign, event_type=CLICKED
            )
        )
        return {r.profile_id for r in reply.recipients}

    assert await poll_async(lambda: listed(pipeline.tenant_id), lambda found: bool(found)) == {"mine"}
    assert await poll_async(lambda: listed(other), lambda found: len(found) == 5) == {
        f"theirs-{n}" for n in range(5)
    }


async def test_a_window_beyond_the_raw_retention_is_a_failed_precondition(pipeline: Pipeline) -> None:
    days = pipeline.settings.retention_days
    request = query_service_pb2.ListRecipientsRequest(
        tenant_id=pipeline.tenant_id, campaign_id="c", event_type=CLICKED, window=_range(days + 2)
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pipeline.query.ListRecipients(request)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "CR_RETENTION_DAYS" in raised.value.details() and f"kept {days} days" in raised.value.details()
    inside = query_service_pb2.ListRecipientsRequest(
        tenant_id=pipeline.tenant_id, campaign_id="c", event_type=CLICKED, window=_range(days - 2)
    )
    assert not (await pipeline.query.ListRecipients(inside)).recipients


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_type": event_pb2.EVENT_TYPE_UNSPECIFIED}, "event_type"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"channel": 99}, "channel"),
        ({"page_token": "not a token"}, "page_token"),
        ({"url": "x" * 2049}, "url"),
    ],
)
async def test_a_bad_request_names_its_field(
    pipeline: Pipeline, change: dict[str, object], field: str
) -> None:
    request = query_service_pb2.ListRecipientsRequest(
        **{"tenant_id": pipeline.tenant_id, "campaign_id": "c", "event_type": CLICKED, **change}
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pipeline.query.ListRecipients(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(field), raised.value.details()


async def test_a_page_token_only_serves_the_request_it_came_from(pipeline: Pipeline) -> None:
    campaign = f"token-{uuid.uuid4().hex[:6]}"
    await ingest(
        pipeline, [email_event(pipeline.tenant_id, campaign, CLICKED, f"p{n}", url=LINK_A) for n in range(3)]
    )
    request = query_service_pb2.ListRecipientsRequest(
        tenant_id=pipeline.tenant_id, campaign_id=campaign, event_type=CLICKED, page_size=1
    )
    first = await poll_async(
        lambda: pipeline.query.ListRecipients(request), lambda r: bool(r.next_page_token)
    )
    elsewhere = query_service_pb2.ListRecipientsRequest(
        **_fields(request), url=LINK_B, page_token=first.next_page_token
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pipeline.query.ListRecipients(elsewhere)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in raised.value.details()


async def test_the_web_page_exports_every_page_as_csv(pipeline: Pipeline) -> None:
    campaign = f"csv-{uuid.uuid4().hex[:6]}"
    profiles = [f"p{n:04d}" for n in range(1203)] + ["=HYPERLINK(evil)"]
    await ingest(
        pipeline, [email_event(pipeline.tenant_id, campaign, CLICKED, p, url=LINK_B) for p in profiles]
    )
    query = (
        f"/api/recipients.csv?campaign={campaign}&type=clicked&channel=email&url={urllib.parse.quote(LINK_B)}"
    )
    async with open_web(pipeline) as client:

        async def exported() -> list[dict[str, str]]:
            response = await client.get(query)
            assert response.status == 200, await response.text()
            return list(csv.DictReader(io.StringIO(await response.text())))

        rows = await poll_async(exported, lambda rows: len(rows) == len(profiles), within=30)
        assert [row["profile_id"] for row in rows] == sorted(["'=HYPERLINK(evil)", *profiles[:-1]])
        assert {row["events"] for row in rows} == {"1"}
        bad = await client.get(f"/api/recipients.csv?campaign={campaign}&type=clicks")
        assert bad.status == 400 and (await bad.json())["field"] == "type"
        old = datetime.now(UTC).date() - timedelta(days=pipeline.settings.retention_days + 3)
        beyond = await client.get(f"{query}&window=range&start={old}&end={old + timedelta(days=1)}")
        assert beyond.status == 409 and "CR_RETENTION_DAYS" in (await beyond.json())["error"]


async def test_a_message_narrows_the_recipients_to_its_events(pipeline: Pipeline) -> None:
    campaign = f"runs-{uuid.uuid4().hex[:6]}"
    runs = {"run-1": ["a", "b"], "run-2": ["b", "c", "d"]}
    await ingest(
        pipeline,
        [
            email_event(pipeline.tenant_id, campaign, OPENED, profile, message_id=run)
            for run, profiles in runs.items()
            for profile in profiles
        ],
    )

    async def listed(message_id: str) -> list[str]:
        reply = await pipeline.query.ListRecipients(
            query_service_pb2.ListRecipientsRequest(
                tenant_id=pipeline.tenant_id, campaign_id=campaign, event_type=OPENED, message_id=message_id
            )
        )
        return [r.profile_id for r in reply.recipients]

    assert await poll_async(lambda: listed(""), lambda found: len(found) == 4) == ["a", "b", "c", "d"]
    assert await listed("run-1") == ["a", "b"] and await listed("run-2") == ["b", "c", "d"]


async def test_a_live_listing_keeps_its_place_when_the_minute_turns(pipeline: Pipeline) -> None:
    """Paging through many recipients takes minutes; the live window resolves to another 24
    hours every minute, and tokens are bound to the window as asked, so the pages (of the
    recipients and of the tenant overview) stay one listing."""
    campaign = f"turn-{uuid.uuid4().hex[:6]}"
    profiles = [f"p{n}" for n in range(5)]
    sent = [email_event(pipeline.tenant_id, campaign, CLICKED, p, url=LINK_A) for p in profiles]
    await ingest(pipeline, sent)
    asked = query_service_pb2.ListRecipientsRequest(
        tenant_id=pipeline.tenant_id, campaign_id=campaign, event_type=CLICKED, page_size=2
    )

    def fresh() -> query_service_pb2.ListRecipientsRequest:
        copy = query_service_pb2.ListRecipientsRequest()
        copy.CopyFrom(asked)
        return copy

    await poll_async(
        lambda: every_page(pipeline, fresh()),
        lambda pages: sum(len(page) for page in pages) == len(profiles),
        within=30,
    )
    now = [datetime.now(UTC)]
    servicer = QueryServicer(
        WidgetEngine(pipeline.clickhouse), retention_days=400, raw_retention_days=30, clock=lambda: now[0]
    )
    server = grpc.aio.server()
    query_service_pb2_grpc.add_QueryServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            query = query_service_pb2_grpc.QueryServiceStub(channel)
            listed, request = [], fresh()
            while True:
                reply = await query.ListRecipients(request)
                listed += [r.profile_id for r in reply.recipients]
                if not reply.next_page_token:
                    break
                request.page_token = reply.next_page_token
                now[0] += timedelta(minutes=2)  # the next page is read in another minute
            assert listed == profiles
            overview = query_service_pb2.GetTenantOverviewRequest(tenant_id=pipeline.tenant_id, page_size=1)
            first = await query.GetTenantOverview(overview)
            now[0] += timedelta(minutes=2)
            overview.page_token = first.next_page_token or ""
            await query.GetTenantOverview(overview)  # the first page's token is still this listing's
    finally:
        await server.stop(None)
