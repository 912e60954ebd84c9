"""Reads counted metrics from the rollup tables: SQL built from the metric table, never by hand.

Every value a user controls (tenant, campaign, window bounds, time zone) is a bound parameter.
The only text put into the SQL comes from the metric and catalog tables in this repository,
and is checked to be a plain lower-case key.

Two queries answer any set of widgets over one window:
- `breakdown_query`: one row per (dimension, value), the totals being dimension '' (KPI
  widgets, and the wholes that shares are taken of), the breakdowns the rows of `rows` widgets;
  a dimension with a `Cut` reads only the rows its widget shows, chosen by a subquery that
  ranks the dimension's values by one count (a campaign with 100,000 clicked URLs aggregates
  and sends its top 10, not 100,000 rows to rank in Python);
- `series_query`: one row per bucket of the window (series widgets).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaignreports.domain.metrics import METRICS, Aggregate, Counted, Machine
from campaignreports.domain.windows import Granularity, Window

_KEY = re.compile(r"[a-z_]+")

# Rollup table answering a window's granularity.
LIVE_TABLE = "rollup_minute"
GLOBAL_TABLE = "rollup_15m"

_LOCAL = "{timezone:String}"
# The start (a unix timestamp) of the window bucket holding a rollup bucket.
_BUCKET_START = {
    Granularity.MINUTE: "toUnixTimestamp(bucket)",
    Granularity.HOUR: "toUnixTimestamp(toStartOfHour(bucket, {timezone:String}))",
    Granularity.DAY: "toUnixTimestamp(toStartOfDay(bucket, {timezone:String}))",
    Granularity.WEEK: f"toUnixTimestamp(toDateTime(toMonday(bucket, {_LOCAL}), {_LOCAL}))",
    Granularity.MONTH: f"toUnixTimestamp(toDateTime(toStartOfMonth(bucket, {_LOCAL}), {_LOCAL}))",
}


@dataclass(frozen=True, order=True)
class Column:
    """One counted metric restricted to one channel (None: every channel)."""

    metric_id: str
    channel: str | None


def _machine_condition(machine: Machine, include_machine_activity: bool) -> str:
    if machine is Machine.MACHINE_ONLY:
        return " AND is_machine"
    if machine is Machine.HUMAN and not include_machine_activity:
        return " AND NOT is_machine"
    return ""


def _condition(column: Column, include_machine_activity: bool) -> str:
    """Which rollup rows a counted metric takes (its event type, channel and machine rule)."""
    source = METRICS[column.metric_id].source
    assert isinstance(source, Counted), column
    assert _KEY.fullmatch(source.event_type), source.event_type
    condition = f"type = '{source.event_type}'"
    if column.channel is not None:
        assert _KEY.fullmatch(column.channel), column.channel
        condition = f"channel = '{column.channel}' AND {condition}"
    return condition + _machine_condition(source.machine, include_machine_activity)


def counted_expression(column: Column, include_machine_activity: bool) -> str:
    """The aggregate expression over a rollup table that yields a counted metric."""
    source = METRICS[column.metric_id].source
    assert isinstance(source, Counted), column
    condition = _condition(column, include_machine_activity)
    if source.aggregate is Aggregate.DISTINCT_PROFILES:
        return f"uniqExactMergeIf(profiles, {condition})"
    return f"sumIf(events, {condition})"


def _positive(column: Column, include_machine_activity: bool) -> str:
    """Whether a counted metric is above zero, without merging profile states: a metric's
    distinct profiles are above zero exactly when its events are (every event has a profile)."""
    return f"sumIf(events, {_condition(column, include_machine_activity)}) > 0"


@dataclass(frozen=True)
class Cut:
    """The rows of a dimension that one widget shows, chosen in the engine: values where one of
    `kept` is above zero, the `limit` first by `order` descending, then by value. This is the
    ordering and cut the widget applies itself, so cutting here changes no result."""

    dimension: str
    order: Column
    limit: int
    kept: tuple[Column, ...]


@dataclass(frozen=True)
class RollupQuery:
    sql: str
    parameters: dict[str, Any]


def _scope(tenant_id: str, campaign_id: str, window: Window) -> tuple[str, dict[str, Any]]:
    parameters: dict[str, Any] = {
        "tenant_id": tenant_id,
        "campaign_id": campaign_id,
        "start": int(window.start.timestamp()),
        "end": int(window.end.timestamp()),
        "timezone": window.timezone,
    }
    where = (
        "WHERE tenant_id = {tenant_id:String}\n  AND campaign_id = {campaign_id:String}\n"
        "  AND bucket >= toDateTime({start:Int64}, 'UTC')\n  AND bucket < toDateTime({end:Int64}, 'UTC')"
    )
    return where, parameters


def _select(columns: Sequence[Column], include_machine_activity: bool) -> str:
    return ",\n  ".join(
        f"{counted_expression(c, include_machine_activity)} AS c{i}" for i, c in enumerate(columns)
    )


def table_for(window: Window) -> str:
    return LIVE_TABLE if window.is_live else GLOBAL_TABLE


def breakdown_query(
    database: str,
    columns: Sequence[Column],
    dimensions: Sequence[str],
    *,
    tenant_id: str,
    campaign_id: str,
    window: Window,
    include_machine_activity: bool,
    cuts: Sequence[Cut] = (),
) -> RollupQuery:
    """Rows (dimension, value, *columns) for the totals (dimension '') and each dimension."""
    where, parameters = _scope(tenant_id, campaign_id, window)
    parameters["dimensions"] = ["", *dimensions]
    table = table_for(window)
    chosen = "".join(_chosen(database, table, where, cut, include_machine_activity) for cut in cuts)
    sql = (
        f"SELECT\n  dimension, value,\n  {_select(columns, include_machine_activity)}\n"
        f"FROM {database}.{table}\n{where}\n  AND dimension IN {{dimensions:Array(String)}}\n"
        f"{chosen}GROUP BY dimension, value"
    )
    return RollupQuery(sql, parameters)


def _chosen(database: str, table: str, where: str, cut: Cut, include_machine_activity: bool) -> str:
    """`AND`: the cut dimension's rows are only its values the widget shows."""
    assert _KEY.fullmatch(cut.dimension), cut.dimension
    kept = " OR ".join(_positive(c, include_machine_activity) for c in cut.kept) or "1"
    order = counted_expression(cut.order, include_machine_activity)
    return (
        f"  AND (dimension != '{cut.dimension}' OR value IN (\n"
        f"    SELECT value FROM {database}.{table}\n{where}\n  AND dimension = '{cut.dimension}'\n"
        f"    GROUP BY value HAVING {kept}\n    ORDER BY {order} DESC, value LIMIT {int(cut.limit)}))\n"
    )


def series_query(
    database: str,
    columns: Sequence[Column],
    *,
    tenant_id: str,
    campaign_id: str,
    window: Window,
    include_machine_activity: bool,
) -> RollupQuery:
    """Rows (bucket start as a unix timestamp, *columns), one per non-empty bucket of the window."""
    where, parameters = _scope(tenant_id, campaign_id, window)
    sql = (
        f"SELECT\n  {_BUCKET_START[window.granularity]} AS at,\n"
        f"  {_select(columns, include_machine_activity)}\n"
        f"FROM {database}.{table_for(window)}\n{where}\n  AND dimension = ''\n"
        "GROUP BY at\nORDER BY at"
    )
    return RollupQuery(sql, parameters)


MAX_CAMPAIGNS = 1000


def campaigns_query(database: str, tenant_id: str, limit: int) -> RollupQuery:
    """The tenant's campaigns: (campaign_id, unix time of the latest bucket, events), newest first."""
    sql = (
        f"SELECT campaign_id, toUnixTimestamp(max(bucket)) AS latest, sum(events)\n"
        f"FROM {database}.{GLOBAL_TABLE}\nWHERE tenant_id = {{tenant_id:String}} AND dimension = ''\n"
        "GROUP BY campaign_id\nORDER BY latest DESC, campaign_id\nLIMIT {limit:UInt32}"
    )
    return RollupQuery(sql, {"tenant_id": tenant_id, "limit": min(limit or MAX_CAMPAIGNS, MAX_CAMPAIGNS)})
