"""The campaign report's sections as the product documents describe them, through gRPC:
non-deliverables by error type and by domain, execution statistics on the messages to
deliver, and the French labels and metric definitions ListWidgets gives a UI."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from helpers import email_event, poll_async
from pipeline import Pipeline

from campaignreports.domain.errortypes import REASON_TYPES
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(90)

E = event_pb2.EventType
# The campaign report's French names of the error types (and ours for the rest).
SEED_TYPE_LABELS = {
    "unknown_user": "Utilisateur inconnu",
    "invalid_domain": "Domaine invalide",
    "mailbox_full": "Boîte pleine",
    "account_disabled": "Compte désactivé",
    "refused": "Refusés",
    "unreachable": "Inatteignable",
    "not_connected": "Non connecté",
    "other": "Autres",
}
UNKNOWN_REASON = "the engine's brand new reason"
SMTP_REASON = "550 5.1.1 <someone@b.example>: Recipient address rejected"
DOMAINS = ("a.example", "b.example")


async def _ingest(pipeline: Pipeline, events: list[event_pb2.Event]) -> None:
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    assert reply.accepted == len(events) and not reply.rejected, reply.rejected


async def _widget(pipeline: Pipeline, campaign: str, widget_id: str, expect_metric: str, value: float):
    """The widget once the aggregator has stored the campaign (its `expect_metric` total reads `value`)."""

    async def read() -> query_service_pb2.Widget:
        request = query_service_pb2.GetWidgetRequest(
            tenant_id=pipeline.tenant_id, campaign_id=campaign, widget_id=widget_id, locale="fr"
        )
        return await pipeline.query.GetWidget(request)

    def total(widget: query_service_pb2.Widget) -> float:
        if widget.rows:
            return sum(m.value for r in widget.rows for m in r.metrics if m.id == expect_metric)
        return sum(m.value for m in widget.metrics if m.id == expect_metric)

    widget = await poll_async(read, lambda w: total(w) == value, within=30)
    assert total(widget) == value
    return widget


async def test_errors_by_type_and_by_domain_classify_every_mapped_code_in_french(pipeline: Pipeline) -> None:
    campaign = f"types-{uuid.uuid4().hex[:6]}"
    reasons = [*REASON_TYPES, UNKNOWN_REASON, SMTP_REASON]
    expected_type = {**REASON_TYPES, UNKNOWN_REASON: "other", SMTP_REASON: "unknown_user"}
    events, by_type, by_domain = [], Counter(), Counter()
    for i, reason in enumerate(reasons):
        domain = DOMAINS[i % 2]
        # Errors during sending and bounces processed afterwards both count.
        for event_type, extra in ((E.EVENT_TYPE_ERROR, {}), (E.EVENT_TYPE_BOUNCED, {"bounce_category": 1})):
            events.append(
                email_event(
                    pipeline.tenant_id,
                    campaign,
                    event_type,
                    f"p{i}",
                    reason=reason,
                    recipient_domain=domain,
                    **extra,
                )
            )
            by_type[expected_type[reason]] += 1
            by_domain[domain, expected_type[reason]] += 1
    await _ingest(pipeline, events)

    widget = await _widget(pipeline, campaign, "email_errors_by_type", "failures", len(events))
    assert widget.title == "Email - Ventilation des erreurs par type"
    got = {row.key: (row.label, row.metrics[0].value) for row in widget.rows}
    assert got == {kind: (SEED_TYPE_LABELS[kind], count) for kind, count in by_type.items()}
    assert set(got) == set(SEED_TYPE_LABELS)  # every type, `other` and the phone's `not_connected` too
    assert [row.metrics[0].value for row in widget.rows] == sorted(by_type.values(), reverse=True)

    widget = await _widget(pipeline, campaign, "email_errors_by_domain", "failures", len(events))
    assert widget.title == "Email - Ventilation des erreurs par domaine"
    assert sorted(row.key for row in widget.rows) == sorted(DOMAINS)
    for row in widget.rows:
        total, *per_type = row.metrics
        assert (total.label, total.value) == (
            "Erreurs",
            sum(n for (d, _), n in by_domain.items() if d == row.key),
        )
        assert [m.label for m in per_type] == list(SEED_TYPE_LABELS.values())
        assert {m.id.removeprefix("failures_"): m.value for m in per_type} == {
            kind: float(by_domain[row.key, kind]) for kind in SEED_TYPE_LABELS
        }


@pytest.mark.parametrize("channel", ["EMAIL", "SMS", "PUSH"])
async def test_execution_statistics_are_taken_against_the_messages_to_deliver(
    pipeline: Pipeline, channel: str
) -> None:
    """10 targeted, 2 rejected by the rules: 8 messages to deliver. 5 delivered (Succès 5/8),
    1 error and 2 bounces (Erreurs 3/8, returns included), 1 new quarantine (1/8)."""
    campaign = f"execution-{uuid.uuid4().hex[:6]}"
    steps = [(E.EVENT_TYPE_TARGETED, 10), (E.EVENT_TYPE_EXCLUDED, 2), (E.EVENT_TYPE_SENT, 8)]
    steps += [(E.EVENT_TYPE_DELIVERED, 5), (E.EVENT_TYPE_ERROR, 1), (E.EVENT_TYPE_BOUNCED, 2)]
    steps += [(E.EVENT_TYPE_QUARANTINED, 1)]
    events = []
    for event_type, count in steps:
        for i in range(count):
            event = email_event(pipeline.tenant_id, campaign, event_type, f"p{i}")
            event.channel = event_pb2.Channel.Value(f"CHANNEL_{channel}")
            if channel != "EMAIL":
                event.recipient_domain = ""
            if channel == "PUSH":
                event.platform = event_pb2.PLATFORM_ANDROID
            if event_type in (E.EVENT_TYPE_EXCLUDED, E.EVENT_TYPE_ERROR, E.EVENT_TYPE_BOUNCED):
                event.reason = "unknown_user"
            if event_type == E.EVENT_TYPE_BOUNCED:
                event.bounce_category = event_pb2.BOUNCE_CATEGORY_HARD
            events.append(event)
    await _ingest(pipeline, events)

    widget_id = f"{channel.lower()}_execution_statistics"
    widget = await _widget(pipeline, campaign, widget_id, "to_deliver", 8)
    got = {m.id: (m.label, m.value, round(m.rate, 6), m.rate_base_id) for m in widget.metrics}
    assert got == {
        "to_deliver": ("Message à diffuser", 8, 0.8, "targeted"),
        "successes": ("Succès", 5, 0.625, "to_deliver"),
        "execution_errors": ("Erreurs", 3, 0.375, "to_deliver"),
        "new_quarantines": ("Nouvelles quarantaines", 1, 0.125, "to_deliver"),
    }
    audience = await _widget(pipeline, campaign, f"{channel.lower()}_target_audience", "targeted", 10)
    assert [(m.label, m.value) for m in audience.metrics] == [
        ("Audience initiale", 10),
        ("Message à diffuser", 8),
        ("Rejetés par les règles", 2),
    ]


async def test_list_widgets_gives_the_seed_s_french_labels_and_every_definition(pipeline: Pipeline) -> None:
    by_locale = {}
    for locale in ("en", "fr", "sv", "nl"):
        reply = await pipeline.query.ListWidgets(query_service_pb2.ListWidgetsRequest(locale=locale))
        by_locale[locale] = {(w.id, m.id): m for w in reply.widgets for m in w.metrics}
        for w in reply.widgets:
            assert [m.id for m in w.metrics] == list(w.metric_ids), w.id
        assert all(m.definition and m.label and m.unit for m in by_locale[locale].values()), locale
    french = {key: m.label for key, m in by_locale["fr"].items()}
    assert {
        french["email_target_audience", "targeted"],
        french["email_target_audience", "to_deliver"],
        french["email_target_audience", "excluded"],
        french["email_execution_statistics", "successes"],
        french["email_delivery_summary", "sent"],
        french["email_tracking_by_domain", "reactivity"],
        french["email_tracking_indicators", "forwards"],
        french["email_tracking_indicators", "unsubscribes"],
        french["email_tracking_indicators", "mirror_page_views"],
    } == {
        "Audience initiale",
        "Message à diffuser",
        "Rejetés par les règles",
        "Succès",
        "Total envoyé",
        "Réactivité brute",
        "Estimation des transferts",
        "Clics sur le lien d'exclusion",
        "Clics sur le lien miroir",
    }
    # The definitions are translated, not copied.
    for locale in ("fr", "sv", "nl"):
        assert (
            by_locale[locale]["email_statistics", "sent"].definition
            != by_locale["en"]["email_statistics", "sent"].definition
        )
    reactivity = by_locale["en"]["email_clickstreams", "reactivity"]
    assert (reactivity.unit, reactivity.numerator_id, reactivity.base_id) == (
        "fraction",
        "distinct_clicks",
        "distinct_opens",
    )
    successes = by_locale["en"]["email_execution_statistics", "successes"]
    assert (successes.rate_base_id, successes.numerator_id) == ("to_deliver", "")
