"""Which breakdowns the engine may cut to their shown rows in SQL (pure: no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

from campaignreports.domain.catalog import WIDGETS, Kind, tab_widgets
from campaignreports.domain.windows import live_window
from campaignreports.query.engine import _cuts, _needed_in, _value_cut
from campaignreports.rollups import Column, Cut, breakdown_query


def test_the_email_tab_cuts_what_one_widget_alone_breaks_down() -> None:
    """Reasons and domains are broken down by several widgets with different orderings: read whole."""
    cuts = {cut.dimension: cut for cut in _cuts(tab_widgets("email"), max_rows=1000)}
    assert cuts["url"] == Cut(
        "url", Column("clicks", "email"), 10, (Column("clicks", "email"), Column("distinct_clicks", "email"))
    )
    assert "reason" not in cuts and "recipient_domain" not in cuts


def test_an_enum_is_cut_only_below_its_number_of_keys() -> None:
    """Bounce categories are a handful of keys: a cut at the row cap would keep them all."""
    assert _cuts([WIDGETS["email_bounce_categories"]], max_rows=1000) == []
    (cut,) = _cuts([WIDGETS["email_bounce_categories"]], max_rows=2)
    assert (cut.dimension, cut.limit) == ("bounce_category", 2)


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


def test_states_are_merged_only_in_the_dimensions_a_widget_shows_them_in() -> None:
    needed = _needed_in(tab_widgets("email"))
    assert needed[Column("distinct_opens", "email")] == ["", "recipient_domain"]
    assert needed[Column("distinct_clicks", "email")] == ["", "recipient_domain", "url"]
    assert needed[Column("time_to_open_median", "email")] == [""]
    query = breakdown_query(
        "db",
        sorted(needed, key=lambda c: (c.metric_id, c.channel or "")),
        ["recipient_domain", "url"],
        tenant_id="t",
        campaign_id="c",
        window=live_window(datetime(2026, 11, 30, tzinfo=UTC)),
        include_machine_activity=False,
        needed_in=needed,
    )
    # One map of bitmaps per set of dimensions: opens merged in two, clicks in three.
    human = "AND channel IN ('email') AND NOT is_machine AND dimension IN ('', 'recipient_domain'"
    assert f"type IN ('opened') {human})) AS profiles_" in query.sql
    assert f"type IN ('clicked') {human}, 'url')) AS profiles_" in query.sql
    assert query.sql.count("groupBitmapMergeMapIf(") == 2
    assert "sumMap(map(concat(channel, '/', type" in query.sql, "counts are read everywhere"
    assert "sumIf(events" not in query.sql


def test_a_series_per_link_and_the_top_links_rank_alike_so_one_read_chooses_both() -> None:
    """Clicks and distinct clicks are above zero together: the series' top 5 links are the first
    5 of the table's top 10, read once. Ranked by another count, a cut is read apart."""
    (table,) = _cuts(tab_widgets("email"), max_rows=1000)
    series = _value_cut(WIDGETS["email_clicks_over_time"], max_rows=1000)
    assert (series.dimension, series.limit, table.limit) == ("url", 5, 10)
    assert series.ranking(False) == table.ranking(False)
    assert series.ranking(True) == table.ranking(True)
    assert series.ranking(False) != series.ranking(True), "machine clicks count only when included"
    (domains,) = _cuts([WIDGETS["email_top_recipient_domains"]], max_rows=1000)
    assert domains.ranking(False) != Cut("recipient_domain", table.order, 10, table.kept).ranking(False)


def test_a_rows_widget_merges_states_in_the_totals_only_for_the_wholes_of_its_shares() -> None:
    # The treatments alone: distinct opens and clicks per treatment, never for the campaign.
    alone = _needed_in([WIDGETS["experiment_treatments"]])
    assert alone[Column("distinct_opens", None)] == ["treatment_id"]
    assert alone[Column("distinct_clicks", None)] == ["treatment_id"]
    # Beside a widget of totals reading them, the totals are merged too.
    beside = _needed_in([WIDGETS["experiment_treatments"], WIDGETS["campaign_reach_by_channel"]])
    assert beside[Column("distinct_opens", None)] == ["", "treatment_id"]
    # The top links' share is of clicks: clicks are read in the totals, distinct clicks are not.
    links = _needed_in([WIDGETS["email_top_links"]])
    assert links[Column("clicks", "email")] == ["", "url"]
    assert links[Column("distinct_clicks", "email")] == ["url"]
