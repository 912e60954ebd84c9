"""Metric definitions (SPEC section 4) as one table.

A metric is either counted from the rollups (`Counted`: events of one type, or distinct
profiles with that type) or derived from other metrics (`Derived`). A metric may carry a rate
base: the metric its `rate` is a fraction of. Machine activity (opens and clicks flagged
`is_machine`) is excluded from the human metrics unless a request asks to include it, and is
counted on its own by the machine_* metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Aggregate(Enum):
    EVENTS = "events"
    DISTINCT_PROFILES = "distinct_profiles"


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


@dataclass(frozen=True)
class Derived:
    """minuend - subtrahend (the only derivation the catalog needs)."""

    minuend: str
    subtrahend: str


@dataclass(frozen=True)
class MetricDef:
    id: str
    label: str
    source: Counted | Derived
    rate_base: str | None = None


def _count(metric_id: str, label: str, event_type: str, **kwargs: object) -> MetricDef:
    rate_base = kwargs.pop("rate_base", None)
    return MetricDef(metric_id, label, Counted(event_type, **kwargs), rate_base)  # type: ignore[arg-type]


_DISTINCT = Aggregate.DISTINCT_PROFILES

METRICS: dict[str, MetricDef] = {
    m.id: m
    for m in (
        _count("entered_profiles", "Entered profiles", "profile_entered", aggregate=_DISTINCT),
        _count("targeted", "Targeted", "targeted"),
        _count("excluded", "Excluded", "excluded", rate_base="targeted"),
        MetricDef("to_deliver", "To deliver", Derived("targeted", "excluded")),
        _count("sent", "Sent", "sent"),
        _count("delivered", "Delivered", "delivered", rate_base="sent"),
        _count("bounces", "Bounces", "bounced", rate_base="sent"),
        _count("errors", "Errors", "error", rate_base="to_deliver"),
        _count("new_quarantines", "New quarantines", "quarantined", rate_base="to_deliver"),
        _count("opens", "Opens", "opened", machine=Machine.HUMAN),
        _count(
            "distinct_opens",
            "Distinct opens",
            "opened",
            aggregate=_DISTINCT,
            machine=Machine.HUMAN,
            rate_base="delivered",
        ),
        _count("clicks", "Clicks", "clicked", machine=Machine.HUMAN),
        _count(
            "distinct_clicks",
            "Distinct clicks",
            "clicked",
            aggregate=_DISTINCT,
            machine=Machine.HUMAN,
            rate_base="delivered",
        ),
        _count("machine_opens", "Machine opens", "opened", machine=Machine.MACHINE_ONLY),
        _count("machine_clicks", "Machine clicks", "clicked", machine=Machine.MACHINE_ONLY),
        _count("unsubscribes", "Unsubscribes", "unsubscribed", rate_base="delivered"),
        _count("spam_complaints", "Spam complaints", "spam_complaint", rate_base="delivered"),
        _count("mirror_page_views", "Mirror page views", "mirror_page_viewed"),
        _count("forwards", "Forwards", "forwarded"),
        _count("actions", "Actions", "action"),
        _count("impressions", "Impressions", "impression"),
        _count("unique_impressions", "Unique impressions", "impression", aggregate=_DISTINCT),
        _count("interactions", "Interactions", "interaction"),
    )
}


# Event types whose distinct profiles a metric or a breakdown counts: the rollups keep
# distinct-profile states for these only, since a state costs memory and query time per
# profile (SENT and DELIVERED states would make every query read every profile). INTERACTION:
# the per-element and per-type widgets count distinct profiles (SPEC section 5).
DISTINCT_PROFILE_TYPES: frozenset[str] = frozenset(
    {
        m.source.event_type
        for m in METRICS.values()
        if isinstance(m.source, Counted) and m.source.aggregate is Aggregate.DISTINCT_PROFILES
    }
    | {"interaction"}
)


def counted_dependencies(metric_ids: list[str]) -> list[str]:
    """Every counted metric needed to compute `metric_ids` and their rates, in stable order."""
    needed: dict[str, None] = {}

    def visit(metric_id: str) -> None:
        metric = METRICS[metric_id]
        if isinstance(metric.source, Derived):
            visit(metric.source.minuend)
            visit(metric.source.subtrahend)
        else:
            needed[metric_id] = None
        if metric.rate_base:
            visit(metric.rate_base)

    for metric_id in metric_ids:
        visit(metric_id)
    return list(needed)


def evaluate(metric_id: str, counted: dict[str, float]) -> float:
    """The value of `metric_id` given the values of the counted metrics."""
    source = METRICS[metric_id].source
    if isinstance(source, Derived):
        return evaluate(source.minuend, counted) - evaluate(source.subtrahend, counted)
    return counted[metric_id]


def rate(metric_id: str, counted: dict[str, float]) -> float | None:
    """The metric's rate against its base; 0 for a zero base (never NaN); None without a base."""
    base_id = METRICS[metric_id].rate_base
    if base_id is None:
        return None
    base = evaluate(base_id, counted)
    return evaluate(metric_id, counted) / base if base > 0 else 0.0
