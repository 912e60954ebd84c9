"""Error types, the seed's execution statistics, and derived breakdowns (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignreports.domain import metrics, texts
from campaignreports.domain.catalog import PAIR_SEPARATOR, WIDGETS
from campaignreports.domain.errortypes import ERROR_TYPES, REASON_TYPES, error_type
from campaignreports.query.engine import _dimension_counts, metric_infos
from campaignreports.rollups import Column
from devtools import reference

DOCS = Path(__file__).parents[3] / "docs"


@pytest.mark.parametrize(("reason", "kind"), sorted(REASON_TYPES.items()))
def test_every_mapped_code_has_its_type(reason: str, kind: str) -> None:
    assert error_type(reason) == kind


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Unknown User", "unknown_user"),
        ("  MAILBOX-FULL ", "mailbox_full"),
        ("ABSENT_SUBSCRIBER", "not_connected"),
        ("token.expired", "account_disabled"),
        ("550 5.1.1 <a@b.example>: Recipient address rejected", "unknown_user"),
        ("452 4.2.2 Mailbox full", "mailbox_full"),
        ("554 5.7.1 Message refused by policy", "refused"),
        ("5.1.2 bad destination system", "invalid_domain"),
        ("550 5.9.9 something new", "other"),
        ("out_of_office", "other"),
        ("quarantined_address", "other"),
        ("version 1.5.1.1", "other"),  # not a status code
        ("", "other"),
    ],
)
def test_reasons_are_normalized_then_read_for_a_status_code(reason: str, kind: str) -> None:
    assert error_type(reason) == kind


def test_every_type_is_reachable_and_labelled_in_every_locale() -> None:
    assert set(REASON_TYPES.values()) == set(ERROR_TYPES) - {"other"}
    for kind in ERROR_TYPES:
        labels = [texts.key_label("error_type", kind, locale) for locale in texts.LOCALES]
        assert all(labels) and labels[0] != kind
    assert texts.key_label("error_type", "unknown_user", "fr") == "Utilisateur inconnu"
    assert texts.key_label("error_type", "not_connected", "fr") == "Non connecté"


def test_execution_statistics_on_the_seed_s_base() -> None:
    # 10 targeted, 2 rejected by the rules: 8 to deliver; 5 delivered, 1 error, 2 bounces, 1 quarantine.
    counted = {"targeted": 10.0, "excluded": 2.0, "delivered": 5.0, "errors": 1.0, "bounces": 2.0}
    counted |= {"new_quarantines": 1.0, "sent": 7.0}
    assert metrics.evaluate("to_deliver", counted) == 8.0
    assert (metrics.evaluate("successes", counted), metrics.rate("successes", counted)) == (5.0, 5 / 8)
    assert (metrics.evaluate("execution_errors", counted), metrics.rate("execution_errors", counted)) == (
        3.0,
        3 / 8,
    )
    assert metrics.rate("new_quarantines", counted) == 1 / 8
    assert (metrics.evaluate("failures", counted), metrics.rate("failures", counted)) == (3.0, 3 / 7)
    assert WIDGETS["email_execution_statistics"].metric_ids == (
        "to_deliver",
        "successes",
        "execution_errors",
        "new_quarantines",
    )


def test_rows_of_a_derived_dimension_add_up_the_stored_values_they_group() -> None:
    failures = [Column("errors", "email"), Column("bounces", "email")]

    def stored(errors: float, bounces: float) -> dict[Column, float]:
        return dict(zip(failures, (errors, bounces), strict=True))

    pair = PAIR_SEPARATOR.join
    breakdowns = {
        ("reason", "unknown_user"): stored(1, 2),
        ("reason", "550 5.1.1 no such user"): stored(0, 4),
        ("reason", "timeout"): stored(3, 0),
        ("reason", "whatever"): stored(0, 1),
        ("reason_domain", pair(["unknown_user", "a.example"])): stored(1, 2),
        ("reason_domain", pair(["550 5.1.1 no such user", "b.example"])): stored(0, 4),
        ("reason_domain", pair(["timeout", "a.example"])): stored(3, 0),
        ("reason_domain", pair(["whatever", "b.example"])): stored(0, 1),
    }
    by_type = dict(_dimension_counts(WIDGETS["email_errors_by_type"], breakdowns))
    assert {k: metrics.evaluate("failures", c) for k, c in by_type.items()} == {
        "unknown_user": 7.0,
        "unreachable": 3.0,
        "other": 1.0,
    }
    by_domain = dict(_dimension_counts(WIDGETS["email_errors_by_domain"], breakdowns))
    assert by_domain["a.example"]["failures_unknown_user"] == 3.0
    assert by_domain["a.example"]["failures_unreachable"] == 3.0
    assert by_domain["b.example"]["failures_unknown_user"] == 4.0
    assert by_domain["b.example"]["failures_other"] == 1.0
    assert by_domain["b.example"]["failures_mailbox_full"] == 0.0
    assert metrics.evaluate("failures", by_domain["b.example"]) == 5.0


def test_list_widgets_describes_every_metric_with_its_formula() -> None:
    infos = {i.id: i for i in metric_infos(WIDGETS["email_tracking_by_domain"], "fr")}
    assert infos["reactivity"].label == "Réactivité brute"
    assert (infos["reactivity"].numerator, infos["reactivity"].base) == ("distinct_clicks", "distinct_opens")
    assert infos["distinct_opens"].rate_base == "delivered" and infos["distinct_opens"].numerator == ""
    for widget in WIDGETS.values():
        for locale in texts.LOCALES:
            for info in metric_infos(widget, locale):
                assert info.label and info.definition and info.unit, (widget.id, info.id, locale)


def test_generated_documents_are_in_step() -> None:
    assert (DOCS / "metrics.md").read_text() == reference.metrics_markdown(), "run: make docs"
    assert (DOCS / "error-types.md").read_text() == reference.error_types_markdown(), "run: make docs"
