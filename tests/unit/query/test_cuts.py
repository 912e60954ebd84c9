"""Which breakdowns the engine may cut to their shown rows in SQL (pure: no servers)."""

from __future__ import annotations

from campaignreports.domain.catalog import WIDGETS, Kind, tab_widgets
from campaignreports.query.engine import _cuts
from campaignreports.rollups import Column, Cut


def test_the_email_tab_cuts_what_one_widget_alone_breaks_down() -> None:
    """Reasons and domains are broken down by several widgets with different orderings: read whole."""
    cuts = {cut.dimension: cut for cut in _cuts(tab_widgets("email"), max_rows=1000)}
    assert cuts["url"] == Cut(
        "url", Column("clicks", "email"), 10, (Column("clicks", "email"), Column("distinct_clicks", "email"))
    )
    assert cuts["bounce_category"].limit == 1000  # one widget: cut at the row cap, as it would be
    assert "reason" not in cuts and "recipient_domain" not in cuts


def test_one_widget_alone_is_cut_at_its_limit_by_its_ordering() -> None:
    (cut,) = _cuts([WIDGETS["email_top_recipient_domains"]], max_rows=1000)
    assert (cut.dimension, cut.order, cut.limit) == ("recipient_domain", Column("opens", "email"), 10)
    (unlimited,) = _cuts([WIDGETS["email_bounce_reasons"]], max_rows=250)
    assert unlimited.limit == 250


def test_key_ordered_and_compared_rows_are_never_cut() -> None:
    never = [
        w for w in WIDGETS.values() if w.kind is Kind.ROWS and (w.order_by_key or w.comparison_metric_ids)
    ]
    assert never, "the catalog has such widgets"
    assert _cuts(never, max_rows=1000) == [] or all(
        cut.dimension not in {w.dimension for w in never} for cut in _cuts(never, max_rows=1000)
    )
    for widget in never:
        assert _cuts([widget], max_rows=1000) == []
