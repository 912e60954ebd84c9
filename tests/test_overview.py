"""GetTenantOverview and CompareCampaigns through gRPC: every campaign's headline figures against
counts made here from the events sent, sorting, paging and tenant scope; a comparison is each
campaign's own report."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import grpc
import pytest
from helpers import complete_event, poll_async
from pipeline import Pipeline

from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(90)

# campaign -> (channel, [(event type, profile, machine)])
PLAN = {
    "alpha": (
        "EMAIL",
        [("SENT", f"p{n}", False) for n in range(10)]
        + [("DELIVERED", f"p{n}", False) for n in range(8)]
        + [("BOUNCED", f"p{n}", False) for n in (8, 9)]
        + [("OPENED", p, False) for p in ("p0", "p0", "p1", "p2", "p3")]
        + [("OPENED", "p4", True)]  # a machine open: not an open unless asked for
        + [("CLICKED", p, False) for p in ("p0", "p1")]
        + [("UNSUBSCRIBED", "p2", False)]
        + [("CONVERTED", p, False) for p in ("p0", "p1", "p0")],  # each worth 49.90 EUR
    ),
    "bravo": (
        "EMAIL",
        [("SENT", f"p{n}", False) for n in range(5)]
        + [("DELIVERED", f"p{n}", False) for n in range(5)]
        + [("OPENED", "p0", False)],
    ),
    "charlie": (
        "SMS",
        [("SENT", f"p{n}", False) for n in range(20)] + [("DELIVERED", f"p{n}", False) for n in range(18)],
    ),
}


def events(tenant: str, prefix: str) -> Iterator[event_pb2.Event]:
    for campaign, (channel, plan) in PLAN.items():
        for event_type, profile, machine in plan:
            event = complete_event(channel, event_type, tenant, f"{prefix}-{campaign}")
            event.profile_id = profile
            if machine:
                event.is_machine = True
            yield event


def expected(campaign: str, machine: bool = False) -> dict[str, float]:
    """The overview's figures, counted here from PLAN."""
    _, plan = PLAN[campaign]

    def count(event_type: str) -> int:
        return sum(1 for t, _, m in plan if t == event_type and (machine or not m))

    def distinct(event_type: str) -> int:
        return len({p for t, p, m in plan if t == event_type and (machine or not m)})

    delivered = count("DELIVERED")
    return {
        "sent": count("SENT"),
        "delivered": delivered,
        "open_rate": distinct("OPENED") / delivered,
        "click_rate": distinct("CLICKED") / delivered,
        "bounces": count("BOUNCED"),
        "unsubscribes": count("UNSUBSCRIBED"),
        "conversions": count("CONVERTED"),
        "revenue": float(Decimal("49.90") * count("CONVERTED")),
    }


@pytest.fixture
async def loaded(pipeline: Pipeline) -> tuple[Pipeline, str]:
    prefix = uuid.uuid4().hex[:6]
    stray = [complete_event("EMAIL", "SENT", f"{pipeline.tenant_id}-other", f"{prefix}-elsewhere")]
    batch = [*events(pipeline.tenant_id, prefix), *stray]
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=batch))
    assert reply.accepted == len(batch), reply.rejected
    await poll_async(lambda: overview(pipeline), lambda found: found.total_campaigns == 3, within=30)
    await poll_async(
        lambda: overview(pipeline), lambda found: figures(found) == figures_expected(prefix), within=30
    )
    return pipeline, prefix


async def overview(pipeline: Pipeline, **fields: object) -> query_service_pb2.TenantOverview:
    return await pipeline.query.GetTenantOverview(
        query_service_pb2.GetTenantOverviewRequest(tenant_id=pipeline.tenant_id, **fields)
    )


def figures(found: query_service_pb2.TenantOverview) -> dict[str, dict[str, float]]:
    return {c.campaign_id: {m.id: m.value for m in c.metrics} for c in found.campaigns}


def figures_expected(prefix: str, machine: bool = False) -> dict[str, dict[str, float]]:
    return {f"{prefix}-{campaign}": expected(campaign, machine) for campaign in PLAN}


async def test_every_campaign_has_its_headline_figures(loaded: tuple[Pipeline, str]) -> None:
    pipeline, prefix = loaded
    found = await overview(pipeline)
    assert figures(found) == figures_expected(prefix)
    assert found.total_campaigns == 3 and not found.next_page_token
    with_machines = await overview(pipeline, include_machine_activity=True)
    assert figures(with_machines) == figures_expected(prefix, machine=True)
    assert figures(with_machines) != figures(found)
    # Rates come with the figures their base is: bounces of sent, unsubscribes of delivered.
    alpha = next(c for c in found.campaigns if c.campaign_id.endswith("alpha"))
    bounces = next(m for m in alpha.metrics if m.id == "bounces")
    assert bounces.rate_base_id == "sent" and bounces.rate == pytest.approx(2 / 10)
    revenue = next(m for m in alpha.metrics if m.id == "revenue")
    assert (revenue.amount, revenue.currency) == ("149.7", "EUR")


@pytest.mark.parametrize(
    ("sort_by", "ascending", "order"),
    [
        ("", False, ["charlie", "alpha", "bravo"]),  # by sent, largest first
        ("open_rate", False, ["alpha", "bravo", "charlie"]),
        ("open_rate", True, ["charlie", "bravo", "alpha"]),
        ("campaign_id", True, ["alpha", "bravo", "charlie"]),
    ],
)
async def test_campaigns_sort_and_page(
    loaded: tuple[Pipeline, str], sort_by: str, ascending: bool, order: list[str]
) -> None:
    pipeline, prefix = loaded
    first = await overview(pipeline, sort_by=sort_by, ascending=ascending, page_size=2)
    second = await overview(
        pipeline, sort_by=sort_by, ascending=ascending, page_size=2, page_token=first.next_page_token
    )
    listed = [c.campaign_id for c in (*first.campaigns, *second.campaigns)]
    assert listed == [f"{prefix}-{campaign}" for campaign in order]
    assert not second.next_page_token and first.total_campaigns == second.total_campaigns == 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sort_by": "profit"}, "sort_by"),
        ({"page_size": 1001}, "page_size"),
        ({"page_token": "nonsense"}, "page_token"),
        ({"tenant_id": ""}, "tenant_id"),
    ],
)
async def test_a_bad_overview_request_names_its_field(
    pipeline: Pipeline, fields: dict[str, object], field: str
) -> None:
    request = query_service_pb2.GetTenantOverviewRequest(**{"tenant_id": pipeline.tenant_id, **fields})
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pipeline.query.GetTenantOverview(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(field), raised.value.details()


async def test_a_page_token_of_another_sort_is_refused(loaded: tuple[Pipeline, str]) -> None:
    pipeline, _ = loaded
    first = await overview(pipeline, page_size=1)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await overview(pipeline, page_size=1, sort_by="campaign_id", page_token=first.next_page_token)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_comparison_is_each_campaigns_own_report(loaded: tuple[Pipeline, str]) -> None:
    pipeline, prefix = loaded
    campaigns = [f"{prefix}-alpha", f"{prefix}-bravo"]
    compared = await pipeline.query.CompareCampaigns(
        query_service_pb2.CompareCampaignsRequest(
            tenant_id=pipeline.tenant_id, campaign_ids=campaigns, tab="email"
        )
    )
    assert [c.campaign_id for c in compared.campaigns] == campaigns
    for side in compared.campaigns:
        report = await pipeline.query.GetReport(
            query_service_pb2.GetReportRequest(
                tenant_id=pipeline.tenant_id, campaign_id=side.campaign_id, tab="email"
            )
        )
        kpis = [w for w in report.widgets if w.kind == query_service_pb2.WIDGET_KIND_KPI]
        assert [(w.id, list(w.metrics)) for w in side.widgets] == [(w.id, list(w.metrics)) for w in kpis]
    sent = {
        side.campaign_id: next(
            m.value for w in side.widgets if w.id == "email_statistics" for m in w.metrics if m.id == "sent"
        )
        for side in compared.campaigns
    }
    assert sent == {f"{prefix}-alpha": 10, f"{prefix}-bravo": 5}


@pytest.mark.parametrize("ids", [[], ["a", "b", "c", "d"], ["a", "a"], ["a", "x" * 129], ["a", ""]])
async def test_a_comparison_takes_one_to_three_distinct_campaigns(pipeline: Pipeline, ids: list[str]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pipeline.query.CompareCampaigns(
            query_service_pb2.CompareCampaignsRequest(
                tenant_id=pipeline.tenant_id, campaign_ids=ids, tab="email"
            )
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("campaign_ids"), raised.value.details()
