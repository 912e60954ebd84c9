"""Golden test: every widget of every tab, live and over ranges in three time zones, against
counts computed here from the generated events by plain Python.

Nothing below uses the service's metric table, catalog or bucketing: the expected content of
each widget is written from the metric definitions and the catalog directly. The campaign has two parts with
the same profiles: one in the last 23 hours (the live window), one around the most recent
daylight-saving change of New York (a 25- or 23-hour local day), so ranges cover both.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from google.protobuf import timestamp_pb2
from helpers import poll_async
from pipeline import Pipeline, open_pipeline

from campaignreports.demo.traffic import Campaign, batches, generate
from campaignreports.stack.processes import NatsServer
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(300)

TABS = ("campaign", "email", "sms", "push", "in_app", "web", "direct_mail", "experiment", "conversions")
WIDGET_COUNT = 65
ZONES = ("UTC", "Asia/Kathmandu", "America/New_York")


@dataclass(frozen=True)
class Ev:
    channel: str
    type: str
    profile: str
    at: datetime
    treatment_id: str
    reason: str
    bounce_category: str
    recipient_domain: str
    platform: str
    url: str
    interaction_type: str
    element_id: str
    is_machine: bool
    message_id: str
    ms: int  # occurred_at as stored: epoch milliseconds
    value: Decimal
    currency: str
    engaged_after_ms: int = -1  # set by `with_engagement`


def _key(enum: object, number: int, prefix: str) -> str:
    return enum.Name(number).removeprefix(prefix).lower() if number else ""  # type: ignore[attr-defined]


def plain(event: event_pb2.Event) -> Ev:
    return Ev(
        _key(event_pb2.Channel, event.channel, "CHANNEL_"),
        _key(event_pb2.EventType, event.type, "EVENT_TYPE_"),
        event.profile_id,
        event.occurred_at.ToDatetime(UTC),
        event.treatment_id,
        event.reason,
        _key(event_pb2.BounceCategory, event.bounce_category, "BOUNCE_CATEGORY_"),
        event.recipient_domain,
        _key(event_pb2.Platform, event.platform, "PLATFORM_"),
        event.url,
        event.interaction_type,
        event.element_id,
        event.is_machine,
        event.message_id,
        event.occurred_at.seconds * 1000 + event.occurred_at.nanos // 1_000_000,
        Decimal(event.conversion_value or 0),
        event.currency,
    )


def with_engagement(events: list[Ev]) -> list[Ev]:
    """The events, in the order they were sent, each with its time to engage as documented: on a
    profile's first human open (and first human click) of a message, the time since the
    earliest delivery of that message to it sent before; -1 on every other event."""
    delivered: dict[tuple[str, str, str], int] = {}
    engaged: set[tuple[str, str, str, str]] = set()
    timed = []
    for e in events:
        key = (e.message_id, e.channel, e.profile)
        after = -1
        if e.type == "delivered":
            delivered[key] = min(delivered.get(key, e.ms), e.ms)
        elif e.type in ("opened", "clicked") and not e.is_machine and (*key, e.type) not in engaged:
            engaged.add((*key, e.type))
            if key in delivered:
                after = max(e.ms - delivered[key], 0)
        timed.append(replace(e, engaged_after_ms=after))
    return timed


def exact_quantile(values: list[float], level: float) -> float:
    """The order statistic of rank ceil(n * level) (at least the first): the quantile the
    rollups' sketch reads, before it cuts the value to its first 8 significant bits."""
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * level), 1) - 1] if ordered else 0.0


# ---- the metric definitions, written out -------------------------------------------------------------


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# The error type of each reason the traffic generator sends, read off the documented mapping
# (docs/error-types.md) by hand.
ERROR_TYPE_OF = {
    "unknown_user": "unknown_user",
    "invalid_number": "unknown_user",
    "invalid_domain": "invalid_domain",
    "mailbox_full": "mailbox_full",
    "account_disabled": "account_disabled",
    "token_expired": "account_disabled",
    "refused": "refused",
    "carrier_blocked": "refused",
    "unreachable": "unreachable",
    "timeout": "unreachable",
    "absent_subscriber": "not_connected",
    "out_of_office": "other",
    "postmaster": "other",
    "quarantined_address": "other",
}
ERROR_TYPES = (
    "unknown_user",
    "invalid_domain",
    "mailbox_full",
    "account_disabled",
    "refused",
    "unreachable",
    "not_connected",
    "other",
)
FAILED = ("error", "bounced")


def error_type(e: Ev) -> str:
    return ERROR_TYPE_OF[e.reason] if e.type in FAILED else ""


def metric(name: str, events: list[Ev], machine: bool) -> float:
    """The value of one documented metric over `events` (already restricted to a channel and window)."""

    def n(event_type: str) -> int:
        return sum(1 for e in events if e.type == event_type)

    def human(event_type: str) -> list[Ev]:
        return [e for e in events if e.type == event_type and (machine or not e.is_machine)]

    def distinct(selected: Iterable[Ev]) -> int:
        return len({e.profile for e in selected})

    simple = {
        "targeted": "targeted",
        "excluded": "excluded",
        "sent": "sent",
        "delivered": "delivered",
        "bounces": "bounced",
        "errors": "error",
        "new_quarantines": "quarantined",
        "unsubscribes": "unsubscribed",
        "spam_complaints": "spam_complaint",
        "mirror_page_views": "mirror_page_viewed",
        "forwards": "forwarded",
        "actions": "action",
        "impressions": "impression",
        "interactions": "interaction",
    }
    if name in simple:
        return n(simple[name])
    if name.startswith("failures_"):
        return sum(
            1
            for e in events
            if e.type in FAILED and ERROR_TYPE_OF[e.reason] == name.removeprefix("failures_")
        )

    def delays(event_type: str) -> list[float]:
        return [e.engaged_after_ms / 1000 for e in events if e.type == event_type and e.engaged_after_ms >= 0]

    reached = (
        n("delivered")
        + n("impression")
        + sum(1 for e in events if e.type == "sent" and e.channel == "direct_mail")
    )
    computed: dict[str, Callable[[], float]] = {
        "conversions": lambda: n("converted"),
        "converters": lambda: distinct(e for e in events if e.type == "converted"),
        "conversion_rate": lambda: _ratio(distinct(e for e in events if e.type == "converted"), reached),
        "revenue": lambda: float(revenue(events)),
        "time_to_open_median": lambda: exact_quantile(delays("opened"), 0.5),
        "time_to_open_p90": lambda: exact_quantile(delays("opened"), 0.9),
        "time_to_click_median": lambda: exact_quantile(delays("clicked"), 0.5),
        "time_to_click_p90": lambda: exact_quantile(delays("clicked"), 0.9),
        "entered_profiles": lambda: distinct(e for e in events if e.type == "profile_entered"),
        "to_deliver": lambda: n("targeted") - n("excluded"),
        "opens": lambda: len(human("opened")),
        "clicks": lambda: len(human("clicked")),
        "distinct_opens": lambda: distinct(human("opened")),
        "distinct_clicks": lambda: distinct(human("clicked")),
        "machine_opens": lambda: sum(1 for e in events if e.type == "opened" and e.is_machine),
        "machine_clicks": lambda: sum(1 for e in events if e.type == "clicked" and e.is_machine),
        "unique_impressions": lambda: distinct(e for e in events if e.type == "impression"),
        "distinct_profiles": lambda: distinct(e for e in events if e.type == "interaction"),
        "engagements": lambda: len(human("opened")) + n("action"),
        "reactivity": lambda: _ratio(distinct(human("clicked")), distinct(human("opened"))),
        "open_rate": lambda: _ratio(distinct(human("opened")), n("delivered")),
        "click_rate": lambda: _ratio(distinct(human("clicked")), n("delivered")),
        "failures": lambda: n("error") + n("bounced"),
        "execution_errors": lambda: n("error") + n("bounced"),
        "successes": lambda: n("delivered"),
        "delivered_reactivity": lambda: _ratio(distinct(human("clicked")), n("delivered")),
        "mail_sent": lambda: sum(1 for e in events if e.type == "sent" and e.channel == "direct_mail"),
        "reached": lambda: reached,
    }
    return computed[name]()


def revenue(events: list[Ev]) -> Decimal:
    return sum((e.value for e in events if e.type == "converted"), Decimal(0))


# Metrics read from a sketch: within 2^-7 below the exact quantile (a float32's first 8
# significant bits are kept), never above it (but for the float32 rounding before the cut).
SKETCHED = {"time_to_open_median", "time_to_open_p90", "time_to_click_median", "time_to_click_p90"}


def _matches(metric_id: str, got: float, want: float) -> bool:
    if metric_id in SKETCHED:
        return want * (1 - 2**-7) - 1e-9 <= got <= want * (1 + 2**-23) + 1e-9
    return _close(got, want)


RATE_BASE = {
    "delivered": "sent",
    "bounces": "sent",
    "errors": "to_deliver",
    "new_quarantines": "to_deliver",
    "distinct_opens": "delivered",
    "distinct_clicks": "delivered",
    "unsubscribes": "delivered",
    "spam_complaints": "delivered",
    "excluded": "targeted",
    "to_deliver": "targeted",
    "failures": "sent",
    "execution_errors": "to_deliver",
    "successes": "to_deliver",
    "converters": "reached",
}

# ---- the widget catalog, written out -------------------------------------------------------------

SENDING = ["sent", "delivered", "bounces", "errors"]
TARGET_AUDIENCE = ["targeted", "to_deliver", "excluded"]
EXECUTION = ["to_deliver", "successes", "execution_errors", "new_quarantines"]
DELIVERY_SUMMARY = ["sent", "delivered", "failures", "distinct_clicks"]
# A funnel's steps, each step's rate taken against the step before it.
FUNNEL = ["targeted", "sent", "delivered", "distinct_opens", "distinct_clicks"]
FUNNELS = {"campaign_funnel", "email_funnel"}
TIME_TO_ENGAGE = ["time_to_open_median", "time_to_open_p90", "time_to_click_median", "time_to_click_p90"]
CONVERSIONS = ["conversions", "converters", "conversion_rate", "revenue"]
KPI: dict[str, tuple[str | None, list[str]]] = {
    "campaign_statistics": (None, ["entered_profiles"]),
    "campaign_funnel": (None, FUNNEL),
    "email_funnel": ("email", FUNNEL),
    "email_sending_statistics": ("email", ["targeted", *SENDING]),
    "email_statistics": (
        "email",
        [
            *SENDING,
            *("opens", "distinct_opens", "clicks", "distinct_clicks", "unsubscribes", "spam_complaints"),
            *("machine_opens", "machine_clicks"),
        ],
    ),
    "email_delivery_summary": (
        "email",
        ["sent", "delivered", "bounces", "distinct_opens", "distinct_clicks"],
    ),
    "email_target_audience": ("email", TARGET_AUDIENCE),
    "email_execution_statistics": ("email", EXECUTION),
    "email_tracking_indicators": (
        "email",
        ["successes", "distinct_opens", "opens", "unsubscribes", "mirror_page_views", "forwards"],
    ),
    "email_reaction_statistics": (
        "email",
        [
            "distinct_opens",
            "opens",
            "unsubscribes",
            "mirror_page_views",
            "forwards",
            "machine_opens",
            "machine_clicks",
        ],
    ),
    "email_clickstreams": ("email", ["distinct_clicks", "clicks", "reactivity"]),
    "inapp_performance": ("in_app", ["impressions", "unique_impressions", "interactions"]),
    "push_sending_performance": ("push", SENDING),
    "push_statistics": ("push", [*SENDING, "opens", "actions", "engagements"]),
    "push_sending_failed": ("push", ["errors", "bounces"]),
    "push_delivery_summary": ("push", DELIVERY_SUMMARY),
    "push_target_audience": ("push", TARGET_AUDIENCE),
    "push_execution_statistics": ("push", EXECUTION),
    "push_clickstreams": ("push", ["distinct_clicks", "clicks", "reactivity"]),
    "sms_delivery_summary": ("sms", DELIVERY_SUMMARY),
    "sms_target_audience": ("sms", TARGET_AUDIENCE),
    "sms_execution_statistics": ("sms", EXECUTION),
    "sms_clickstreams": ("sms", ["distinct_clicks", "clicks", "delivered_reactivity"]),
    "sms_statistics": ("sms", ["targeted", "excluded", *SENDING, "clicks", "distinct_clicks"]),
    "web_performance": ("web", ["impressions", "unique_impressions", "interactions"]),
    "direct_mail_sending_statistics": ("direct_mail", ["targeted", "sent", "errors", "excluded"]),
    "email_time_to_engage": ("email", TIME_TO_ENGAGE),
    "push_time_to_engage": ("push", TIME_TO_ENGAGE),
    "conversions_summary": (None, CONVERSIONS),
}
SERIES: dict[str, tuple[str | None, list[str]]] = {
    "email_summary": (
        "email",
        ["sent", "delivered", "opens", "clicks", "bounces", "errors", "unsubscribes", "spam_complaints"],
    ),
    "email_performance_by_date": ("email", SENDING),
    "email_user_activities": ("email", ["opens", "clicks"]),
    "inapp_summary": ("in_app", ["impressions", "interactions"]),
    "push_sending_summary": ("push", ["sent", "delivered", "errors"]),
    "sms_performance_by_date": ("sms", SENDING),
    "web_summary": ("web", ["impressions", "unique_impressions", "interactions"]),
    "conversions_over_time": (None, ["conversions", "converters"]),
}


@dataclass(frozen=True)
class RowsSpec:
    channel: str | None
    field: str | Callable[[Ev], str]  # an event field, or what gives an event's row
    metrics: list[str]
    order_by: str | None = None  # None: the first metric; "key": by key
    limit: int | None = None
    compare: bool = False  # each treatment against the control (the experiment's comparison)

    def key(self, e: Ev) -> str:
        return self.field(e) if callable(self.field) else getattr(e, self.field)


# email_clicks_over_time: clicks per bucket of the five links with the most clicks in the window.
PER_LINK = RowsSpec("email", "url", ["clicks"], limit=5)


ROWS: dict[str, RowsSpec] = {
    "campaign_reach_by_channel": RowsSpec(
        None,
        "channel",
        ["reached", "targeted", "sent", "delivered", "impressions", "distinct_opens", "distinct_clicks"],
    ),
    "email_bounce_categories": RowsSpec("email", "bounce_category", ["bounces"]),
    "email_bounce_reasons": RowsSpec("email", "reason", ["bounces"]),
    "email_error_reasons": RowsSpec("email", "reason", ["errors"]),
    "email_excluded_reasons": RowsSpec("email", "reason", ["excluded"]),
    "email_top_recipient_domains": RowsSpec(
        "email",
        "recipient_domain",
        ["sent", "delivered", "bounces", "opens", "clicks", "spam_complaints", "reactivity"],
        order_by="opens",
        limit=10,
    ),
    "email_errors_by_type": RowsSpec("email", error_type, ["failures"]),
    "email_errors_by_domain": RowsSpec(
        "email",
        lambda e: e.recipient_domain if e.type in FAILED else "",
        ["failures", *(f"failures_{kind}" for kind in ERROR_TYPES)],
    ),
    "email_tracking_by_domain": RowsSpec(
        "email",
        "recipient_domain",
        ["sent", "spam_complaints", "distinct_opens", "distinct_clicks", "reactivity"],
        order_by="sent",
    ),
    "sms_top_links": RowsSpec("sms", "url", ["clicks", "distinct_clicks", "share"], limit=10),
    "email_top_links": RowsSpec("email", "url", ["clicks", "distinct_clicks", "share"], limit=10),
    "inapp_interactions_by_type": RowsSpec(
        "in_app", "interaction_type", ["interactions", "distinct_profiles"]
    ),
    "push_error_reasons": RowsSpec("push", "reason", ["errors"]),
    "push_excluded_reasons": RowsSpec("push", "reason", ["excluded"]),
    "push_breakdown_by_platform": RowsSpec("push", "platform", [*SENDING, "opens", "actions"]),
    "push_sending_by_platform": RowsSpec("push", "platform", ["sent", "delivered"]),
    "push_tracking_by_platform": RowsSpec(
        "push", "platform", ["opens", "actions", "engagements"], order_by="engagements"
    ),
    "sms_excluded_reasons": RowsSpec("sms", "reason", ["excluded"]),
    "sms_bounce_reasons": RowsSpec("sms", "reason", ["bounces"]),
    "sms_error_reasons": RowsSpec("sms", "reason", ["errors"]),
    "web_interactions_by_element": RowsSpec("web", "element_id", ["interactions", "distinct_profiles"]),
    "direct_mail_excluded_reasons": RowsSpec("direct_mail", "reason", ["excluded"]),
    "direct_mail_error_reasons": RowsSpec("direct_mail", "reason", ["errors"]),
    "experiment_treatments": RowsSpec(
        None,
        "treatment_id",
        ["sent", "delivered", "distinct_opens", "distinct_clicks", "open_rate", "click_rate"],
        order_by="key",
        compare=True,
    ),
    "experiment_conversions": RowsSpec(
        None, "treatment_id", ["converters", "conversion_rate", "revenue"], order_by="key"
    ),
    "conversions_by_channel": RowsSpec(None, "channel", CONVERSIONS),
    "conversions_by_link": RowsSpec(None, "url", ["conversions", "converters", "revenue"], limit=10),
}
# Derived, not counted
COUNTED_IN_ROW = {"reactivity", "share", "engagements", "open_rate", "click_rate", "conversion_rate"}

# ---- windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    zone: str
    granularity: str  # HOUR, DAY, WEEK, MONTH
    first_day: date
    last_day: date  # exclusive

    def bounds(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.zone)
        return (
            datetime.combine(self.first_day, time(0), zone).astimezone(UTC),
            datetime.combine(self.last_day, time(0), zone).astimezone(UTC),
        )

    def buckets(self) -> list[datetime]:
        """Local bucket starts, in UTC, by stepping local wall clock (hours: every UTC hour)."""
        zone = ZoneInfo(self.zone)
        start, end = self.bounds()
        starts: list[datetime] = []
        if self.granularity == "HOUR":
            moment = start
            while moment < end:
                local = moment.astimezone(zone)
                starts.append(local.replace(minute=0).astimezone(UTC))
                moment += timedelta(hours=1)
            return sorted(set(starts))
        day = self.first_day
        while datetime.combine(day, time(0), zone) < datetime.combine(self.last_day, time(0), zone):
            starts.append(datetime.combine(day, time(0), zone).astimezone(UTC))
            if self.granularity == "DAY":
                day += timedelta(days=1)
            elif self.granularity == "WEEK":
                day += timedelta(days=7)
            else:
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return starts

    def request(self) -> query_service_pb2.TimeWindow:
        start, end = self.bounds()
        time_range = query_service_pb2.TimeRange(
            timezone=self.zone,
            granularity=query_service_pb2.Granularity.Value(f"GRANULARITY_{self.granularity}"),
        )
        time_range.start.FromDatetime(start)
        time_range.end.FromDatetime(end)
        return query_service_pb2.TimeWindow(range=time_range)


def live_buckets(as_of: datetime, minutes: int = 1) -> list[datetime]:
    """The live window's minute buckets; or its display buckets of `minutes`: the window's first
    minute, then every UTC multiple of `minutes` up to the current minute."""
    first = (as_of - timedelta(hours=24)).replace(second=0, microsecond=0)
    count = int((as_of.replace(second=0, microsecond=0) - first) / timedelta(minutes=1)) + 1
    every_minute = [first + timedelta(minutes=i) for i in range(count)]
    return [first] + [m for m in every_minute[1:] if m.minute % minutes == 0]


def bucket_of(at: datetime, buckets: list[datetime]) -> datetime | None:
    """The last bucket start <= at, if `at` is inside the buckets' span (the caller checks the end)."""
    index = bisect.bisect_right(buckets, at)
    return buckets[index - 1] if index else None


def last_dst_change(zone: ZoneInfo, before: datetime) -> date:
    """The local date of the most recent UTC offset change before `before`."""
    day = before.astimezone(zone).date()
    while True:
        if (
            datetime.combine(day, time(0), zone).utcoffset()
            != datetime.combine(day + timedelta(days=1), time(0), zone).utcoffset()
        ):
            return day
        day -= timedelta(days=1)


# ---- expected content ----------------------------------------------------------------------


def p_value(s1: float, n1: float, s2: float, n2: float) -> float:
    if not n1 or not n2:
        return 1.0
    pooled = (s1 + s2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    return math.erfc(abs(s1 / n1 - s2 / n2) / math.sqrt(variance) / math.sqrt(2))


def expected_kpi(
    channel: str | None, names: list[str], events: list[Ev], machine: bool, funnel: bool = False
) -> dict:
    scoped = [e for e in events if channel is None or e.channel == channel]
    values = {m: metric(m, scoped, machine) for m in names}
    bases = dict(zip(names[1:], names, strict=False)) if funnel else RATE_BASE
    rates = {m: _ratio(values[m], metric(bases[m], scoped, machine)) for m in names if m in bases}
    return {"values": values, "rates": rates}


def expected_rows(spec: RowsSpec, events: list[Ev], machine: bool) -> list[tuple[str, dict[str, float]]]:
    scoped = [e for e in events if spec.channel is None or e.channel == spec.channel]
    groups: dict[str, list[Ev]] = defaultdict(list)
    for e in scoped:
        if spec.key(e):
            groups[spec.key(e)].append(e)
    all_clicks = metric("clicks", scoped, machine)
    rows = []
    for key, group in groups.items():
        values = {
            m: (
                _ratio(metric("clicks", group, machine), all_clicks)
                if m == "share"
                else metric(m, group, machine)
            )
            for m in spec.metrics
        }
        if any(values[m] > 0 for m in spec.metrics if m not in COUNTED_IN_ROW):
            rows.append((key, values))
    if spec.order_by == "key":
        rows.sort(key=lambda row: row[0])
    else:
        rows.sort(key=lambda row: (-row[1][spec.order_by or spec.metrics[0]], row[0]))
    rows = rows[: spec.limit]
    if spec.compare and rows:
        by_key = {key: [e for e in scoped if e.treatment_id == key] for key, _ in rows}
        control = rows[0][0]
        delivered = {k: metric("delivered", g, machine) for k, g in by_key.items()}
        opens = {k: metric("distinct_opens", g, machine) for k, g in by_key.items()}
        clicks = {k: metric("distinct_clicks", g, machine) for k, g in by_key.items()}
        alpha = 0.05 / max(len(rows) - 1, 1)
        best = max(by_key, key=lambda k: (_ratio(clicks[k], delivered[k]), k == control))
        best_wins = len(rows) > 1 and all(
            p_value(clicks[best], delivered[best], clicks[k], delivered[k]) < alpha
            and _ratio(clicks[best], delivered[best]) > _ratio(clicks[k], delivered[k])
            for k in by_key
            if k != best
        )
        for key, values in rows:
            open_c, click_c = (
                _ratio(opens[control], delivered[control]),
                _ratio(clicks[control], delivered[control]),
            )
            click_p = p_value(clicks[key], delivered[key], clicks[control], delivered[control])
            values |= {
                "open_rate_lift": _ratio(_ratio(opens[key], delivered[key]) - open_c, open_c),
                "click_rate_lift": _ratio(_ratio(clicks[key], delivered[key]) - click_c, click_c),
                "open_rate_p_value": p_value(opens[key], delivered[key], opens[control], delivered[control]),
                "click_rate_p_value": click_p,
                "significant": float(key != control and click_p < alpha),
                "winner": float(best_wins and key == best),
            }
    return rows


def expected_series(
    channel: str | None, names: list[str], events: list[Ev], buckets: list[datetime], machine: bool
) -> dict[str, list[tuple[datetime, float]]]:
    grouped: dict[datetime, list[Ev]] = defaultdict(list)
    for e in events:
        if channel is None or e.channel == channel:
            start = bucket_of(e.at, buckets)
            if start is not None:
                grouped[start].append(e)
    return {m: [(b, metric(m, grouped[b], machine)) for b in buckets] for m in names}


def _minute_after(as_of: timestamp_pb2.Timestamp) -> datetime:
    return as_of.ToDatetime(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)


# ---- comparison ----------------------------------------------------------------------------


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_widget(
    widget: query_service_pb2.Widget, events: list[Ev], buckets: list[datetime], machine: bool
) -> None:
    wid = widget.id
    if wid in KPI:
        channel, names = KPI[wid]
        want = expected_kpi(channel, names, events, machine, funnel=wid in FUNNELS)
        assert [m.id for m in widget.metrics] == names, wid
        scoped = [e for e in events if channel is None or e.channel == channel]
        for m in widget.metrics:
            assert _matches(m.id, m.value, want["values"][m.id]), (wid, m.id, m.value, want["values"][m.id])
            check_amount(m, scoped)
            if m.id in want["rates"]:
                assert m.HasField("rate") and _close(m.rate, want["rates"][m.id]), (wid, m.id)
            else:
                assert not m.HasField("rate"), (wid, m.id)
    elif wid == "email_clicks_over_time":
        links = [key for key, _ in expected_rows(PER_LINK, events, machine)]
        assert [(s.key, s.metric_id, s.label) for s in widget.series] == [(k, "clicks", k) for k in links]
        for series in widget.series:
            link_events = [e for e in events if e.url == series.key]
            want_points = expected_series("email", ["clicks"], link_events, buckets, machine)["clicks"]
            assert [(p.at.ToDatetime(UTC), p.value) for p in series.points] == want_points, series.key
    elif wid in ROWS:
        want_rows = expected_rows(ROWS[wid], events, machine)
        got = [(r.key, {m.id: m.value for m in r.metrics}) for r in widget.rows]
        assert [k for k, _ in got] == [k for k, _ in want_rows], wid
        for (key, values), (_, want_values) in zip(got, want_rows, strict=True):
            assert set(values) == set(want_values), (wid, key)
            for name, value in want_values.items():
                assert _close(values[name], value), (wid, key, name, values[name], value)
        spec = ROWS[wid]
        for row in widget.rows:
            in_row = [
                e
                for e in events
                if (spec.channel is None or e.channel == spec.channel) and spec.key(e) == row.key
            ]
            for m in row.metrics:
                check_amount(m, in_row)
    else:
        channel, names = SERIES[wid]
        want_series = expected_series(channel, names, events, buckets, machine)
        assert [s.metric_id for s in widget.series] == names, wid
        for series in widget.series:
            got_points = [(p.at.ToDatetime(UTC), p.value) for p in series.points]
            assert got_points == want_series[series.metric_id], (wid, series.metric_id)


def check_amount(m: query_service_pb2.Metric, events: list[Ev]) -> None:
    """A revenue is the exact decimal sum, in the conversions' one currency (EUR here)."""
    if m.unit != "currency":
        assert not m.amount and not m.currency, m.id
        return
    assert Decimal(m.amount) == revenue(events), (m.id, m.amount, revenue(events))
    assert m.currency == "EUR" or (m.currency == "" and Decimal(m.amount) == 0), m.currency


# ---- the test ------------------------------------------------------------------------------


@dataclass
class Golden:
    pipeline: Pipeline
    campaign_id: str
    events: list[Ev]
    dst_day: date


@pytest.fixture
async def golden(nats_server: NatsServer, chdb_dsn: str):
    # Old events are accepted back to the last DST change: raw retention as long as the global one.
    async with open_pipeline(
        nats_server, chdb_dsn, with_aggregator=True, CR_RETENTION_DAYS="400"
    ) as pipeline:
        now = datetime.now(UTC)
        dst_day = last_dst_change(ZoneInfo("America/New_York"), now - timedelta(days=3))
        dst_moment = datetime.combine(dst_day, time(12), ZoneInfo("America/New_York")).astimezone(UTC)
        parts = [
            Campaign(pipeline.tenant_id, "golden", 1200, seed=11, now=now - timedelta(minutes=1)),
            Campaign(
                pipeline.tenant_id,
                "golden",
                1200,
                seed=12,
                now=dst_moment + timedelta(days=2),
                span=timedelta(days=4),
            ),
        ]
        live_part = list(generate(parts[0]))
        protos = [*live_part, *generate(parts[1])]
        accepted = 0
        for batch in batches(iter(protos), 2000):
            reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=batch))
            assert not reply.rejected, reply.rejected[0]
            accepted += reply.accepted
        assert accepted == len(protos)
        # Counted once every table has it: a round's `events` part can be visible a moment
        # before the rollups its views write (an insert is not atomic across tables).
        counted = (
            "SELECT (SELECT count() FROM {db}.events WHERE campaign_id = 'golden'),"
            " (SELECT sum(events) FROM {db}.rollup_15m WHERE campaign_id = 'golden' AND dimension = ''),"
            " (SELECT sum(events) FROM {db}.rollup_minute WHERE campaign_id = 'golden' AND dimension = ''"
            "  AND bucket >= now() - INTERVAL 24 HOUR)"
        )
        expected = (len(protos), len(protos), len(live_part))
        counts = await poll_async(
            lambda: asyncio.to_thread(lambda: tuple(pipeline.rows(counted)[0])),
            lambda found: found == expected,
            within=90,
        )
        assert counts == expected
        yield Golden(pipeline, "golden", with_engagement([plain(e) for e in protos]), dst_day)


async def _report(
    golden: Golden,
    tab: str,
    window: query_service_pb2.TimeWindow | None,
    machine: bool = False,
    message_id: str = "",
):
    request = query_service_pb2.GetReportRequest(
        tenant_id=golden.pipeline.tenant_id,
        campaign_id=golden.campaign_id,
        tab=tab,
        include_machine_activity=machine,
        message_id=message_id,
    )
    if window is not None:
        request.window.CopyFrom(window)
    return await golden.pipeline.query.GetReport(request)


async def test_every_widget_matches_independent_counts(golden: Golden) -> None:
    today = datetime.now(UTC).date()
    ranges = [
        Range(zone, "DAY", golden.dst_day - timedelta(days=3), today + timedelta(days=2)) for zone in ZONES
    ]
    ranges += [
        Range(
            "America/New_York", "HOUR", golden.dst_day - timedelta(days=1), golden.dst_day + timedelta(days=2)
        ),
        Range(
            "Asia/Kathmandu", "HOUR", golden.dst_day - timedelta(days=1), golden.dst_day + timedelta(days=2)
        ),
        Range(
            "America/New_York",
            "WEEK",
            golden.dst_day - timedelta(days=golden.dst_day.weekday() + 7),
            today + timedelta(days=7 - today.weekday()),
        ),
        Range(
            "Asia/Kathmandu",
            "MONTH",
            golden.dst_day.replace(day=1),
            date(today.year + today.month // 12, today.month % 12 + 1, 1),
        ),
    ]
    checked = Counter()
    for tab in TABS:
        report = await _report(golden, tab, None)
        as_of = report.as_of.ToDatetime(UTC)
        buckets = live_buckets(as_of)
        live_events = [e for e in golden.events if buckets[0] <= e.at < buckets[-1] + timedelta(minutes=1)]
        assert live_events and len(live_events) < len(golden.events)
        for widget in report.widgets:
            check_widget(widget, live_events, buckets, machine=False)
            checked["live"] += 1
        quarter_hours = query_service_pb2.TimeWindow(
            live=query_service_pb2.LiveWindow(granularity=query_service_pb2.GRANULARITY_FIFTEEN_MINUTES)
        )
        report = await _report(golden, tab, quarter_hours)
        buckets = live_buckets(report.as_of.ToDatetime(UTC), minutes=15)
        live_events = [e for e in golden.events if buckets[0] <= e.at < _minute_after(report.as_of)]
        for widget in report.widgets:
            check_widget(widget, live_events, buckets, machine=False)
            checked["live by quarter hour"] += 1
        for window in ranges:
            report = await _report(golden, tab, window.request())
            start, end = window.bounds()
            in_range = [e for e in golden.events if start <= e.at < end]
            for widget in report.widgets:
                assert (
                    widget.window_start.ToDatetime(UTC) == start and widget.window_end.ToDatetime(UTC) == end
                )
                check_widget(widget, in_range, window.buckets(), machine=False)
                checked[f"{window.zone} {window.granularity}"] += 1
    assert checked["live"] == WIDGET_COUNT, checked
    assert all(count == WIDGET_COUNT for count in checked.values()), checked
    # The data has what the widgets are about (the comparison is not vacuous).
    email = await _report(golden, "email", None)
    stats = {m.id: m.value for m in next(w for w in email.widgets if w.id == "email_statistics").metrics}
    assert stats["distinct_opens"] > 0 and stats["machine_opens"] > 0 and stats["machine_clicks"] > 0
    by_id = {w.id: w for w in email.widgets}
    assert len(by_id["email_errors_by_type"].rows) >= 5 and len(by_id["email_clicks_over_time"].series) == 5
    assert any(m.value > 0 for r in by_id["email_errors_by_domain"].rows for m in r.metrics[1:])
    for tab, widget_id in (("sms", "sms_execution_statistics"), ("push", "push_execution_statistics")):
        report = await _report(golden, tab, None)
        values = {m.id: m.value for w in report.widgets if w.id == widget_id for m in w.metrics}
        assert values["new_quarantines"] > 0 and values["execution_errors"] > 0, tab
    push = await _report(golden, "push", None)
    assert next(m.value for w in push.widgets if w.id == "push_clickstreams" for m in w.metrics) > 0
    for report, widget_id in ((email, "email_time_to_engage"), (push, "push_time_to_engage")):
        timed = {m.id: m.value for w in report.widgets if w.id == widget_id for m in w.metrics}
        assert timed["time_to_open_median"] > 0 and timed["time_to_click_p90"] > 0, timed
    conversions = await _report(golden, "conversions", None)
    summary = {m.id: m for w in conversions.widgets if w.id == "conversions_summary" for m in w.metrics}
    assert summary["converters"].value > 0 and summary["conversions"].value > summary["converters"].value / 2
    assert summary["revenue"].currency == "EUR" and Decimal(summary["revenue"].amount) > 0


async def test_machine_activity_is_separate_unless_included(golden: Golden) -> None:
    buckets_of = {}
    for machine in (False, True):
        report = await _report(golden, "email", None, machine=machine)
        buckets = live_buckets(report.as_of.ToDatetime(UTC))
        live_events = [e for e in golden.events if buckets[0] <= e.at < buckets[-1] + timedelta(minutes=1)]
        for widget in report.widgets:
            check_widget(widget, live_events, buckets, machine=machine)
        buckets_of[machine] = {w.id: {m.id: m.value for m in w.metrics} for w in report.widgets}
    excluded, included = buckets_of[False]["email_statistics"], buckets_of[True]["email_statistics"]
    assert included["opens"] == excluded["opens"] + excluded["machine_opens"]
    assert included["clicks"] == excluded["clicks"] + excluded["machine_clicks"]
    assert included["distinct_opens"] > excluded["distinct_opens"]


async def test_a_message_filter_counts_that_messages_events_only(golden: Golden) -> None:
    """Each tab, live and over days, for one wave of the email message: every widget equals the
    independent counts of that message's events alone."""
    message = "golden-email-wave-2"
    mine = [e for e in golden.events if e.message_id == message]
    assert 0 < len(mine) < len([e for e in golden.events if e.channel == "email"])
    window = Range(
        "UTC", "DAY", golden.dst_day - timedelta(days=3), datetime.now(UTC).date() + timedelta(days=2)
    )
    start, end = window.bounds()
    checked = 0
    for tab in TABS:
        report = await _report(golden, tab, None, message_id=message)
        buckets = live_buckets(report.as_of.ToDatetime(UTC))
        live = [e for e in mine if buckets[0] <= e.at < buckets[-1] + timedelta(minutes=1)]
        for widget in report.widgets:
            check_widget(widget, live, buckets, machine=False)
        report = await _report(golden, tab, window.request(), message_id=message)
        for widget in report.widgets:
            check_widget(widget, [e for e in mine if start <= e.at < end], window.buckets(), machine=False)
            checked += 1
    assert checked == WIDGET_COUNT
    email = {m.id: m.value for w in (await _report(golden, "email", None, message_id=message)).widgets
             if w.id == "email_statistics" for m in w.metrics}  # fmt: skip
    everything = {m.id: m.value for w in (await _report(golden, "email", None)).widgets
                  if w.id == "email_statistics" for m in w.metrics}  # fmt: skip
    assert (
        0 < email["sent"] < everything["sent"] and 0 < email["distinct_opens"] < everything["distinct_opens"]
    )


async def test_get_widget_answers_as_the_report_does(golden: Golden) -> None:
    report = await _report(golden, "push", None)
    for from_report in report.widgets:
        widget = await golden.pipeline.query.GetWidget(
            query_service_pb2.GetWidgetRequest(
                tenant_id=golden.pipeline.tenant_id, campaign_id=golden.campaign_id, widget_id=from_report.id
            )
        )
        assert list(widget.metrics) == list(from_report.metrics) and list(widget.rows) == list(
            from_report.rows
        )
        assert [s.metric_id for s in widget.series] == [s.metric_id for s in from_report.series]
