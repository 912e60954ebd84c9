"""The recipients behind a number (`ListRecipients`): the distinct profiles with matching raw
events of a campaign, in profile id order, a page at a time.

Pages are cut by key, not by offset: a page token holds the last profile id of its page, so the
next page starts after it whatever was stored in between (nothing is shown twice or skipped
among the profiles already there), and a deep page costs what the first does. A token is only
valid with the request it came from: it carries a digest of the request's filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaignreports.domain.catalog import Kind, WidgetDef
from campaignreports.domain.metrics import METRICS, Counted
from campaignreports.paging import page_token, request_digest, token_position

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# The raw-table columns a request may narrow the profiles by, each to one exact value.
FILTER_COLUMNS = ("url", "recipient_domain", "reason", "platform", "treatment_id", "message_id")


@dataclass(frozen=True)
class RecipientsLink:
    """How a breakdown row opens its recipients: the event type its first metric counts, and
    the filter its row key fills."""

    event_type: str
    channel: str
    key_field: str


def recipients_link(widget: WidgetDef) -> RecipientsLink | None:
    """For a breakdown by a filterable field whose first metric counts events of one type."""
    if widget.kind is not Kind.ROWS or widget.dimension not in FILTER_COLUMNS or not widget.metric_ids:
        return None
    source = METRICS[widget.metric_ids[0]].source
    if not isinstance(source, Counted):
        return None
    return RecipientsLink(source.event_type, source.channel or widget.channel or "", widget.dimension)


@dataclass(frozen=True)
class RecipientQuery:
    tenant_id: str
    campaign_id: str
    event_type: str  # the stored key (`clicked`)
    channel: str  # the stored key, or '' for any channel
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    filters: tuple[tuple[str, str], ...]  # (column of FILTER_COLUMNS, value): all must match
    include_machine_activity: bool
    page_size: int
    after: str = ""  # the page starts after this profile id ('' for the first page)
    # The window as the request asked for it (see `paging.asked_window`): what a token is bound
    # to, so that the pages of a live window, which moves a minute at a time, stay one listing.
    asked_window: str = ""

    def __post_init__(self) -> None:
        unknown = [column for column, _ in self.filters if column not in FILTER_COLUMNS]
        if unknown:
            raise ValueError(f"not a recipient filter: {', '.join(unknown)}")

    def digest(self) -> str:
        """What a page token is bound to: everything but the page's size and start."""
        return request_digest(
            self.tenant_id,
            self.campaign_id,
            self.event_type,
            self.channel,
            self.asked_window or (self.start.isoformat(), self.end.isoformat()),
            self.filters,
            self.include_machine_activity,
        )


def next_page_token(query: RecipientQuery, last_profile_id: str) -> str:
    return page_token(last_profile_id, query.digest())


def after_token(query: RecipientQuery, token: str) -> str:
    """The profile id a page token says the page starts after ('' without a token); a
    `paging.PageTokenError` if the token is not one of this request's pages."""
    return str(token_position(token, query.digest(), str)) if token else ""


@dataclass(frozen=True)
class RawQuery:
    sql: str
    parameters: dict[str, Any]


def recipients_query(database: str, query: RecipientQuery) -> RawQuery:
    """One page (and one more row, which says whether another page follows): (profile_id,
    first and last matching event in epoch milliseconds, matching events)."""
    conditions = [
        "tenant_id = {tenant_id:String}",
        "campaign_id = {campaign_id:String}",
        "occurred_at >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')",
        "occurred_at < fromUnixTimestamp64Milli({end:Int64}, 'UTC')",
        "type = {event_type:String}",
        "profile_id > {after:String}",
    ]
    parameters: dict[str, Any] = {
        "tenant_id": query.tenant_id,
        "campaign_id": query.campaign_id,
        "start": int(query.start.timestamp() * 1000),
        "end": int(query.end.timestamp() * 1000),
        "event_type": query.event_type,
        "after": query.after,
        "limit": query.page_size + 1,
    }
    if query.channel:
        conditions.append("channel = {channel:String}")
        parameters["channel"] = query.channel
    for column, value in query.filters:  # column names come from FILTER_COLUMNS only
        conditions.append(f"{column} = {{filter_{column}:String}}")
        parameters[f"filter_{column}"] = value
    if not query.include_machine_activity:
        conditions.append("NOT is_machine")
    sql = (
        "SELECT profile_id, toUnixTimestamp64Milli(min(occurred_at)),"
        " toUnixTimestamp64Milli(max(occurred_at)), count()\n"
        f"FROM {database}.events\nWHERE " + "\n  AND ".join(conditions) + "\n"
        "GROUP BY profile_id\nORDER BY profile_id\nLIMIT {limit:UInt32}\n"
        # Read in the projection's order (by profile) from `after`, stopping after the page.
        "SETTINGS optimize_aggregation_in_order = 1"
    )
    return RawQuery(sql, parameters)
