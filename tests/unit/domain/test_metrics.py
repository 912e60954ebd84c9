"""Unit tests of metric definitions, the catalog tables and the rollup SQL builder (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaignreports.domain import metrics, texts
from campaignreports.domain.catalog import TABS, WIDGETS, Kind, tab_widgets
from campaignreports.domain.windows import live_window
from campaignreports.rollups import Column, breakdown_query, counted_expression, series_query


def test_rate_with_zero_base_is_zero_not_nan() -> None:
    assert metrics.rate("delivered", {"delivered": 0.0, "sent": 0.0}) == 0.0
    assert metrics.rate("delivered", {"delivered": 3.0, "sent": 4.0}) == 0.75
    assert metrics.rate("sent", {"sent": 4.0}) is None


def test_to_deliver_is_targeted_minus_excluded_and_is_the_error_rate_base() -> None:
    counted = {"targeted": 10.0, "excluded": 2.0, "errors": 2.0}
    assert metrics.evaluate("to_deliver", counted) == 8.0
    assert metrics.rate("errors", counted) == 0.25


def test_sums_ratios_and_shares() -> None:
    counted = {"opens": 3.0, "actions": 2.0, "distinct_clicks": 1.0, "distinct_opens": 4.0, "clicks": 5.0}
    assert metrics.evaluate("engagements", counted) == 5.0
    assert metrics.evaluate("reactivity", counted) == 0.25
    assert metrics.evaluate("reactivity", {**counted, "distinct_opens": 0.0}) == 0.0
    assert metrics.evaluate("share", counted, {"clicks": 20.0}) == 0.25
    assert metrics.evaluate("share", {"clicks": 0.0}, {"clicks": 0.0}) == 0.0


def test_dependencies_include_rate_bases_and_derivation_inputs() -> None:
    assert metrics.counted_dependencies(["errors"]) == ["errors", "targeted", "excluded"]
    assert metrics.counted_dependencies(["share"]) == ["clicks"]
    assert metrics.counted_dependencies(["click_rate"]) == ["distinct_clicks", "delivered", "sent"]


def test_machine_activity_is_left_out_unless_included() -> None:
    opens, machine_opens = Column("opens", "email"), Column("machine_opens", "email")
    assert "NOT is_machine" in counted_expression(opens, include_machine_activity=False)
    assert "is_machine" not in counted_expression(opens, include_machine_activity=True)
    assert "AND is_machine" in counted_expression(machine_opens, include_machine_activity=False)
    assert counted_expression(Column("distinct_opens", None), False).startswith("groupBitmapMergeIf(profiles")
    assert "channel = 'email'" in counted_expression(opens, False)
    assert "channel" not in counted_expression(Column("opens", None), False)


@pytest.mark.parametrize("build", [breakdown_query, series_query])
def test_user_values_are_bound_never_inlined(build) -> None:
    hostile = "x' OR 1=1 --"
    extra = ([],) if build is breakdown_query else ()
    query = build(
        "db",
        [Column("sent", "email")],
        *extra,
        tenant_id=hostile,
        campaign_id=hostile,
        window=live_window(datetime(2026, 11, 23, tzinfo=UTC)),
        include_machine_activity=False,
    )
    assert hostile not in query.sql
    assert query.parameters["tenant_id"] == hostile and query.parameters["campaign_id"] == hostile


def test_catalog_covers_every_tab_and_names_defined_metrics() -> None:
    assert len(WIDGETS) == 65
    assert all(tab_widgets(tab) for tab in TABS)
    for widget in WIDGETS.values():
        assert all(m in metrics.METRICS for m in widget.metric_ids)
        if widget.kind is Kind.ROWS:
            assert widget.counted_metric_ids, widget.id


def test_every_widget_and_metric_has_text_in_every_locale() -> None:
    listed = {m for w in WIDGETS.values() for m in w.listed_metric_ids}
    assert texts.missing_texts(list(WIDGETS), sorted(listed | set(metrics.METRICS))) == []


@pytest.mark.parametrize(
    ("locale", "resolved"),
    [("fr", "fr"), ("fr-CA", "fr"), ("sv_SE", "sv"), ("NL", "nl"), ("de", "en"), ("", "en")],
)
def test_locales_resolve_by_language_and_fall_back_to_english(locale: str, resolved: str) -> None:
    assert texts.resolve_locale(locale) == resolved
