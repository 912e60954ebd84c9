"""The query API through gRPC: the localised catalog, clear errors, unknown campaigns,
WatchReport freshness, the experiment winner, and DashboardService."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from helpers import email_event, poll_async
from pipeline import Pipeline, open_pipeline

from campaignreports import jetstream
from campaignreports.query.component import QueryComponent
from campaignreports.service import ServiceHost
from campaignreports.stack.processes import NatsServer
from campaignreports.telemetry import setup_telemetry
from campaignreports.v1 import (
    dashboard_service_pb2,
    dashboard_service_pb2_grpc,
    event_pb2,
    ingest_service_pb2,
    query_service_pb2,
)

pytestmark = pytest.mark.timeout(90)

CATALOG_SIZE = 65


def violation(error: grpc.aio.AioRpcError) -> str:
    """The field named by an INVALID_ARGUMENT / FAILED_PRECONDITION error's BadRequest details."""
    status = rpc_status.from_call(error)
    assert status is not None
    details = error_details_pb2.BadRequest()
    status.details[0].Unpack(details)
    return details.field_violations[0].field


async def test_list_widgets_in_every_locale(pipeline: Pipeline) -> None:
    by_locale = {}
    for locale in ("en", "fr", "sv", "nl", "de", "fr-CA", ""):
        reply = await pipeline.query.ListWidgets(query_service_pb2.ListWidgetsRequest(locale=locale))
        assert len(reply.widgets) == CATALOG_SIZE
        assert all(w.title and w.description and w.metric_ids and w.tab and w.kind for w in reply.widgets)
        by_locale[locale] = {w.id: (w.title, w.description) for w in reply.widgets}
    assert by_locale["de"] == by_locale["en"] == by_locale[""]
    assert by_locale["fr-CA"] == by_locale["fr"]
    for locale in ("fr", "sv", "nl"):
        translated = sum(by_locale[locale][w] != by_locale["en"][w] for w in by_locale["en"])
        assert translated == CATALOG_SIZE, locale


def _range(
    start: datetime,
    end: datetime,
    timezone: str = "UTC",
    granularity: int = query_service_pb2.GRANULARITY_DAY,
) -> query_service_pb2.TimeWindow:
    window = query_service_pb2.TimeWindow(
        range=query_service_pb2.TimeRange(timezone=timezone, granularity=granularity)
    )
    window.range.start.FromDatetime(start)
    window.range.end.FromDatetime(end)
    return window


NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"widget_id": "no_such_widget"}, "widget_id"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"campaign_id": ""}, "campaign_id"),
        ({"window": _range(NOW, NOW - timedelta(days=1))}, "window.range.end"),
        ({"window": _range(NOW, NOW)}, "window.range.end"),
        ({"window": _range(NOW - timedelta(days=1), NOW, "Europe/Atlantis")}, "window.range.timezone"),
        ({"window": _range(NOW - timedelta(days=500), NOW)}, "window.range.start"),
        ({"window": query_service_pb2.TimeWindow(range=query_service_pb2.TimeRange())}, "window.range.start"),
        (
            {
                "window": _range(
                    NOW - timedelta(days=1), NOW, granularity=query_service_pb2.GRANULARITY_FIVE_MINUTES
                )
            },
            "window.range.granularity",
        ),
        (
            {"window": query_service_pb2.TimeWindow(live=query_service_pb2.LiveWindow(granularity=2))},
            "window.live.granularity",
        ),
    ],
)
async def test_bad_widget_requests_name_the_field(
    pipeline: Pipeline, request_fields: dict, field: str
) -> None:
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id="c", widget_id="email_statistics"
    )
    for name, value in request_fields.items():
        if name == "window":
            request.window.CopyFrom(value)
        else:
            setattr(request, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await pipeline.query.GetWidget(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violation(error.value) == field
    assert field in error.value.details()


async def test_bad_report_requests_name_the_field(pipeline: Pipeline) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await pipeline.query.GetReport(
            query_service_pb2.GetReportRequest(tenant_id=pipeline.tenant_id, campaign_id="c", tab="emails")
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and violation(error.value) == "tab"
    ranged = query_service_pb2.GetReportRequest(tenant_id=pipeline.tenant_id, campaign_id="c", tab="email")
    ranged.window.CopyFrom(_range(NOW - timedelta(days=1), NOW))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for _ in pipeline.query.WatchReport(ranged):
            pass
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and violation(error.value) == "window"


async def test_unknown_campaign_is_zeros_not_an_error(pipeline: Pipeline) -> None:
    for window in (None, _range(NOW - timedelta(days=3), NOW, "Asia/Kolkata")):
        request = query_service_pb2.GetReportRequest(
            tenant_id=pipeline.tenant_id, campaign_id="nobody", tab="email"
        )
        if window is not None:
            request.window.CopyFrom(window)
        report = await pipeline.query.GetReport(request)
        assert len(report.widgets) == 23
        for widget in report.widgets:
            assert all(m.value == 0 and m.rate in (0, 0.0) for m in widget.metrics)
            assert not widget.rows
            for series in widget.series:
                assert series.points and all(p.value == 0 for p in series.points)
        summary = next(w for w in report.widgets if w.id == "email_summary")
        assert len(summary.series[0].points) == (1441 if window is None else 4)


@pytest.mark.alone
async def test_watch_report_sends_a_new_report_within_two_seconds_of_an_event(pipeline: Pipeline) -> None:
    campaign = f"watch-{uuid.uuid4().hex[:6]}"
    request = query_service_pb2.GetReportRequest(
        tenant_id=pipeline.tenant_id, campaign_id=campaign, tab="email"
    )
    stream = pipeline.query.WatchReport(request)
    reports = stream.__aiter__()
    first = await asyncio.wait_for(reports.__anext__(), 5)
    assert first.as_of.seconds > 0
    sent_before = next(
        m.value for w in first.widgets if w.id == "email_statistics" for m in w.metrics if m.id == "sent"
    )
    assert sent_before == 0
    event = email_event(pipeline.tenant_id, campaign, event_pb2.EVENT_TYPE_SENT, "p1")
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[event]))
    acknowledged = time.monotonic()
    assert reply.accepted == 1

    def sent(report: query_service_pb2.Report) -> float:
        return next(
            m.value for w in report.widgets if w.id == "email_statistics" for m in w.metrics if m.id == "sent"
        )

    # A report may come between (the live window moves on at a minute boundary): the first one
    # with the event counts.
    second = await asyncio.wait_for(reports.__anext__(), 5)
    while sent(second) == 0 and time.monotonic() - acknowledged < 2.0:
        second = await asyncio.wait_for(reports.__anext__(), 5)
    latency = time.monotonic() - acknowledged
    assert sent(second) == 1
    assert latency < 2.0, latency
    # At most one report a second, however quickly the numbers change.
    assert second.as_of.ToDatetime() - first.as_of.ToDatetime() >= timedelta(seconds=0.9)
    stream.cancel()


async def test_viewers_of_one_live_report_share_its_reads(pipeline: Pipeline) -> None:
    """Ten streams of the same report get reports of the same reads (the same read times);
    a stream in another locale, or in other display buckets, reads for itself."""
    request = query_service_pb2.GetReportRequest(
        tenant_id=pipeline.tenant_id, campaign_id=f"shared-{uuid.uuid4().hex[:6]}", tab="sms"
    )
    french = query_service_pb2.GetReportRequest()
    french.CopyFrom(request)
    french.locale = "fr"
    hourly = query_service_pb2.GetReportRequest()
    hourly.CopyFrom(request)
    hourly.window.live.granularity = query_service_pb2.GRANULARITY_HOUR
    streams = [pipeline.query.WatchReport(request) for _ in range(10)]
    streams += [pipeline.query.WatchReport(french), pipeline.query.WatchReport(hourly)]
    try:
        firsts = await asyncio.wait_for(
            asyncio.gather(*(stream.__aiter__().__anext__() for stream in streams)), 10
        )
    finally:
        for stream in streams:
            stream.cancel()
    english_reads = {report.as_of.ToNanoseconds() for report in firsts[:10]}
    assert len(english_reads) <= 3, f"{len(english_reads)} reads for 10 viewers"
    english_titles = [w.title for w in firsts[0].widgets]
    assert all([w.title for w in report.widgets] == english_titles for report in firsts[:10])
    assert [w.title for w in firsts[10].widgets] != english_titles
    points = {
        len(w.series[0].points) for report in (firsts[0], firsts[11]) for w in report.widgets if w.series
    }
    assert points == {1441, 25}


def _experiment_events(
    tenant: str, campaign: str, clicks_per_thousand: dict[str, int]
) -> list[event_pb2.Event]:
    events = []
    at = NOW - timedelta(minutes=30)
    for treatment, clicks in clicks_per_thousand.items():
        for i in range(1000):
            profile = f"{treatment}-{i}"
            types = [event_pb2.EVENT_TYPE_SENT, event_pb2.EVENT_TYPE_DELIVERED]
            if i < 300:
                types.append(event_pb2.EVENT_TYPE_OPENED)
            if i < clicks:
                types.append(event_pb2.EVENT_TYPE_CLICKED)
            for event_type in types:
                url = "https://example.com/offer" if event_type == event_pb2.EVENT_TYPE_CLICKED else ""
                event = email_event(
                    tenant, campaign, event_type, profile, when=at, treatment_id=treatment, url=url
                )
                events.append(event)
    return events


async def _experiment(pipeline: Pipeline, campaign: str, control: str = "") -> dict[str, dict[str, float]]:
    widget = await pipeline.query.GetWidget(
        query_service_pb2.GetWidgetRequest(
            tenant_id=pipeline.tenant_id,
            campaign_id=campaign,
            widget_id="experiment_treatments",
            control_treatment_id=control,
        )
    )
    return {row.key: {m.id: m.value for m in row.metrics} for row in widget.rows}


@pytest.mark.parametrize(("clicks", "winner"), [({"a": 100, "b": 250}, "b"), ({"a": 120, "b": 120}, None)])
async def test_experiment_names_a_winner_only_when_significant(
    pipeline: Pipeline, clicks: dict[str, int], winner: str | None
) -> None:
    campaign = f"exp-{uuid.uuid4().hex[:6]}"
    events = _experiment_events(pipeline.tenant_id, campaign, clicks)
    for start in range(0, len(events), 5000):
        reply = await pipeline.ingest.Ingest(
            ingest_service_pb2.IngestRequest(events=events[start : start + 5000])
        )
        assert reply.accepted == len(events[start : start + 5000])
    rows = await poll_async(
        lambda: _experiment(pipeline, campaign),
        lambda r: (
            sum(v["delivered"] for v in r.values()) == 2000
            and sum(v["distinct_clicks"] for v in r.values()) == sum(clicks.values())
        ),
    )
    assert list(rows) == ["a", "b"]
    assert rows["a"]["click_rate"] == clicks["a"] / 1000
    winners = [key for key, values in rows.items() if values["winner"] == 1]
    assert winners == ([winner] if winner else [])
    if winner:
        assert rows["b"]["click_rate_lift"] == pytest.approx(1.5)
        assert rows["b"]["click_rate_p_value"] < 0.001 and rows["b"]["significant"] == 1
        against_b = await _experiment(pipeline, campaign, control="b")
        assert against_b["a"]["click_rate_lift"] == pytest.approx(-0.6)
    else:
        assert rows["b"]["click_rate_p_value"] == pytest.approx(1.0)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _experiment(pipeline, campaign, control="z")
    assert violation(error.value) == "control_treatment_id"


# ---- DashboardService ----------------------------------------------------------------------


def _placement(widget_id: str, x: int = 0, view: str = "table") -> dashboard_service_pb2.WidgetPlacement:
    return dashboard_service_pb2.WidgetPlacement(widget_id=widget_id, x=x, y=0, width=6, height=3, view=view)


async def test_dashboards_save_get_conflict_reset_and_validate(pipeline: Pipeline) -> None:
    dashboards = pipeline.dashboards
    who = {"tenant_id": pipeline.tenant_id, "user_id": "ana@example.com", "tab": "push"}
    default = await dashboards.GetDashboard(dashboard_service_pb2.GetDashboardRequest(**who))
    assert default.revision == 0
    assert [p.widget_id for p in default.placements][:2] == ["push_sending_performance", "push_statistics"]
    assert len(default.placements) == 14

    mine = [
        _placement("push_statistics", view="graph"),
        _placement("push_breakdown_by_platform", x=6, view="donut"),
    ]
    saved = await dashboards.SaveDashboard(
        dashboard_service_pb2.SaveDashboardRequest(**who, placements=mine, expected_revision=0)
    )
    assert saved.revision > 0 and list(saved.placements) == mine
    assert await dashboards.GetDashboard(dashboard_service_pb2.GetDashboardRequest(**who)) == saved
    # Another user and another tenant still see the default.
    other_user = await dashboards.GetDashboard(
        dashboard_service_pb2.GetDashboardRequest(**{**who, "user_id": "bo"})
    )
    other_tenant = await dashboards.GetDashboard(
        dashboard_service_pb2.GetDashboardRequest(**{**who, "tenant_id": "someone-else"})
    )
    assert other_user == default and other_tenant == default

    for stale in (0, saved.revision - 1 if saved.revision > 1 else saved.revision + 5):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await dashboards.SaveDashboard(
                dashboard_service_pb2.SaveDashboardRequest(
                    **who, placements=mine[:1], expected_revision=stale
                )
            )
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert violation(error.value) == "expected_revision"
    newer = await dashboards.SaveDashboard(
        dashboard_service_pb2.SaveDashboardRequest(
            **who, placements=mine[:1], expected_revision=saved.revision
        )
    )
    assert newer.revision > saved.revision and len(newer.placements) == 1

    bad_requests = [
        ({"placements": [_placement("email_statistics")]}, "placements[0].widget_id"),
        ({"placements": [_placement("no_such_widget")]}, "placements[0].widget_id"),
        ({"placements": [_placement("push_statistics", view="pie")]}, "placements[0].view"),
        ({"placements": [_placement("push_statistics", x=10)]}, "placements[0].x"),
        (
            {"placements": [_placement("push_statistics"), _placement("push_statistics")]},
            "placements[1].widget_id",
        ),
        ({"user_id": ""}, "user_id"),
        ({"tab": "pushes"}, "tab"),
    ]
    for fields, field in bad_requests:
        request = dashboard_service_pb2.SaveDashboardRequest(
            **{**who, **fields}, expected_revision=newer.revision
        )
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await dashboards.SaveDashboard(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert violation(error.value) == field

    reset = await dashboards.ResetDashboard(dashboard_service_pb2.ResetDashboardRequest(**who))
    assert reset == default
    assert await dashboards.GetDashboard(dashboard_service_pb2.GetDashboardRequest(**who)) == default
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await dashboards.SaveDashboard(
            dashboard_service_pb2.SaveDashboardRequest(
                **who, placements=mine, expected_revision=newer.revision
            )
        )
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    again = await dashboards.SaveDashboard(
        dashboard_service_pb2.SaveDashboardRequest(**who, placements=mine, expected_revision=0)
    )
    assert list(again.placements) == mine


async def test_watch_report_reads_again_when_the_aggregator_stores_the_campaign(
    nats_server: NatsServer, chdb_dsn: str
) -> None:
    """With an interval far longer than the test, only the stored-round notice can bring the
    second report."""
    async with open_pipeline(
        nats_server, chdb_dsn, with_aggregator=True, CR_QUERY_WATCH_INTERVAL_SECONDS="600"
    ) as pipeline:
        campaign = f"notice-{uuid.uuid4().hex[:6]}"
        request = query_service_pb2.GetReportRequest(
            tenant_id=pipeline.tenant_id, campaign_id=campaign, tab="email"
        )
        stream = pipeline.query.WatchReport(request)
        reports = stream.__aiter__()
        await asyncio.wait_for(reports.__anext__(), 5)
        event = email_event(pipeline.tenant_id, campaign, event_pb2.EVENT_TYPE_SENT, "p1")
        assert (await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[event]))).accepted == 1
        second = await asyncio.wait_for(reports.__anext__(), 20)
        sent = next(
            m.value for w in second.widgets if w.id == "email_statistics" for m in w.metrics if m.id == "sent"
        )
        assert sent == 1
        stream.cancel()


async def test_dashboards_survive_a_restart_of_the_service(pipeline: Pipeline) -> None:
    who = {"tenant_id": pipeline.tenant_id, "user_id": "kim", "tab": "email"}
    mine = [_placement("email_top_links", view="donut")]
    saved = await pipeline.dashboards.SaveDashboard(
        dashboard_service_pb2.SaveDashboardRequest(**who, placements=mine, expected_revision=0)
    )
    # A new query service process: its own NATS connection, component and server.
    nc = await jetstream.connect(pipeline.settings, "restarted-query")
    component = QueryComponent(pipeline.clickhouse, nc, pipeline.settings, setup_telemetry("query", {}))
    host = ServiceHost("127.0.0.1:0", [component], 1)
    await host.start()
    try:
        async with grpc.aio.insecure_channel(host.address) as channel:
            restarted = dashboard_service_pb2_grpc.DashboardServiceStub(channel)
            assert await restarted.GetDashboard(dashboard_service_pb2.GetDashboardRequest(**who)) == saved
    finally:
        await host.stop()
        await jetstream.close(nc)


async def test_watch_streams_are_capped(nats_server: NatsServer, chdb_dsn: str) -> None:
    async with open_pipeline(
        nats_server, chdb_dsn, with_aggregator=False, CR_QUERY_MAX_WATCHERS="1"
    ) as pipeline:
        request = query_service_pb2.GetReportRequest(tenant_id=pipeline.tenant_id, campaign_id="c", tab="sms")
        first = pipeline.query.WatchReport(request)
        assert (await asyncio.wait_for(first.__aiter__().__anext__(), 5)).tab == "sms"
        with pytest.raises(grpc.aio.AioRpcError) as error:
            async for _ in pipeline.query.WatchReport(request):
                pass
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        first.cancel()
        await asyncio.sleep(0.2)
        again = pipeline.query.WatchReport(request)
        assert (await asyncio.wait_for(again.__aiter__().__anext__(), 5)).tab == "sms"
        again.cancel()


async def test_list_campaigns_newest_first_with_their_event_counts(pipeline: Pipeline) -> None:
    older, newer = NOW - timedelta(hours=3), NOW - timedelta(minutes=2)
    events = [
        email_event(pipeline.tenant_id, "older", event_pb2.EVENT_TYPE_SENT, f"p{i}", when=older)
        for i in range(3)
    ]
    first = NOW - timedelta(days=2)
    events.append(email_event(pipeline.tenant_id, "older", event_pb2.EVENT_TYPE_SENT, "p9", when=first))
    events.append(email_event(pipeline.tenant_id, "newer", event_pb2.EVENT_TYPE_SENT, "p", when=newer))
    events.append(email_event("someone-else", "theirs", event_pb2.EVENT_TYPE_SENT, "p", when=newer))
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    request = query_service_pb2.ListCampaignsRequest(tenant_id=pipeline.tenant_id)
    reply = await poll_async(
        lambda: pipeline.query.ListCampaigns(request), lambda r: [c.events for c in r.campaigns] == [1, 4]
    )
    assert [(c.campaign_id, c.events) for c in reply.campaigns] == [("newer", 1), ("older", 4)]
    assert reply.campaigns[0].last_event_at.ToDatetime(UTC) <= newer
    # The campaign's lifetime: from the quarter hour of its first event to that of its last.
    older_summary = reply.campaigns[1]
    quarter = first.replace(minute=first.minute - first.minute % 15, second=0, microsecond=0)
    assert older_summary.first_event_at.ToDatetime(UTC) == quarter
    assert older_summary.last_event_at.ToDatetime(UTC) > older - timedelta(minutes=15)
    limited = await pipeline.query.ListCampaigns(
        query_service_pb2.ListCampaignsRequest(tenant_id=pipeline.tenant_id, limit=1)
    )
    assert [c.campaign_id for c in limited.campaigns] == ["newer"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await pipeline.query.ListCampaigns(query_service_pb2.ListCampaignsRequest())
    assert violation(error.value) == "tenant_id"
