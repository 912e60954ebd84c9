"""Conversions and time to engage through the pipeline: revenue is exact and in one currency
(a clear error when several are mixed, unless the request names one), and a writer that meets
a campaign again (a restart) times engagements against what is stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from helpers import complete_event, poll_async
from pipeline import Pipeline

from campaignreports.aggregator.writer import Decoded, Writer
from campaignreports.stream.batch import from_events
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(90)

# (currency, value) of each conversion, and one without a value (a sign-up)
CONVERSIONS = [
    ("EUR", "0.1"),
    ("EUR", "0.1"),
    ("EUR", "0.1"),
    ("USD", "123456789012345678.123456789"),
    ("USD", "0.000000001"),
    ("", ""),
]


def conversion(tenant: str, campaign: str, profile: str, currency: str, value: str) -> event_pb2.Event:
    event = complete_event("EMAIL", "CONVERTED", tenant, campaign)
    event.profile_id, event.currency, event.conversion_value = profile, currency, value
    return event


async def report(pipeline: Pipeline, campaign: str, **fields: object) -> query_service_pb2.Report:
    return await pipeline.query.GetReport(
        query_service_pb2.GetReportRequest(
            tenant_id=pipeline.tenant_id, campaign_id=campaign, tab="conversions", **fields
        )
    )


def summary(found: query_service_pb2.Report) -> dict[str, query_service_pb2.Metric]:
    return {m.id: m for w in found.widgets if w.id == "conversions_summary" for m in w.metrics}


@pytest.fixture
async def mixed(pipeline: Pipeline) -> tuple[Pipeline, str]:
    campaign = f"sale-{uuid.uuid4().hex[:6]}"
    batch = [
        conversion(pipeline.tenant_id, campaign, f"p{n}", currency, value)
        for n, (currency, value) in enumerate(CONVERSIONS)
    ]
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=batch))
    assert reply.accepted == len(batch), reply.rejected
    await poll_async(
        lambda: report(pipeline, campaign, currency="EUR"),
        lambda found: summary(found)["conversions"].value == len(CONVERSIONS),
        within=30,
    )
    return pipeline, campaign


async def test_mixed_currencies_need_one_named(mixed: tuple[Pipeline, str]) -> None:
    pipeline, campaign = mixed
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await report(pipeline, campaign)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "EUR, USD" in raised.value.details() and "`currency`" in raised.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pipeline.query.GetTenantOverview(
            query_service_pb2.GetTenantOverviewRequest(tenant_id=pipeline.tenant_id)
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION and campaign in raised.value.details()


@pytest.mark.parametrize(
    ("currency", "amount"), [("EUR", "0.3"), ("USD", "123456789012345678.12345679"), ("JPY", "0")]
)
async def test_revenue_in_the_named_currency_is_exact(
    mixed: tuple[Pipeline, str], currency: str, amount: str
) -> None:
    pipeline, campaign = mixed
    figures = summary(await report(pipeline, campaign, currency=currency))
    revenue = figures["revenue"]
    assert (revenue.amount, revenue.currency, revenue.unit) == (amount, currency, "currency")
    assert revenue.value == float(Decimal(amount))
    # Every conversion counts, whatever its currency; the revenue is the named one's.
    assert figures["conversions"].value == len(CONVERSIONS) and figures["converters"].value == len(
        CONVERSIONS
    )
    overview = await pipeline.query.GetTenantOverview(
        query_service_pb2.GetTenantOverviewRequest(
            tenant_id=pipeline.tenant_id, currency=currency, sort_by="revenue"
        )
    )
    (listed,) = overview.campaigns
    assert {m.id: m.amount for m in listed.metrics}["revenue"] == amount


async def test_an_unknown_currency_is_refused_on_its_field(pipeline: Pipeline) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await report(pipeline, "any", currency="EURO")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("currency"), raised.value.details()


def _at(event: event_pb2.Event, moment: datetime) -> event_pb2.Event:
    event.occurred_at.FromDatetime(moment)
    return event


async def test_a_writer_meeting_a_campaign_again_times_against_what_is_stored(pipeline: Pipeline) -> None:
    """Deliveries and one open stored by the running aggregator; a new writer (as after a
    restart) loads the campaign and times the next engagements exactly as the first would."""
    campaign, start = f"tte-{uuid.uuid4().hex[:6]}", datetime.now(UTC) - timedelta(hours=2)
    stored = []
    for n in range(3):
        delivered = _at(complete_event("EMAIL", "DELIVERED", pipeline.tenant_id, campaign), start)
        delivered.profile_id, delivered.message_id = f"p{n}", "m1"
        stored.append(delivered)
    first_open = _at(
        complete_event("EMAIL", "OPENED", pipeline.tenant_id, campaign), start + timedelta(minutes=5)
    )
    first_open.profile_id, first_open.message_id = "p0", "m1"
    stored.append(first_open)
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=stored))
    assert reply.accepted == len(stored)
    email = {"tenant_id": pipeline.tenant_id, "campaign_id": campaign, "tab": "email"}
    found = await poll_async(
        lambda: pipeline.query.GetReport(query_service_pb2.GetReportRequest(**email)),
        lambda r: any(m.id == "time_to_open_median" and m.value > 0 for w in r.widgets for m in w.metrics),
        within=30,
    )
    median = next(m for w in found.widgets for m in w.metrics if m.id == "time_to_open_median")
    assert median.value == 300 and median.unit == "seconds"
    later = []
    for profile, minutes, machine in (
        ("p0", 9, False),
        ("p1", 10, True),
        ("p1", 20, False),
        ("p9", 1, False),
    ):
        event = _at(
            complete_event("EMAIL", "OPENED", pipeline.tenant_id, campaign),
            start + timedelta(minutes=minutes),
        )
        event.profile_id, event.message_id, event.is_machine = profile, "m1", machine
        later.append(event)
    prepared = Writer(pipeline.clickhouse).prepare(Decoded.of(from_events(later)), token=uuid.uuid4().hex)
    # p0 opened already; p1's machine open is not timed, its first human open is; p9 has no delivery.
    assert prepared.events.column("engaged_after_ms").to_pylist() == [-1, -1, 1_200_000, -1]
