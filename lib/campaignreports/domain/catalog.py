"""The widget catalog as data, evaluated by the query engine.

A widget is a kind, the channel it counts (None: every channel), its metrics and, for `rows`
widgets, the event field it breaks counts down by, the metric ordering the rows and an
optional row limit. A `series` widget with a dimension draws one series per value: the
`limit` first values by its ordering metric over the window (clicks over time per link).
A dimension is a stored breakdown, one derived from a stored one when a report is read
(`DERIVED_DIMENSIONS`: error types from reasons), or the channel (`CHANNEL_DIMENSION`: each
row counts one channel's events). A funnel (`step_rates`) takes each metric's rate against the
metric before it. Titles, descriptions and labels live in
`texts`, per locale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from campaignreports.domain.errortypes import error_type
from campaignreports.domain.events import BREAKDOWN_FIELDS, CHANNEL_KEYS
from campaignreports.domain.experiment import COMPARISON_METRICS
from campaignreports.domain.metrics import (
    DELAY_LEVELS,
    FAILURES_BY_TYPE,
    METRICS,
    Aggregate,
    Counted,
    counted_dependencies,
    counted_inputs,
)


class Kind(Enum):
    KPI = "kpi"
    ROWS = "rows"
    SERIES = "series"


# How a dashboard shows a widget (WidgetPlacement.view).
VIEWS: tuple[str, ...] = ("graph", "table", "donut", "funnel")


@dataclass(frozen=True)
class WidgetDef:
    id: str
    tab: str
    kind: Kind
    channel: str | None  # the channel counted; None: every channel
    metric_ids: tuple[str, ...]
    dimension: str = ""  # rows: the event field the counts are broken down by
    order_by: str = ""  # rows: the metric ordering them, descending (default: the first)
    limit: int | None = None  # rows: at most this many
    order_by_key: bool = False  # rows: ordered by key instead of by a metric
    # rows: metrics added to each row by a comparison of the rows (the experiment's)
    comparison_metric_ids: tuple[str, ...] = ()
    view: str = "table"  # the default view on a dashboard
    step_rates: bool = False  # each metric's rate is against the metric before it (a funnel)

    def rate_base(self, metric_id: str) -> str | None:
        """The metric this widget takes `metric_id`'s rate against: the step before it in a
        funnel, else the metric's own rate base."""
        if self.step_rates:
            index = self.metric_ids.index(metric_id)
            return self.metric_ids[index - 1] if index else None
        return METRICS[metric_id].rate_base

    @property
    def ordering_metric(self) -> str:
        return self.order_by or self.metric_ids[0]

    @property
    def listed_metric_ids(self) -> tuple[str, ...]:
        """Every metric id the widget's content carries."""
        return self.metric_ids + self.comparison_metric_ids

    @property
    def counted_metric_ids(self) -> tuple[str, ...]:
        """The counted metrics the widget's own metrics add up (a row exists when one is > 0)."""
        return counted_inputs(self.metric_ids)


_SENDING = ("sent", "delivered", "bounces", "errors")
# The campaign report's sections, the same for email, SMS and push.
_TARGET_AUDIENCE = ("targeted", "to_deliver", "excluded")
_EXECUTION = ("to_deliver", "successes", "execution_errors", "new_quarantines")
_CLICKSTREAMS = ("distinct_clicks", "clicks", "reactivity")
# Targeted -> sent -> delivered -> opened -> clicked, each step's rate against the one before.
_FUNNEL = ("targeted", "sent", "delivered", "distinct_opens", "distinct_clicks")
_CONVERSIONS = ("conversions", "converters", "conversion_rate", "revenue")
_TIME_TO_ENGAGE = ("time_to_open_median", "time_to_open_p90", "time_to_click_median", "time_to_click_p90")


def _kpi(
    widget_id: str, tab: str, channel: str | None, metric_ids: tuple[str, ...], **kw: object
) -> WidgetDef:
    return WidgetDef(widget_id, tab, Kind.KPI, channel, metric_ids, **kw)  # type: ignore[arg-type]


def _rows(
    widget_id: str, tab: str, channel: str | None, dimension: str, *metric_ids: str, **kw: object
) -> WidgetDef:
    return WidgetDef(widget_id, tab, Kind.ROWS, channel, metric_ids, dimension=dimension, **kw)  # type: ignore[arg-type]


def _series(widget_id: str, tab: str, channel: str | None, *metric_ids: str, **kw: object) -> WidgetDef:
    return WidgetDef(widget_id, tab, Kind.SERIES, channel, metric_ids, view="graph", **kw)  # type: ignore[arg-type]


WIDGETS: dict[str, WidgetDef] = {
    w.id: w
    for w in (
        _kpi("campaign_statistics", "campaign", None, ("entered_profiles",)),
        _kpi("campaign_funnel", "campaign", None, _FUNNEL, view="funnel", step_rates=True),
        _rows(
            "campaign_reach_by_channel",
            "campaign",
            None,
            "channel",
            "reached",
            "targeted",
            "sent",
            "delivered",
            "impressions",
            "distinct_opens",
            "distinct_clicks",
            view="graph",
        ),
        _kpi("email_funnel", "email", "email", _FUNNEL, view="funnel", step_rates=True),
        _kpi("email_sending_statistics", "email", "email", ("targeted", *_SENDING)),
        _kpi(
            "email_statistics",
            "email",
            "email",
            (
                *_SENDING,
                "opens",
                "distinct_opens",
                "clicks",
                "distinct_clicks",
                "unsubscribes",
                "spam_complaints",
                "machine_opens",
                "machine_clicks",
            ),
        ),
        _series(
            "email_summary",
            "email",
            "email",
            "sent",
            "delivered",
            "opens",
            "clicks",
            "bounces",
            "errors",
            "unsubscribes",
            "spam_complaints",
        ),
        _series("email_performance_by_date", "email", "email", *_SENDING),
        _rows("email_bounce_categories", "email", "email", "bounce_category", "bounces", view="donut"),
        _rows("email_bounce_reasons", "email", "email", "reason", "bounces"),
        _rows("email_error_reasons", "email", "email", "reason", "errors"),
        _rows("email_excluded_reasons", "email", "email", "reason", "excluded"),
        _rows(
            "email_top_recipient_domains",
            "email",
            "email",
            "recipient_domain",
            "sent",
            "delivered",
            "bounces",
            "opens",
            "clicks",
            "spam_complaints",
            "reactivity",
            order_by="opens",
            limit=10,
        ),
        _kpi(
            "email_delivery_summary",
            "email",
            "email",
            ("sent", "delivered", "bounces", "distinct_opens", "distinct_clicks"),
        ),
        _kpi("email_target_audience", "email", "email", _TARGET_AUDIENCE),
        _kpi("email_execution_statistics", "email", "email", _EXECUTION),
        _kpi(
            "email_reaction_statistics",
            "email",
            "email",
            (
                "distinct_opens",
                "opens",
                "unsubscribes",
                "mirror_page_views",
                "forwards",
                "machine_opens",
                "machine_clicks",
            ),
        ),
        _kpi("email_clickstreams", "email", "email", _CLICKSTREAMS),
        _rows("email_errors_by_type", "email", "email", "error_type", "failures", view="donut"),
        _rows("email_errors_by_domain", "email", "email", "error_domain", "failures", *FAILURES_BY_TYPE),
        _kpi(
            "email_tracking_indicators",
            "email",
            "email",
            ("successes", "distinct_opens", "opens", "unsubscribes", "mirror_page_views", "forwards"),
        ),
        _rows(
            "email_tracking_by_domain",
            "email",
            "email",
            "recipient_domain",
            "sent",
            "spam_complaints",
            "distinct_opens",
            "distinct_clicks",
            "reactivity",
            order_by="sent",
        ),
        _rows("email_top_links", "email", "email", "url", "clicks", "distinct_clicks", "share", limit=10),
        _series("email_clicks_over_time", "email", "email", "clicks", dimension="url", limit=5),
        _series("email_user_activities", "email", "email", "opens", "clicks"),
        _kpi("email_time_to_engage", "email", "email", _TIME_TO_ENGAGE),
        _kpi("inapp_performance", "in_app", "in_app", ("impressions", "unique_impressions", "interactions")),
        _series("inapp_summary", "in_app", "in_app", "impressions", "interactions"),
        _rows(
            "inapp_interactions_by_type",
            "in_app",
            "in_app",
            "interaction_type",
            "interactions",
            "distinct_profiles",
            view="donut",
        ),
        _kpi("push_sending_performance", "push", "push", _SENDING),
        _kpi("push_statistics", "push", "push", (*_SENDING, "opens", "actions", "engagements")),
        _series("push_sending_summary", "push", "push", "sent", "delivered", "errors"),
        _kpi("push_sending_failed", "push", "push", ("errors", "bounces")),
        _rows("push_error_reasons", "push", "push", "reason", "errors"),
        _rows("push_excluded_reasons", "push", "push", "reason", "excluded"),
        _rows(
            "push_breakdown_by_platform",
            "push",
            "push",
            "platform",
            *_SENDING,
            "opens",
            "actions",
        ),
        _rows("push_sending_by_platform", "push", "push", "platform", "sent", "delivered", view="donut"),
        _rows(
            "push_tracking_by_platform",
            "push",
            "push",
            "platform",
            "opens",
            "actions",
            "engagements",
            order_by="engagements",
        ),
        # The campaign report's sections.
        _kpi("push_delivery_summary", "push", "push", ("sent", "delivered", "failures", "distinct_clicks")),
        _kpi("push_target_audience", "push", "push", _TARGET_AUDIENCE),
        _kpi("push_execution_statistics", "push", "push", _EXECUTION),
        _kpi("push_clickstreams", "push", "push", _CLICKSTREAMS),
        _kpi("push_time_to_engage", "push", "push", _TIME_TO_ENGAGE),
        _kpi(
            "sms_statistics",
            "sms",
            "sms",
            ("targeted", "excluded", *_SENDING, "clicks", "distinct_clicks"),
        ),
        _series("sms_performance_by_date", "sms", "sms", *_SENDING),
        _rows("sms_excluded_reasons", "sms", "sms", "reason", "excluded"),
        _rows("sms_bounce_reasons", "sms", "sms", "reason", "bounces"),
        _rows("sms_error_reasons", "sms", "sms", "reason", "errors"),
        # The campaign report's sections.
        _kpi("sms_delivery_summary", "sms", "sms", ("sent", "delivered", "failures", "distinct_clicks")),
        _kpi("sms_target_audience", "sms", "sms", _TARGET_AUDIENCE),
        _kpi("sms_execution_statistics", "sms", "sms", _EXECUTION),
        _kpi("sms_clickstreams", "sms", "sms", ("distinct_clicks", "clicks", "delivered_reactivity")),
        _rows("sms_top_links", "sms", "sms", "url", "clicks", "distinct_clicks", "share", limit=10),
        _kpi("web_performance", "web", "web", ("impressions", "unique_impressions", "interactions")),
        _series("web_summary", "web", "web", "impressions", "unique_impressions", "interactions"),
        _rows("web_interactions_by_element", "web", "web", "element_id", "interactions", "distinct_profiles"),
        _kpi(
            "direct_mail_sending_statistics",
            "direct_mail",
            "direct_mail",
            ("targeted", "sent", "errors", "excluded"),
        ),
        _rows("direct_mail_excluded_reasons", "direct_mail", "direct_mail", "reason", "excluded"),
        _rows("direct_mail_error_reasons", "direct_mail", "direct_mail", "reason", "errors"),
        _rows(
            "experiment_treatments",
            "experiment",
            None,
            "treatment_id",
            "sent",
            "delivered",
            "distinct_opens",
            "distinct_clicks",
            "open_rate",
            "click_rate",
            order_by_key=True,
            comparison_metric_ids=COMPARISON_METRICS,
        ),
        _rows(
            "experiment_conversions",
            "experiment",
            None,
            "treatment_id",
            "converters",
            "conversion_rate",
            "revenue",
            order_by_key=True,
        ),
        _kpi("conversions_summary", "conversions", None, _CONVERSIONS),
        _rows("conversions_by_channel", "conversions", None, "channel", *_CONVERSIONS),
        # A link reaches nobody by itself: no conversion rate per link.
        _rows(
            "conversions_by_link",
            "conversions",
            None,
            "url",
            "conversions",
            "converters",
            "revenue",
            limit=10,
        ),
        _series("conversions_over_time", "conversions", None, "conversions", "converters"),
    )
}

# Event fields the widgets break counts down by (the event field table's); the rollups keep one
# row per (dimension, value).
BREAKDOWN_DIMENSIONS: tuple[str, ...] = BREAKDOWN_FIELDS

# A dimension read from the rollups' channel column rather than from a breakdown: a row per
# channel (of CHANNELS), counted from the totals.
CHANNEL_DIMENSION = "channel"
CHANNELS: tuple[str, ...] = tuple(CHANNEL_KEYS.values())

# Two-dimensional breakdowns the rollups keep (name -> the two dimensions), e.g. error reasons
# by recipient domain. A value is the two values joined by PAIR_SEPARATOR, which no event
# field can contain (they must be printable).
BREAKDOWN_PAIRS: dict[str, tuple[str, str]] = {"reason_domain": ("reason", "recipient_domain")}
PAIR_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Derived:
    """A breakdown derived from a stored one when a report is read: `split` gives, for a stored
    value, the row it counts in and the error type of its events (for `Classified` metrics)."""

    source: str
    split: Callable[[str], tuple[str, str]]


def _by_error_type(reason: str) -> tuple[str, str]:
    kind = error_type(reason)
    return kind, kind


def _by_domain_and_error_type(pair: str) -> tuple[str, str]:
    reason, _, domain = pair.partition(PAIR_SEPARATOR)
    return domain, error_type(reason)


# Errors and bounces by error type, and by recipient domain with one column per type. Every
# email error and bounce carries a reason and a recipient domain (the validation matrix).
DERIVED_DIMENSIONS: dict[str, Derived] = {
    "error_type": Derived("reason", _by_error_type),
    "error_domain": Derived("reason_domain", _by_domain_and_error_type),
}


def stored_dimension(dimension: str) -> str:
    """The stored breakdown (or pair) a dimension is read from."""
    derived = DERIVED_DIMENSIONS.get(dimension)
    return derived.source if derived else dimension


TABS: tuple[str, ...] = (
    "campaign", "email", "sms", "push", "in_app", "web", "direct_mail", "experiment", "conversions"
)  # fmt: skip

# A campaign's headline figures in the tenant overview (every channel), read as a KPI widget.
TENANT_OVERVIEW = _kpi(
    "tenant_overview",
    "",
    None,
    ("sent", "delivered", "open_rate", "click_rate", "bounces", "unsubscribes", "conversions", "revenue"),
)


def tab_widgets(tab: str) -> list[WidgetDef]:
    """The widgets of one tab, in catalog order."""
    return [w for w in WIDGETS.values() if w.tab == tab]


for _widget in WIDGETS.values():
    assert _widget.tab in TABS, _widget
    assert all(metric_id in METRICS for metric_id in _widget.metric_ids), _widget
    _stored = stored_dimension(_widget.dimension)
    assert (_widget.kind is Kind.ROWS) <= (
        _stored in BREAKDOWN_DIMENSIONS or _stored in BREAKDOWN_PAIRS or _stored == CHANNEL_DIMENSION
    ), _widget
    # A row per channel counts the widget's metrics in each channel: the widget counts them all.
    assert _widget.dimension != CHANNEL_DIMENSION or _widget.channel is None, _widget
    assert not _widget.step_rates or _widget.kind is Kind.KPI, _widget
    assert not _widget.dimension or _widget.kind is not Kind.KPI, _widget
    # A series per value draws the values its ordering metric (events) ranks first.
    assert (
        _widget.kind is not Kind.SERIES
        or not _widget.dimension
        or (
            _widget.dimension in BREAKDOWN_DIMENSIONS
            and isinstance(source := METRICS[_widget.ordering_metric].source, Counted)
            and source.aggregate is Aggregate.EVENTS
        )
    ), _widget
    assert _widget.view in VIEWS, _widget
    # A series draws counts: amounts and time quantiles are read as totals and rows only.
    assert _widget.kind is not Kind.SERIES or all(
        METRICS[m].source.aggregate in (Aggregate.EVENTS, Aggregate.DISTINCT_PROFILES)  # type: ignore[union-attr]
        for m in counted_dependencies(_widget.metric_ids)
    ), _widget
    # Time-to-engage states are kept in the totals' rows only (the schema's ENGAGE_MEASURE): rows
    # per breakdown value show no time quantile (rows per channel are read from the totals).
    assert _stored in ("", CHANNEL_DIMENSION) or not any(
        isinstance(source := METRICS[m].source, Counted) and source.aggregate in DELAY_LEVELS
        for m in counted_dependencies(_widget.metric_ids)
    ), _widget
    # Rows derived from several stored values add their counts: distinct profiles do not add.
    assert _widget.dimension not in DERIVED_DIMENSIONS or all(
        isinstance(source := METRICS[m].source, Counted) and source.aggregate is Aggregate.EVENTS
        for m in counted_dependencies(_widget.metric_ids)
    ), _widget
