"""Which channels' rollup rows a read takes (pure: the SQL is built, not run)."""

from __future__ import annotations

from datetime import UTC, datetime

from campaignreports.domain.windows import live_window
from campaignreports.rollups import Column, Cut, breakdown_query, cut_query, series_query

WINDOW = live_window(datetime(2026, 11, 30, tzinfo=UTC))
SCOPE = {"tenant_id": "t", "campaign_id": "c", "window": WINDOW, "include_machine_activity": False}


def test_a_read_of_one_channels_metrics_takes_that_channels_rows_only() -> None:
    columns = [Column("sent", "email"), Column("distinct_opens", "email"), Column("mail_sent", None)]
    query = breakdown_query("db", columns, ["url"], **SCOPE)
    # One restriction per rollup read (the live window reads minutes and quarter hours).
    assert query.sql.count("AND channel IN ('direct_mail', 'email')") == query.sql.count(" FROM db.rollup_")
    series = series_query("db", [Column("opens", "sms")], **SCOPE)
    assert "AND channel IN ('sms')" in series.sql


def test_a_metric_of_every_channel_takes_every_channels_rows() -> None:
    query = breakdown_query("db", [Column("sent", "email"), Column("sent", None)], [], **SCOPE)
    assert "channel IN" not in query.sql
    assert "sumIf(events, type = 'sent')" in query.sql


def test_a_cut_takes_the_channels_it_ranks_by_and_those_it_keeps_by() -> None:
    cut = Cut("url", Column("clicks", "email"), 10, (Column("clicks", "email"), Column("opens", "push")))
    query = cut_query("db", cut, **SCOPE)
    assert "AND channel IN ('email', 'push')" in query.sql
    kept_by_every_channel = Cut("url", Column("clicks", "email"), 10, (Column("clicks", None),))
    assert "channel IN" not in cut_query("db", kept_by_every_channel, **SCOPE).sql
