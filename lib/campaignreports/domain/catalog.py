"""The widget catalog (SPEC section 5) as data, evaluated by the query engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from campaignreports.domain.metrics import METRICS


class Kind(Enum):
    KPI = "kpi"
    ROWS = "rows"
    SERIES = "series"


@dataclass(frozen=True)
class WidgetDef:
    id: str
    tab: str
    kind: Kind
    channel: str | None  # the channel counted, None for campaign-level widgets
    metric_ids: tuple[str, ...]
    title: str
    description: str


WIDGETS: dict[str, WidgetDef] = {
    w.id: w
    for w in (
        WidgetDef(
            "email_statistics",
            "email",
            Kind.KPI,
            "email",
            (
                "sent",
                "delivered",
                "bounces",
                "errors",
                "opens",
                "distinct_opens",
                "clicks",
                "distinct_clicks",
                "unsubscribes",
                "spam_complaints",
                "machine_opens",
                "machine_clicks",
            ),
            "Email statistics",
            "Sending and reaction figures of the email deliveries.",
        ),
    )
}

# Event fields the widgets break counts down by; the rollups keep one row per (dimension, value).
BREAKDOWN_DIMENSIONS: tuple[str, ...] = (
    "reason",
    "bounce_category",
    "recipient_domain",
    "platform",
    "url",
    "interaction_type",
    "element_id",
    "treatment_id",
)

TABS: tuple[str, ...] = ("campaign", "email", "sms", "push", "in_app", "web", "direct_mail", "experiment")

for _widget in WIDGETS.values():
    assert _widget.tab in TABS, _widget
    assert all(metric_id in METRICS for metric_id in _widget.metric_ids), _widget
