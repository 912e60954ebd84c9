"""Metric definitions as one table.

A metric is counted from the rollups (`Counted`: events of one type, or distinct profiles
with that type), or derived from other metrics: a signed sum (`Sum`: to_deliver, engagements),
a ratio (`Ratio`: open_rate, reactivity), a row's share of the widget's total (`Share`: a
link's share of all clicks), or one error type's part of a metric (`Classified`: the failures
whose reason is of type unknown_user). A metric may carry a rate base: the metric its `rate`
is a fraction of. Machine activity (opens and clicks flagged `is_machine`) is excluded from the
human metrics unless a request asks to include it, and is counted on its own by the machine_*
metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from campaignreports.domain.errortypes import ERROR_TYPES


class Aggregate(Enum):
    EVENTS = "events"
    DISTINCT_PROFILES = "distinct_profiles"
    # The sum of the events' conversion values, exact, in one currency.
    AMOUNT = "amount"
    # Quantiles of the time from a message's delivery to a profile's first human open or click
    # of it, in seconds (the event type says which), each within 0.79 % below the exact one.
    MEDIAN_DELAY = "median_delay"
    P90_DELAY = "p90_delay"


# The quantile level of each delay aggregate.
DELAY_LEVELS: dict[Aggregate, float] = {Aggregate.MEDIAN_DELAY: 0.5, Aggregate.P90_DELAY: 0.9}


class Machine(Enum):
    """Which events a metric counts with respect to the is_machine flag."""

    ANY = "any"
    HUMAN = "human"  # machine activity is left out unless the request includes it
    MACHINE_ONLY = "machine_only"


@dataclass(frozen=True)
class Counted:
    event_type: str
    aggregate: Aggregate = Aggregate.EVENTS
    machine: Machine = Machine.ANY
    channel: str | None = None  # events of this channel only, whatever channel a widget counts


@dataclass(frozen=True)
class Sum:
    """The sum of `plus` minus the sum of `minus`."""

    plus: tuple[str, ...]
    minus: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator as a fraction; 0 when the denominator is 0."""

    numerator: str
    denominator: str


@dataclass(frozen=True)
class Share:
    """A breakdown row's value of `of`, as a fraction of the whole (all rows and the rest)."""

    of: str


@dataclass(frozen=True)
class Classified:
    """The part of `of` whose events' reasons are of one error type (see `errortypes`); the
    query engine counts it per type, since a type is a group of reason codes."""

    of: str
    error_type: str


Source = Counted | Sum | Ratio | Share | Classified


@dataclass(frozen=True)
class MetricDef:
    id: str
    source: Source
    rate_base: str | None = None


def _count(metric_id: str, event_type: str, **kwargs: object) -> MetricDef:
    rate_base = kwargs.pop("rate_base", None)
    return MetricDef(metric_id, Counted(event_type, **kwargs), rate_base)  # type: ignore[arg-type]


_DISTINCT = Aggregate.DISTINCT_PROFILES
_HUMAN = Machine.HUMAN

METRICS: dict[str, MetricDef] = {
    m.id: m
    for m in (
        _count("entered_profiles", "profile_entered", aggregate=_DISTINCT),
        _count("targeted", "targeted"),
        _count("excluded", "excluded", rate_base="targeted"),
        MetricDef("to_deliver", Sum(("targeted",), ("excluded",)), rate_base="targeted"),
        _count("sent", "sent"),
        _count("delivered", "delivered", rate_base="sent"),
        _count("bounces", "bounced", rate_base="sent"),
        _count("errors", "error", rate_base="to_deliver"),
        _count("new_quarantines", "quarantined", rate_base="to_deliver"),
        _count("opens", "opened", machine=_HUMAN),
        _count("distinct_opens", "opened", aggregate=_DISTINCT, machine=_HUMAN, rate_base="delivered"),
        _count("clicks", "clicked", machine=_HUMAN),
        _count("distinct_clicks", "clicked", aggregate=_DISTINCT, machine=_HUMAN, rate_base="delivered"),
        _count("machine_opens", "opened", machine=Machine.MACHINE_ONLY),
        _count("machine_clicks", "clicked", machine=Machine.MACHINE_ONLY),
        _count("unsubscribes", "unsubscribed", rate_base="delivered"),
        _count("spam_complaints", "spam_complaint", rate_base="delivered"),
        _count("mirror_page_views", "mirror_page_viewed"),
        _count("forwards", "forwarded"),
        _count("actions", "action"),
        MetricDef("engagements", Sum(("opens", "actions"))),
        _count("impressions", "impression"),
        _count("mail_sent", "sent", channel="direct_mail"),
        # What reached its recipient in each channel: a delivery receipt, an in-app message or web
        # experience shown, or a direct mail piece sent (mail has no delivery receipt).
        MetricDef("reached", Sum(("delivered", "impressions", "mail_sent"))),
        _count("unique_impressions", "impression", aggregate=_DISTINCT),
        _count("interactions", "interaction"),
        _count("conversions", "converted"),
        _count("converters", "converted", aggregate=_DISTINCT, rate_base="reached"),
        _count("revenue", "converted", aggregate=Aggregate.AMOUNT),
        _count("time_to_open_median", "opened", aggregate=Aggregate.MEDIAN_DELAY),
        _count("time_to_open_p90", "opened", aggregate=Aggregate.P90_DELAY),
        _count("time_to_click_median", "clicked", aggregate=Aggregate.MEDIAN_DELAY),
        _count("time_to_click_p90", "clicked", aggregate=Aggregate.P90_DELAY),
        _count("distinct_profiles", "interaction", aggregate=_DISTINCT),
        MetricDef("open_rate", Ratio("distinct_opens", "delivered")),
        MetricDef("click_rate", Ratio("distinct_clicks", "delivered")),
        MetricDef("reactivity", Ratio("distinct_clicks", "distinct_opens")),
        MetricDef("delivered_rate", Ratio("delivered", "sent")),
        MetricDef("bounce_rate", Ratio("bounces", "sent")),
        MetricDef("error_rate", Ratio("errors", "to_deliver")),
        MetricDef("quarantine_rate", Ratio("new_quarantines", "to_deliver")),
        MetricDef("unsubscribe_rate", Ratio("unsubscribes", "delivered")),
        MetricDef("complaint_rate", Ratio("spam_complaints", "delivered")),
        MetricDef("conversion_rate", Ratio("converters", "reached")),
        MetricDef("share", Share("clicks")),
        # As the campaign report counts them: every message that failed, during sending (errors)
        # or in the automatic processing of returns afterwards (bounces).
        MetricDef("failures", Sum(("errors", "bounces")), rate_base="sent"),
        MetricDef("execution_errors", Sum(("errors", "bounces")), rate_base="to_deliver"),
        MetricDef("successes", Sum(("delivered",)), rate_base="to_deliver"),
        # SMS carry no opens: the recipients who received the message stand in for those who
        # opened it.
        MetricDef("delivered_reactivity", Ratio("distinct_clicks", "delivered")),
        *(MetricDef(f"failures_{kind}", Classified("failures", kind)) for kind in ERROR_TYPES),
    )
}

# The metrics of the non-deliverables by type, one per error type in the report's order.
FAILURES_BY_TYPE: tuple[str, ...] = tuple(f"failures_{kind}" for kind in ERROR_TYPES)


# Event types whose distinct profiles some metric counts: the rollups keep distinct-profile
# states for these only, since a state costs memory and query time per profile (SENT and
# DELIVERED states would make every query read every profile).
DISTINCT_PROFILE_TYPES: frozenset[str] = frozenset(
    m.source.event_type
    for m in METRICS.values()
    if isinstance(m.source, Counted) and m.source.aggregate is Aggregate.DISTINCT_PROFILES
)


def _inputs(metric: MetricDef) -> tuple[str, ...]:
    source = metric.source
    if isinstance(source, Sum):
        return source.plus + source.minus
    if isinstance(source, Ratio):
        return (source.numerator, source.denominator)
    if isinstance(source, Share | Classified):
        return (source.of,)
    return ()


def counted_inputs(metric_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The counted metrics that `metric_ids`' own values add up (through sums and error-type
    parts, not ratios, shares or rate bases): a breakdown row exists when one of them is > 0."""
    needed: dict[str, None] = {}

    def visit(metric_id: str) -> None:
        source = METRICS[metric_id].source
        if isinstance(source, Counted):
            needed[metric_id] = None
        elif isinstance(source, Sum | Classified):
            for input_id in _inputs(METRICS[metric_id]):
                visit(input_id)

    for metric_id in metric_ids:
        visit(metric_id)
    return tuple(needed)


def whole_dependencies(metric_ids: list[str] | tuple[str, ...]) -> list[str]:
    """The counted metrics that a breakdown row's `metric_ids` take from the whole (the
    campaign's totals): those of the shares among them and their inputs. A row computes
    everything else from its own counts."""
    needed: dict[str, None] = {}

    def visit(metric_id: str) -> None:
        metric = METRICS[metric_id]
        if isinstance(metric.source, Share):
            needed.update(dict.fromkeys(counted_dependencies([metric.source.of])))
        for input_id in _inputs(metric):
            visit(input_id)

    for metric_id in metric_ids:
        visit(metric_id)
    return list(needed)


def counted_dependencies(metric_ids: list[str] | tuple[str, ...]) -> list[str]:
    """Every counted metric needed to compute `metric_ids` and their rates, in stable order."""
    needed: dict[str, None] = {}

    def visit(metric_id: str) -> None:
        metric = METRICS[metric_id]
        if isinstance(metric.source, Counted):
            needed[metric_id] = None
        for input_id in _inputs(metric):
            visit(input_id)
        if metric.rate_base:
            visit(metric.rate_base)

    for metric_id in metric_ids:
        visit(metric_id)
    return list(needed)


def _fraction(numerator: float, denominator: float) -> float:
    """As a float whatever the inputs (a revenue is a Decimal)."""
    return float(numerator) / float(denominator) if denominator > 0 else 0.0


def evaluate(metric_id: str, counted: Mapping[str, float], whole: Mapping[str, float] | None = None) -> float:
    """The value of `metric_id` given the counted metrics (of a row, and of the `whole` for shares)."""
    source = METRICS[metric_id].source
    if isinstance(source, Counted):
        return counted[metric_id]
    if isinstance(source, Classified):
        return counted.get(metric_id, 0.0)
    if isinstance(source, Sum):
        return sum(evaluate(m, counted, whole) for m in source.plus) - sum(
            evaluate(m, counted, whole) for m in source.minus
        )
    if isinstance(source, Ratio):
        return _fraction(
            evaluate(source.numerator, counted, whole), evaluate(source.denominator, counted, whole)
        )
    return _fraction(
        evaluate(source.of, counted), evaluate(source.of, whole if whole is not None else counted)
    )


def rate(metric_id: str, counted: Mapping[str, float], base_id: str | None = "") -> float | None:
    """The metric's rate against `base_id` (by default its own rate base); 0 for a zero base
    (never NaN); None without a base."""
    if base_id == "":
        base_id = METRICS[metric_id].rate_base
    if base_id is None:
        return None
    return _fraction(evaluate(metric_id, counted), evaluate(base_id, counted))


def unit(metric_id: str) -> str:
    """How a value reads: `count`, `fraction` (0..1, shown as a percentage), `seconds` (a
    duration) or `currency` (an exact amount of money)."""
    source = METRICS[metric_id].source
    if isinstance(source, Ratio | Share):
        return "fraction"
    if isinstance(source, Counted) and source.aggregate is Aggregate.AMOUNT:
        return "currency"
    if isinstance(source, Counted) and source.aggregate in DELAY_LEVELS:
        return "seconds"
    return "count"


def formula(metric_id: str) -> tuple[str, str] | None:
    """(numerator, base) metric ids of a ratio or a share; None for any other metric."""
    source = METRICS[metric_id].source
    if isinstance(source, Ratio):
        return (source.numerator, source.denominator)
    if isinstance(source, Share):
        return (source.of, source.of)
    return None
