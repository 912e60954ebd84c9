"""QueryService: validates requests, calls the widget engine, translates results to protos."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
from google.protobuf import timestamp_pb2
from opentelemetry import metrics

from campaignreports import auth
from campaignreports.domain import texts
from campaignreports.domain.catalog import TABS, TENANT_OVERVIEW, WIDGETS, Kind, WidgetDef, tab_widgets
from campaignreports.domain.events import CHANNEL_KEYS, EVENT_TYPE_KEYS, PLATFORM_KEYS
from campaignreports.domain.validation import REQUEST_RULES, is_valid_timestamp
from campaignreports.domain.windows import Granularity, Window, WindowError, live_window, range_window
from campaignreports.grpcerrors import abort_field
from campaignreports.grpctypes import Context
from campaignreports.paging import PageTokenError, asked_window, page_token, request_digest, token_position
from campaignreports.query.engine import (
    MetricValue,
    MixedCurrenciesError,
    Scope,
    SeriesValue,
    UnknownControlError,
    WidgetEngine,
    WidgetResult,
    metric_infos,
    ranked_campaigns,
)
from campaignreports.query.shared_reads import SharedReads
from campaignreports.recipients import (
    DEFAULT_PAGE_SIZE,
    FILTER_COLUMNS,
    MAX_PAGE_SIZE,
    RecipientQuery,
    after_token,
    next_page_token,
    recipients_link,
)
from campaignreports.v1 import query_service_pb2 as pb
from campaignreports.v1 import query_service_pb2_grpc

_KINDS = {Kind.KPI: pb.WIDGET_KIND_KPI, Kind.ROWS: pb.WIDGET_KIND_ROWS, Kind.SERIES: pb.WIDGET_KIND_SERIES}
_GRANULARITIES = {
    pb.GRANULARITY_UNSPECIFIED: Granularity.DAY,
    pb.GRANULARITY_HOUR: Granularity.HOUR,
    pb.GRANULARITY_DAY: Granularity.DAY,
    pb.GRANULARITY_WEEK: Granularity.WEEK,
    pb.GRANULARITY_MONTH: Granularity.MONTH,
}
_LIVE_GRANULARITIES = {
    pb.GRANULARITY_UNSPECIFIED: Granularity.MINUTE,
    pb.GRANULARITY_MINUTE: Granularity.MINUTE,
    pb.GRANULARITY_FIVE_MINUTES: Granularity.FIVE_MINUTES,
    pb.GRANULARITY_FIFTEEN_MINUTES: Granularity.FIFTEEN_MINUTES,
    pb.GRANULARITY_HOUR: Granularity.HOUR,
}
Request = pb.GetWidgetRequest | pb.GetReportRequest
Windowed = Request | pb.ListRecipientsRequest | pb.GetTenantOverviewRequest | pb.CompareCampaignsRequest
MAX_COMPARED = 3
MAX_OVERVIEW_PAGE = 1000
OVERVIEW_SORTS = ("campaign_id", *TENANT_OVERVIEW.metric_ids)
# WatchReport sends at most one report a second (the API's promise), however often it reads.
WATCH_MIN_GAP_SECONDS = 1.0


def _compared(request: pb.CompareCampaignsRequest, campaign: str) -> pb.GetReportRequest:
    """One campaign's report request of a comparison (they share every other field)."""
    return pb.GetReportRequest(
        tenant_id=request.tenant_id,
        campaign_id=campaign,
        tab=request.tab,
        window=request.window,
        locale=request.locale,
        include_machine_activity=request.include_machine_activity,
        currency=request.currency,
    )


async def _require_campaign(request: Request | pb.ListRecipientsRequest, context: Context) -> None:
    for field in ("tenant_id", "campaign_id"):
        if not getattr(request, field):
            await abort_field(context, field, f"{field} is required")


def _recipients_link(widget: WidgetDef) -> pb.RecipientsLink | None:
    link = recipients_link(widget)
    if link is None:
        return None
    # Stored keys are the enum value names without their prefix, in lower case.
    return pb.RecipientsLink(
        event_type=f"EVENT_TYPE_{link.event_type.upper()}",
        channel=f"CHANNEL_{link.channel.upper()}" if link.channel else None,
        key_field=link.key_field,
    )


def _set_millis(stamp: timestamp_pb2.Timestamp, millis: int) -> None:
    stamp.seconds, remainder = divmod(millis, 1000)
    stamp.nanos = remainder * 1_000_000


def _timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _metric(m: MetricValue) -> pb.Metric:
    return pb.Metric(
        id=m.id,
        label=m.label,
        value=m.value,
        rate=m.rate,
        unit=m.unit,
        rate_base_id=m.rate_base,
        amount=m.amount,
        currency=m.currency,
    )


def _series(value: SeriesValue) -> pb.Series:
    series = pb.Series(metric_id=value.metric_id, label=value.label, key=value.key)
    starts = np.asarray(value.bucket_seconds, dtype=np.int64)
    if len(starts) and starts.min() >= _FIVE_BYTE_SECONDS[0] and starts.max() < _FIVE_BYTE_SECONDS[1]:
        series.MergeFromString(_encoded_points(starts, np.asarray(value.values, dtype="<f8")))
        return series
    add = series.points.add  # filling in place is several times faster than Point(...) per point
    for at, count in zip(value.bucket_seconds, value.values, strict=True):
        point = add()
        point.at.seconds = at
        point.value = count
    return series


# Seconds whose varint takes exactly 5 bytes: every time from 1978 to 3058.
_FIVE_BYTE_SECONDS = (1 << 28, 1 << 35)


def _encoded_points(starts: np.ndarray, values: np.ndarray) -> bytes:
    """`Series.points` in protobuf's wire format, built as one array: a live tab's 30,000
    points took 16 ms to add one by one (the whole 10M-event email tab's proto building), this
    takes well under one. Each point is 19 bytes: the field's tag and length, `at` (a
    Timestamp of 5-byte varint seconds), and `value` (a little-endian double)."""
    wire = np.empty((len(starts), 19), dtype=np.uint8)
    wire[:, :5] = (0x1A, 17, 0x0A, 6, 0x08)  # points (field 3, 17 bytes): at (field 1, 6 bytes): seconds
    for index in range(5):
        wire[:, 5 + index] = ((starts >> (7 * index)) & 0x7F) | (0x80 if index < 4 else 0)
    wire[:, 10] = 0x11  # value (field 2, 64-bit)
    wire[:, 11:] = values.view(np.uint8).reshape(-1, 8)
    return wire.tobytes()


def _to_proto(result: WidgetResult) -> pb.Widget:
    return pb.Widget(
        id=result.widget.id,
        title=result.title,
        description=result.description,
        kind=_KINDS[result.widget.kind],
        metrics=[_metric(m) for m in result.metrics],
        rows=[pb.Row(key=r.key, label=r.label, metrics=[_metric(m) for m in r.metrics]) for r in result.rows],
        series=[_series(s) for s in result.series],
        as_of=_timestamp(result.as_of),
        window_start=_timestamp(result.window.start),
        window_end=_timestamp(result.window.end),
    )


def _report(tab: str, results: list[WidgetResult], now: datetime) -> pb.Report:
    return pb.Report(tab=tab, widgets=[_to_proto(r) for r in results], as_of=_timestamp(now))


def _content(report: pb.Report) -> bytes:
    """A report's numbers and texts without its read times: what WatchReport compares."""
    unstamped = pb.Report()
    unstamped.CopyFrom(report)
    unstamped.ClearField("as_of")
    for widget in unstamped.widgets:
        widget.ClearField("as_of")
    return unstamped.SerializeToString(deterministic=True)


@contextlib.asynccontextmanager
async def _control_errors(context: Context) -> AsyncIterator[None]:
    """An unknown control treatment is the caller's error, reported on its field; amounts in
    several currencies need the caller to name one."""
    try:
        yield
    except UnknownControlError as exc:
        await abort_field(context, "control_treatment_id", str(exc))
    except MixedCurrenciesError as exc:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))


@dataclass
class _Watched:
    """A campaign shown by open WatchReport streams: the event of each stream, and the number of
    the last stored-round notice that named it."""

    wakers: set[asyncio.Event] = dataclasses.field(default_factory=set)
    version: int = 0


def _seconds_until(moment: datetime, now: datetime) -> float:
    """From `now` to just after `moment` (a read at `moment` itself may fall before it)."""
    return max((moment - now).total_seconds(), 0.0) + 0.02


async def _rest(until: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `until` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until.wait(), seconds)


class QueryServicer(query_service_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        engine: WidgetEngine,
        *,
        retention_days: int,
        raw_retention_days: int,
        watch_interval_seconds: float = 5.0,
        max_watchers: int = 256,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        meter: metrics.Meter | None = None,
    ) -> None:
        self._engine = engine
        self._retention_days = retention_days
        self._raw_retention_days = raw_retention_days
        self._watch_interval = watch_interval_seconds
        self._clock = clock
        self._closing = asyncio.Event()
        self._max_watchers = max_watchers
        self._watchers = 0
        # Streams showing the same live report share its reads (see SharedReads).
        self._watch_reads: SharedReads[tuple[pb.Report, bytes]] = SharedReads(watch_interval_seconds / 2)
        # The campaigns that open streams show, and how many stored-round notices there were.
        self._watched: dict[tuple[str, str], _Watched] = {}
        self._notices = 0
        meter = meter or metrics.NoOpMeter(__name__)
        self._streams = meter.create_up_down_counter(
            "query.watch.streams", description="WatchReport streams open"
        )
        meter.create_observable_counter(
            "query.shared_reads",
            [self._observe_shared_reads],
            description="Live report reads of WatchReport streams; `hit`: another stream's read served it",
        )

    def _observe_shared_reads(self, _: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        yield metrics.Observation(self._watch_reads.hits, {"hit": "true"})
        yield metrics.Observation(self._watch_reads.misses, {"hit": "false"})

    def close_streams(self) -> None:
        """End every WatchReport stream (at shutdown, so that the server can stop at once)."""
        self._closing.set()
        self.stored(None)

    async def ListWidgets(self, request: pb.ListWidgetsRequest, context: Context) -> pb.ListWidgetsResponse:
        infos = []
        for w in WIDGETS.values():
            title, description = texts.widget_text(w.id, request.locale)
            infos.append(
                pb.WidgetInfo(
                    id=w.id,
                    tab=w.tab,
                    kind=_KINDS[w.kind],
                    title=title,
                    description=description,
                    metric_ids=w.listed_metric_ids,
                    metrics=[
                        pb.MetricInfo(
                            id=info.id,
                            label=info.label,
                            definition=info.definition,
                            unit=info.unit,
                            numerator_id=info.numerator,
                            base_id=info.base,
                            rate_base_id=info.rate_base,
                        )
                        for info in metric_infos(w, request.locale)
                    ],
                    recipients=_recipients_link(w),
                )
            )
        return pb.ListWidgetsResponse(widgets=infos)

    async def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: Context
    ) -> pb.ListCampaignsResponse:
        if not request.tenant_id:
            await abort_field(context, "tenant_id", "tenant_id is required")
        if request.limit < 0:
            await abort_field(context, "limit", "limit must not be negative")
        await auth.require_tenant(context, request.tenant_id)
        found = await self._engine.campaigns(request.tenant_id, request.limit)
        return pb.ListCampaignsResponse(
            campaigns=[
                pb.CampaignSummary(
                    campaign_id=campaign,
                    last_event_at=_timestamp(latest),
                    events=events,
                    first_event_at=_timestamp(first),
                )
                for campaign, latest, events, first in found
            ]
        )

    async def ListRecipients(
        self, request: pb.ListRecipientsRequest, context: Context
    ) -> pb.ListRecipientsResponse:
        query = await self._recipient_query(request, context)
        found = await self._engine.recipients(query)
        page = found[: query.page_size]
        response = pb.ListRecipientsResponse()
        add = response.recipients.add  # in place: a page is up to 1,000 of them
        for profile, first_millis, last_millis, events in page:
            recipient = add(profile_id=profile, events=events)
            _set_millis(recipient.first_at, first_millis)
            _set_millis(recipient.last_at, last_millis)
        if len(found) > query.page_size:
            response.next_page_token = next_page_token(query, page[-1][0])
        return response

    async def _recipient_query(self, request: pb.ListRecipientsRequest, context: Context) -> RecipientQuery:
        await _require_campaign(request, context)
        event_type = EVENT_TYPE_KEYS.get(request.event_type)
        if event_type is None:
            await abort_field(
                context, "event_type", "event_type is required (an EventType other than UNSPECIFIED)"
            )
        enums = {"channel": (request.channel, CHANNEL_KEYS), "platform": (request.platform, PLATFORM_KEYS)}
        keys = {}
        for field, (number, known) in enums.items():
            if number and number not in known:
                await abort_field(context, field, f"{field} {number} is not a value of the contract's enum")
            keys[field] = known.get(number, "")
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            await abort_field(
                context, "page_size", f"page_size is 1 to {MAX_PAGE_SIZE} (0: {DEFAULT_PAGE_SIZE})"
            )
        await auth.require_tenant(context, request.tenant_id)
        now = self._clock()
        window = await self._checked_window(request, context, now)
        kept_from = now - timedelta(days=self._raw_retention_days)
        if window.start < kept_from:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"recipients are read from raw events, which are kept {self._raw_retention_days} days "
                f"(CR_RETENTION_DAYS): the window starts at {window.start:%Y-%m-%d %H:%M} UTC, before "
                f"{kept_from:%Y-%m-%d %H:%M} UTC; the report's figures come from rollups kept longer",
            )
        given = {column: getattr(request, column) for column in FILTER_COLUMNS} | {
            "platform": keys["platform"]
        }
        query = RecipientQuery(
            tenant_id=request.tenant_id,
            campaign_id=request.campaign_id,
            event_type=event_type,
            channel=keys["channel"],
            start=window.start,
            end=window.end,
            filters=tuple((column, value) for column, value in given.items() if value),
            include_machine_activity=request.include_machine_activity,
            page_size=request.page_size or DEFAULT_PAGE_SIZE,
            asked_window=asked_window(request.window),
        )
        try:
            return dataclasses.replace(query, after=after_token(query, request.page_token))
        except PageTokenError as exc:
            await abort_field(context, "page_token", str(exc))

    async def GetTenantOverview(
        self, request: pb.GetTenantOverviewRequest, context: Context
    ) -> pb.TenantOverview:
        if not request.tenant_id:
            await abort_field(context, "tenant_id", "tenant_id is required")
        sort_by = request.sort_by or "sent"
        if sort_by not in OVERVIEW_SORTS:
            await abort_field(context, "sort_by", f"sort_by is one of {', '.join(OVERVIEW_SORTS)}")
        if not 0 <= request.page_size <= MAX_OVERVIEW_PAGE:
            await abort_field(context, "page_size", f"page_size is 1 to {MAX_OVERVIEW_PAGE} (0: 50)")
        await auth.require_tenant(context, request.tenant_id)
        window = await self._checked_window(request, context, self._clock())
        digest = request_digest(
            request.tenant_id,
            asked_window(request.window),
            request.include_machine_activity,
            sort_by,
            request.ascending,
            request.currency,
        )
        try:
            offset = int(token_position(request.page_token, digest, int)) if request.page_token else 0
        except PageTokenError as exc:
            await abort_field(context, "page_token", str(exc))
        async with _control_errors(context):
            found = await self._engine.overview(
                TENANT_OVERVIEW,
                request.tenant_id,
                window,
                request.include_machine_activity,
                request.currency,
            )
        ordered = ranked_campaigns(found, sort_by, ascending=request.ascending)
        end = offset + (request.page_size or 50)
        return pb.TenantOverview(
            campaigns=[
                pb.CampaignFigures(
                    campaign_id=figures.campaign_id,
                    metrics=[_metric(m) for m in figures.metrics(TENANT_OVERVIEW, request.locale)],
                )
                for figures in ordered[offset:end]
            ],
            next_page_token=page_token(end, digest) if end < len(ordered) else "",
            total_campaigns=len(ordered),
            window_start=_timestamp(window.start),
            window_end=_timestamp(window.end),
        )

    async def CompareCampaigns(
        self, request: pb.CompareCampaignsRequest, context: Context
    ) -> pb.CampaignComparison:
        campaigns = list(request.campaign_ids)
        if not 1 <= len(campaigns) <= MAX_COMPARED or len(set(campaigns)) != len(campaigns):
            await abort_field(
                context, "campaign_ids", f"campaign_ids holds 1 to {MAX_COMPARED} campaigns, each once"
            )
        for campaign in campaigns:
            problem = REQUEST_RULES["campaign_id"].check(campaign) if campaign else "campaign_id is empty"
            if problem is not None:
                await abort_field(context, "campaign_ids", problem.replace("campaign_id", "a campaign id", 1))
        widgets = [w for w in await self._tab(request, context) if w.kind is Kind.KPI]
        now = self._clock()
        scopes = [await self._scope(_compared(request, campaign), context, now) for campaign in campaigns]
        results = await asyncio.gather(*(self._evaluate(widgets, scope, context, now) for scope in scopes))
        return pb.CampaignComparison(
            tab=request.tab,
            campaigns=[
                pb.ComparedCampaign(campaign_id=campaign, widgets=[_to_proto(r) for r in widgets_of])
                for campaign, widgets_of in zip(campaigns, results, strict=True)
            ],
            as_of=_timestamp(now),
        )

    async def GetWidget(self, request: pb.GetWidgetRequest, context: Context) -> pb.Widget:
        widget = WIDGETS.get(request.widget_id)
        if widget is None:
            await abort_field(context, "widget_id", f"unknown widget {request.widget_id!r}; see ListWidgets")
        now = self._clock()
        scope = await self._scope(request, context, now)
        results = await self._evaluate([widget], scope, context, now)
        return _to_proto(results[0])

    async def GetReport(self, request: pb.GetReportRequest, context: Context) -> pb.Report:
        widgets = await self._tab(request, context)
        now = self._clock()
        scope = await self._scope(request, context, now)
        return _report(request.tab, await self._evaluate(widgets, scope, context, now), now)

    async def WatchReport(self, request: pb.GetReportRequest, context: Context) -> AsyncIterator[pb.Report]:
        widgets = await self._tab(request, context)
        if request.HasField("window") and request.window.WhichOneof("kind") == "range":
            await abort_field(
                context, "window", "WatchReport serves the live window only; use GetReport for a range"
            )
        if self._watchers >= self._max_watchers:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self._watchers} WatchReport streams are open, the limit; poll GetReport or retry later",
            )
        self._watchers += 1
        self._streams.add(1)
        try:
            async for report in self._watch(request, widgets, context):
                yield report
        finally:
            self._watchers -= 1
            self._streams.add(-1)

    async def _watch(
        self, request: pb.GetReportRequest, widgets: list[WidgetDef], context: Context
    ) -> AsyncIterator[pb.Report]:
        """Read the report at once when the aggregator says it stored events of the campaign,
        when the live window moves on, and every interval (a lost notice); send it when it
        changed, at most once a second."""
        campaign = (request.tenant_id, request.campaign_id)
        watched = self._watched.setdefault(campaign, _Watched())
        wake = asyncio.Event()
        watched.wakers.add(wake)
        try:
            last_sent, sent_at = b"", -WATCH_MIN_GAP_SECONDS
            while not self._closing.is_set():
                wake.clear()
                now = self._clock()
                scope = await self._scope(request, context, now)  # checks the caller every time
                report, content = await self._shared_report(
                    request.tab, widgets, scope, context, now, watched.version
                )
                # Nothing changes the report but stored events (a notice wakes the stream) and the
                # window moving on at the minute's end; the interval only covers a lost notice.
                pause = min(self._watch_interval, _seconds_until(scope.window.end, now))
                if content != last_sent:
                    since = time.monotonic() - sent_at
                    if since >= WATCH_MIN_GAP_SECONDS:
                        yield report
                        last_sent, sent_at = content, time.monotonic()
                    else:  # a change within a second of the last report: read again the moment it may go
                        pause = min(pause, WATCH_MIN_GAP_SECONDS - since)
                await _rest(wake, pause)
                hold = WATCH_MIN_GAP_SECONDS - (time.monotonic() - sent_at)
                if wake.is_set() and hold > 0:  # woken too soon to send: read when it may go
                    await _rest(self._closing, hold)
        finally:
            watched.wakers.discard(wake)
            if not watched.wakers:
                del self._watched[campaign]

    def stored(self, campaigns: frozenset[tuple[str, str]] | None) -> None:
        """Wake the live streams of the campaigns a stored round changed (None: of every campaign)."""
        self._notices += 1
        named = self._watched.keys() if campaigns is None else campaigns & self._watched.keys()
        for campaign in named:
            watched = self._watched[campaign]
            watched.version = self._notices
            for wake in watched.wakers:
                wake.set()

    async def _shared_report(
        self,
        tab: str,
        widgets: list[WidgetDef],
        scope: Scope,
        context: Context,
        now: datetime,
        version: int,
    ) -> tuple[pb.Report, bytes]:
        """The live report and its content, read and built once for every stream showing it: the
        same scope, live window included (it moves a minute at a time, so a read never outlives
        its minute). `version` counts the stored-round notices of the campaign, so a read after a
        notice is never one from before."""
        key = (tab, version, scope)

        async def read() -> tuple[pb.Report, bytes]:
            report = _report(tab, await self._engine.evaluate(widgets, scope, now), now)
            return report, _content(report)

        async with _control_errors(context):
            return await self._watch_reads.get(key, read)

    async def _tab(
        self, request: pb.GetReportRequest | pb.CompareCampaignsRequest, context: Context
    ) -> list[WidgetDef]:
        if request.tab not in TABS:
            await abort_field(context, "tab", f"unknown tab {request.tab!r}; one of {', '.join(TABS)}")
        return tab_widgets(request.tab)

    async def _scope(self, request: Request, context: Context, now: datetime) -> Scope:
        await _require_campaign(request, context)
        await auth.require_tenant(context, request.tenant_id)
        window = await self._checked_window(request, context, now)
        return Scope(
            request.tenant_id,
            request.campaign_id,
            window,
            request.locale,
            request.include_machine_activity,
            getattr(request, "control_treatment_id", ""),
            request.message_id,
            request.currency,
        )

    async def _checked_window(self, request: Windowed, context: Context, now: datetime) -> Window:
        try:
            return self._window(request, now)
        except WindowError as exc:
            await abort_field(context, exc.field, str(exc))

    def _window(self, request: Windowed, now: datetime) -> Window:
        if not request.HasField("window") or request.window.WhichOneof("kind") != "range":
            granularity = request.window.live.granularity
            if granularity not in _LIVE_GRANULARITIES:
                raise WindowError(
                    "window.live.granularity",
                    "a live window has MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES or HOUR",
                )
            return live_window(now, _LIVE_GRANULARITIES[granularity])
        requested = request.window.range
        for bound in ("start", "end"):
            if not requested.HasField(bound):
                raise WindowError(f"window.range.{bound}", f"window.range.{bound} is required")
            stamp = getattr(requested, bound)
            if not is_valid_timestamp(stamp.seconds, stamp.nanos):
                raise WindowError(
                    f"window.range.{bound}", f"window.range.{bound} is not a timestamp of years 1 to 9999"
                )
        if requested.granularity not in _GRANULARITIES:
            known = requested.granularity in pb.Granularity.values()
            name = pb.Granularity.Name(requested.granularity) if known else str(requested.granularity)
            raise WindowError(
                "window.range.granularity", f"a range has HOUR, DAY, WEEK or MONTH buckets, not {name}"
            )
        return range_window(
            requested.start.ToDatetime(UTC),
            requested.end.ToDatetime(UTC),
            requested.timezone,
            _GRANULARITIES[requested.granularity],
            now=now,
            retention_days=self._retention_days,
        )

    async def _evaluate(
        self, widgets: list[WidgetDef], scope: Scope, context: Context, now: datetime
    ) -> list[WidgetResult]:
        async with _control_errors(context):
            return await self._engine.evaluate(widgets, scope, now)
