"""ListRecipients' pure parts: page tokens bound to their request, and the page's SQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from campaignreports.domain.catalog import WIDGETS
from campaignreports.domain.events import EVENT_TYPE_KEYS
from campaignreports.paging import PageTokenError
from campaignreports.recipients import (
    FILTER_COLUMNS,
    RecipientQuery,
    RecipientsLink,
    after_token,
    next_page_token,
    recipients_link,
    recipients_query,
)

QUERY = RecipientQuery(
    tenant_id="t1",
    campaign_id="c1",
    event_type="clicked",
    channel="email",
    start=datetime(2026, 11, 1, tzinfo=UTC),
    end=datetime(2026, 11, 2, tzinfo=UTC),
    filters=(("url", "https://x.example/'; DROP TABLE events --"),),
    include_machine_activity=False,
    page_size=100,
)


def test_a_token_gives_back_the_last_profile_of_its_page() -> None:
    assert after_token(QUERY, next_page_token(QUERY, "profé 42")) == "profé 42"
    assert after_token(QUERY, "") == ""


def test_a_token_serves_the_same_request_with_another_page_size() -> None:
    token = next_page_token(QUERY, "p9")
    assert after_token(dataclasses.replace(QUERY, page_size=1000), token) == "p9"


@pytest.mark.parametrize(
    "other",
    [
        {"campaign_id": "c2"},
        {"tenant_id": "t2"},
        {"event_type": "opened"},
        {"filters": ()},
        {"include_machine_activity": True},
        {"end": datetime(2026, 11, 3, tzinfo=UTC)},
    ],
)
def test_a_token_is_refused_by_another_request(other: dict[str, object]) -> None:
    with pytest.raises(PageTokenError, match="another request"):
        after_token(dataclasses.replace(QUERY, **other), next_page_token(QUERY, "p9"))  # type: ignore[arg-type]


def test_a_token_is_bound_to_the_window_as_asked_not_as_resolved() -> None:
    """A live window resolves to another 24 hours every minute; its listing stays one."""
    live = dataclasses.replace(QUERY, asked_window="window:live")
    later = dataclasses.replace(live, start=live.start.replace(minute=5), end=live.end.replace(minute=5))
    assert after_token(later, next_page_token(live, "p9")) == "p9"
    with pytest.raises(PageTokenError, match="another request"):
        after_token(dataclasses.replace(later, asked_window="window:range"), next_page_token(live, "p9"))


@pytest.mark.parametrize("token", ["not a token", "e30", "W10", "eyJhZnRlciI6IDF9", "%%%"])
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(PageTokenError):
        after_token(QUERY, token)


def test_every_value_is_a_parameter_and_the_page_reads_one_row_more() -> None:
    raw = recipients_query("db", dataclasses.replace(QUERY, after="p9"))
    assert "DROP" not in raw.sql and "p9" not in raw.sql and "clicked" not in raw.sql
    assert raw.parameters["filter_url"] == QUERY.filters[0][1]
    assert raw.parameters["after"] == "p9" and raw.parameters["limit"] == 101
    assert raw.parameters["start"] == 1_793_491_200_000  # 2026-11-01T00:00Z in ms
    assert "NOT is_machine" in raw.sql and "channel = {channel:String}" in raw.sql
    anywhere = recipients_query("db", dataclasses.replace(QUERY, channel="", include_machine_activity=True))
    assert "channel" not in anywhere.parameters and "is_machine" not in anywhere.sql


def test_only_known_columns_filter() -> None:
    with pytest.raises(ValueError, match="not a recipient filter"):
        dataclasses.replace(QUERY, filters=(("profile_id) OR (1", "x"),))


@pytest.mark.parametrize(
    ("widget_id", "link"),
    [
        ("email_top_links", RecipientsLink("clicked", "email", "url")),
        ("email_bounce_reasons", RecipientsLink("bounced", "email", "reason")),
        ("push_sending_by_platform", RecipientsLink("sent", "push", "platform")),
        ("email_errors_by_domain", None),  # a failure is one of several types
        ("email_statistics", None),  # no rows
        ("email_clicks_over_time", None),  # a series
    ],
)
def test_a_breakdown_opens_its_recipients_when_its_rows_are_one_type_by_one_field(
    widget_id: str, link: RecipientsLink | None
) -> None:
    assert recipients_link(WIDGETS[widget_id]) == link


def test_every_link_names_a_filter_and_a_stored_type() -> None:
    links = [link for widget in WIDGETS.values() if (link := recipients_link(widget)) is not None]
    assert len(links) >= 10
    assert {link.key_field for link in links} <= set(FILTER_COLUMNS)
    assert {link.event_type for link in links} <= set(EVENT_TYPE_KEYS.values())
