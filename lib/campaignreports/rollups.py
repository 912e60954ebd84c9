"""Reads counted metrics from the rollup tables: SQL built from the metric table, never by hand.

Every value a user controls (tenant, campaign, window bounds, time zone) is a bound parameter.
The only text put into the SQL comes from the metric and catalog tables in this repository,
and is checked to be a plain lower-case key.

A window is read from the coarsest rollup whose buckets each lie inside one of its buckets
(`level_for`): day rows when the window's buckets are whole UTC days, hours for zones on
whole-hour offsets, quarter hours for +5:30 and +5:45, minutes for the live window.

Two queries answer any set of widgets over one window (plus one per series-per-value widget):
- `breakdown_query`: one row per (dimension, value), the totals being dimension '' (KPI
  widgets, and the wholes that shares are taken of), the breakdowns the rows of `rows` widgets;
  a dimension with a `Cut` reads only the rows its widget shows, chosen by a subquery that
  ranks the dimension's values by one count (a campaign with 100,000 clicked URLs aggregates
  and sends its top 10, not 100,000 rows to rank in Python);
- `series_query`: one row per bucket of the window (series widgets), or per value and bucket
  for a series per breakdown value, its values chosen by a `Cut` as above.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaignreports.domain.metrics import METRICS, Aggregate, Counted, Machine
from campaignreports.domain.windows import Granularity, Window

_KEY = re.compile(r"[a-z_]+")


@dataclass(frozen=True)
class Level:
    """A rollup table and the length of its buckets."""

    table: str
    seconds: int


# Coarsest first; the minute rows hold the last 25 hours only, so only live windows read them.
GLOBAL_LEVELS = (Level("rollup_day", 86_400), Level("rollup_hour", 3_600), Level("rollup_15m", 900))
LIVE_LEVELS = (*GLOBAL_LEVELS, Level("rollup_minute", 60))
# The table answering "which campaigns, and when was each last active" (to the quarter hour).
CAMPAIGNS_TABLE = "rollup_15m"
_SOURCE_COLUMNS = "dimension, value, channel, type, is_machine, bucket, events, profiles"

_LOCAL = "{timezone:String}"
# The start (a unix timestamp) of the window bucket holding a rollup bucket.
_BUCKET_START = {
    Granularity.MINUTE: "toUnixTimestamp(bucket)",
    Granularity.HOUR: "toUnixTimestamp(toStartOfHour(bucket, {timezone:String}))",
    Granularity.DAY: "toUnixTimestamp(toStartOfDay(bucket, {timezone:String}))",
    Granularity.WEEK: f"toUnixTimestamp(toDateTime(toMonday(bucket, {_LOCAL}), {_LOCAL}))",
    Granularity.MONTH: f"toUnixTimestamp(toDateTime(toStartOfMonth(bucket, {_LOCAL}), {_LOCAL}))",
}


def _bucket_start(window: Window) -> str:
    """The SQL of the window bucket holding a rollup bucket. Live buckets are UTC multiples of
    their length, the first one starting with the window."""
    if not window.is_live or window.granularity is Granularity.MINUTE:
        return _BUCKET_START[window.granularity]
    step = int(window.granularity.value.total_seconds())
    return f"greatest(intDiv(toUnixTimestamp(bucket), {step}) * {step}, {{start:Int64}})"


@dataclass(frozen=True)
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
    # A metric of one channel read for another widget channel matches no row: counts 0.
    for channel in sorted({c for c in (column.channel, source.channel) if c is not None}):
        assert _KEY.fullmatch(channel), channel
        condition = f"channel = '{channel}' AND {condition}"
    return condition + _machine_condition(source.machine, include_machine_activity)


def counted_expression(column: Column, include_machine_activity: bool) -> str:
    """The aggregate expression over a rollup table that yields a counted metric."""
    source = METRICS[column.metric_id].source
    assert isinstance(source, Counted), column
    condition = _condition(column, include_machine_activity)
    if source.aggregate is Aggregate.DISTINCT_PROFILES:
        return f"groupBitmapMergeIf(profiles, {condition})"
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


def _parameters(tenant_id: str, campaign_id: str, window: Window, message_id: str) -> dict[str, Any]:
    parameters = {"tenant_id": tenant_id, "campaign_id": campaign_id, "timezone": window.timezone}
    if message_id:  # one message or run of the campaign (a rollup key, like the campaign)
        parameters["message_id"] = message_id
    return parameters


def _levels(window: Window) -> tuple[Level, ...]:
    return LIVE_LEVELS if window.is_live else GLOBAL_LEVELS


def _boundaries(window: Window, *, per_bucket: bool) -> list[int]:
    end = int(window.end.timestamp())
    return [*window.bucket_seconds, end] if per_bucket else [int(window.start.timestamp()), end]


def level_for(window: Window, *, per_bucket: bool) -> Level:
    """The coarsest rollup whose buckets each lie inside one of the window's buckets (or inside
    the window, for totals): a 30-day window in UTC is read from day rows, in Europe/Paris from
    hours, in Asia/Kathmandu (+5:45) from quarter hours. One table and one range per query:
    measured here, chDB's cost per table read outweighed what mixing levels saved."""
    boundaries = _boundaries(window, per_bucket=per_bucket)
    return next(
        level for level in _levels(window) if all(boundary % level.seconds == 0 for boundary in boundaries)
    )


def _source(
    database: str,
    window: Window,
    dimension: str,
    parameters: dict[str, Any],
    *,
    per_bucket: bool,
    with_profiles: bool,
) -> str:
    """The rollup rows of the window, from `level_for`, restricted to `dimension` (a condition
    on the column). Profile states are read only when a column needs them: they are most of a
    row's bytes."""
    level = level_for(window, per_bucket=per_bucket)
    columns = _SOURCE_COLUMNS if with_profiles else _SOURCE_COLUMNS.removesuffix(", profiles")
    parameters.update({"start": int(window.start.timestamp()), "end": int(window.end.timestamp())})
    message = " AND message_id = {message_id:String}" if "message_id" in parameters else ""
    return (
        f"(SELECT {columns} FROM {database}.{level.table}\n"
        "  WHERE tenant_id = {tenant_id:String} AND campaign_id = {campaign_id:String}"
        f"{message} AND {dimension}\n"
        "  AND bucket >= toDateTime({start:Int64}, 'UTC') AND bucket < toDateTime({end:Int64}, 'UTC'))"
    )


def _needs_profiles(columns: Sequence[Column]) -> bool:
    return any(_aggregate(column) is Aggregate.DISTINCT_PROFILES for column in columns)


def _aggregate(column: Column) -> Aggregate:
    source = METRICS[column.metric_id].source
    assert isinstance(source, Counted), column
    return source.aggregate


def _select(columns: Sequence[Column], include_machine_activity: bool) -> str:
    return ",\n  ".join(
        f"{counted_expression(c, include_machine_activity)} AS c{i}" for i, c in enumerate(columns)
    )


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
    message_id: str = "",
) -> RollupQuery:
    """Rows (dimension, value, *columns) for the totals (dimension '') and each dimension; of
    one message of the campaign when `message_id` is set."""
    parameters = _parameters(tenant_id, campaign_id, window, message_id)
    parameters["dimensions"] = ["", *dimensions]
    source = _source(
        database,
        window,
        "dimension IN {dimensions:Array(String)}",
        parameters,
        per_bucket=False,
        with_profiles=_needs_profiles(columns),
    )
    chosen = [_chosen(database, window, parameters, cut, include_machine_activity) for cut in cuts]
    where = "WHERE " + "\n  AND ".join(chosen) + "\n" if chosen else ""
    sql = (
        f"SELECT\n  dimension, value,\n  {_select(columns, include_machine_activity)}\n"
        f"FROM {source}\n{where}GROUP BY dimension, value"
    )
    return RollupQuery(sql, parameters)


def _chosen(
    database: str, window: Window, parameters: dict[str, Any], cut: Cut, include_machine_activity: bool
) -> str:
    """A condition: the cut dimension's rows are only its values the widget shows."""
    assert _KEY.fullmatch(cut.dimension), cut.dimension
    kept = " OR ".join(_positive(c, include_machine_activity) for c in cut.kept) or "1"
    order = counted_expression(cut.order, include_machine_activity)
    source = _source(
        database,
        window,
        f"dimension = '{cut.dimension}'",
        parameters,
        per_bucket=False,
        with_profiles=_needs_profiles([cut.order]),
    )
    return (
        f"(dimension != '{cut.dimension}' OR value IN (\n"
        f"    SELECT value FROM {source}\n"
        f"    GROUP BY value HAVING {kept}\n    ORDER BY {order} DESC, value LIMIT {int(cut.limit)}))"
    )


def series_query(
    database: str,
    columns: Sequence[Column],
    *,
    tenant_id: str,
    campaign_id: str,
    window: Window,
    include_machine_activity: bool,
    cut: Cut | None = None,
    message_id: str = "",
) -> RollupQuery:
    """Rows (bucket start as a unix timestamp, *columns), one per non-empty bucket of the window;
    with a `cut`, rows (value, bucket start, *columns) of the cut dimension's values it keeps;
    of one message of the campaign when `message_id` is set."""
    parameters = _parameters(tenant_id, campaign_id, window, message_id)
    if cut is not None:
        assert _KEY.fullmatch(cut.dimension), cut.dimension
    source = _source(
        database,
        window,
        f"dimension = '{cut.dimension}'" if cut else "dimension = ''",
        parameters,
        per_bucket=True,
        with_profiles=_needs_profiles(columns),
    )
    keys = "value, at" if cut else "at"
    where = f"WHERE {_chosen(database, window, parameters, cut, include_machine_activity)}\n" if cut else ""
    sql = (
        f"SELECT\n  {'value, ' if cut else ''}{_bucket_start(window)} AS at,\n"
        f"  {_select(columns, include_machine_activity)}\n"
        f"FROM {source}\n{where}GROUP BY {keys}\nORDER BY {keys}"
    )
    return RollupQuery(sql, parameters)


MAX_CAMPAIGNS = 1000


def campaigns_query(database: str, tenant_id: str, limit: int) -> RollupQuery:
    """The tenant's campaigns: (campaign_id, unix time of the latest bucket, events, unix time of
    the first bucket), newest first."""
    sql = (
        "SELECT campaign_id, toUnixTimestamp(max(bucket)) AS latest, sum(events),"
        " toUnixTimestamp(min(bucket))\n"
        f"FROM {database}.{CAMPAIGNS_TABLE}\nWHERE tenant_id = {{tenant_id:String}} AND dimension = ''\n"
        "GROUP BY campaign_id\nORDER BY latest DESC, campaign_id\nLIMIT {limit:UInt32}"
    )
    return RollupQuery(sql, {"tenant_id": tenant_id, "limit": min(limit or MAX_CAMPAIGNS, MAX_CAMPAIGNS)})


def overview_query(
    database: str,
    columns: Sequence[Column],
    *,
    tenant_id: str,
    window: Window,
    include_machine_activity: bool,
) -> RollupQuery:
    """Rows (campaign_id, *columns) of every campaign of the tenant with events in the window:
    the totals rows of the coarsest rollup that fits the window, as a report's totals."""
    parameters = _parameters(tenant_id, "", window, "")
    parameters.update({"start": int(window.start.timestamp()), "end": int(window.end.timestamp())})
    level = level_for(window, per_bucket=False)
    sql = (
        f"SELECT\n  campaign_id,\n  {_select(columns, include_machine_activity)}\n"
        f"FROM {database}.{level.table}\n"
        "WHERE tenant_id = {tenant_id:String} AND dimension = ''\n"
        "  AND bucket >= toDateTime({start:Int64}, 'UTC') AND bucket < toDateTime({end:Int64}, 'UTC')\n"
        "GROUP BY campaign_id"
    )
    return RollupQuery(sql, parameters)
