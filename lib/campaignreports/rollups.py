"""Reads counted metrics from the rollup tables: SQL built from the metric table, never by hand.

Every value a user controls (tenant, campaign, window bounds, time zone) is a bound parameter.
The only text put into the SQL comes from the metric and catalog tables in this repository,
and is checked to be a plain lower-case key.

A series of counts is read from the coarsest rollup whose buckets each lie inside one of the
window's buckets (`level_for`): day rows when the window's buckets are whole UTC days, hours for
zones on whole-hour offsets, quarter hours for +5:30 and +5:45, minutes for the live window; a
series that merges states reads each bucket from the coarsest rollups inside it (`series_rows`).
Totals and
breakdowns, which add up the whole window, read it in pieces (`pieces`): its whole UTC days from
the day rollup and its edges from the finest rollup that fits its bounds, so a 30-day window in
Asia/Kathmandu is its edge quarter hours and the whole UTC days between, and costs about what 30
days cost in UTC (at 10M events, half the time of reading it all from quarter hours); a live
window is its edge minutes and the whole hours between (`LIVE_TOTAL_LEVELS`).

Two queries answer any set of widgets over one window (plus one per series-per-value widget),
each after one `cut_query` per dimension it cuts:
- `cut_query`: the values of a dimension with a `Cut` that its widget shows, ranked by one
  count in the engine (a campaign with 100,000 clicked URLs aggregates and sends its top 10,
  not 100,000 rows to rank in Python); the reads below take them as a bound parameter;
- `breakdown_query`: one row per (dimension, value), the totals being dimension '' (KPI
  widgets, and the wholes that shares are taken of), the breakdowns the rows of `rows` widgets;
  a cut dimension's rows only for its chosen values;
- `series_query`: one row per bucket of the window (series widgets), or per value and bucket
  for a series per breakdown value, of the values chosen for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from campaignreports.domain.metrics import DELAY_LEVELS, METRICS, Aggregate, Counted, Machine
from campaignreports.domain.windows import Granularity, Window
from campaignreports.schema import AMOUNT_MEASURE, ENGAGE_MEASURE, ENGAGE_QUANTILES

_KEY = re.compile(r"[a-z_]+")


def _sql_keys(keys: Iterable[str]) -> str:
    """Plain lower-case keys as a SQL list ('a', 'b')."""
    found = sorted(set(keys))
    assert all(k == "" or _KEY.fullmatch(k) for k in found), found
    return f"({', '.join(repr(k) for k in found)})"


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
_SOURCE_COLUMNS = "dimension, value, channel, type, is_machine, bucket, events"
# The columns read only when a metric needs them (states are most of a row's bytes).
_AGGREGATE_COLUMNS = {
    Aggregate.DISTINCT_PROFILES: ("profiles",),
    Aggregate.AMOUNT: ("currency", AMOUNT_MEASURE.name),
    **{delay: (ENGAGE_MEASURE.name,) for delay in DELAY_LEVELS},
}
# The columns holding states to merge (not numbers to add up): what makes a row costly to read.
_STATES = frozenset({"profiles", ENGAGE_MEASURE.name})
# The currencies of the amounts read (when the request names none), the last column of a read.
CURRENCIES = "currencies"

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


@dataclass(frozen=True)
class _Rows:
    """Which rollup rows a counted metric takes: its event type, the channels named (its own
    and the widget's; two different ones match no row), the machine flags it keeps."""

    event_type: str
    channels: tuple[str, ...]
    machine: frozenset[bool]

    @classmethod
    def of(cls, column: Column, include_machine_activity: bool) -> _Rows:
        source = METRICS[column.metric_id].source
        assert isinstance(source, Counted), column
        if source.machine is Machine.MACHINE_ONLY:
            machine = frozenset({True})
        elif source.machine is Machine.HUMAN and not include_machine_activity:
            machine = frozenset({False})
        else:
            machine = frozenset({False, True})
        channels = tuple(sorted({c for c in (column.channel, source.channel) if c is not None}))
        return cls(source.event_type, channels, machine)

    def takes(self, channel: str, event_type: str, is_machine: bool) -> bool:
        """Whether a row of this channel, type and machine flag is counted (as `_condition`)."""
        return (
            event_type == self.event_type
            and is_machine in self.machine
            and all(channel == named for named in self.channels)
        )


def _condition(column: Column, include_machine_activity: bool) -> str:
    """Which rollup rows a counted metric takes (`_Rows`), in SQL."""
    rows = _Rows.of(column, include_machine_activity)
    assert _KEY.fullmatch(rows.event_type), rows.event_type
    condition = f"type = '{rows.event_type}'"
    # A metric of one channel read for another widget channel matches no row: counts 0.
    for channel in rows.channels:
        assert _KEY.fullmatch(channel), channel
        condition = f"channel = '{channel}' AND {condition}"
    if rows.machine != {False, True}:
        condition += " AND is_machine" if True in rows.machine else " AND NOT is_machine"
    return condition


_NAMED_CURRENCY = " AND currency = {currency:String}"


def counted_expression(
    column: Column, include_machine_activity: bool, currency: str = "", dimensions: Sequence[str] = ()
) -> str:
    """The aggregate expression over a rollup table that yields a counted metric; an amount only
    in `currency` when one is named. A state (profiles, delays) is merged only in rows of
    `dimensions` when they are named: merging states is most of a breakdown's cost, and a KPI's
    distinct profiles are wanted in the totals alone, not per reason or link."""
    source = METRICS[column.metric_id].source
    assert isinstance(source, Counted), column
    condition = _condition(column, include_machine_activity)
    if dimensions and (source.aggregate is Aggregate.DISTINCT_PROFILES or source.aggregate in DELAY_LEVELS):
        condition += f" AND dimension IN {_sql_keys(dimensions)}"
    if source.aggregate is Aggregate.DISTINCT_PROFILES:
        return f"groupBitmapMergeIf(profiles, {condition})"
    if source.aggregate is Aggregate.AMOUNT:
        return f"sumIf({AMOUNT_MEASURE.name}, {condition}{_NAMED_CURRENCY if currency else ''})"
    if source.aggregate in DELAY_LEVELS:
        levels = ", ".join(map(str, ENGAGE_QUANTILES))
        at = ENGAGE_QUANTILES.index(DELAY_LEVELS[source.aggregate]) + 1
        # No timed event: 0 rather than NaN.
        quantile = f"quantilesBFloat16MergeIf({levels})({ENGAGE_MEASURE.name}, {condition})[{at}]"
        return f"ifNotFinite({quantile}, 0)"
    return f"sumIf(events, {condition})"


def currencies_expression(columns: Sequence[Column], include_machine_activity: bool) -> str | None:
    """The sorted currencies the amount columns add up, or None without amount columns."""
    amounts = [c for c in columns if _aggregate(c) is Aggregate.AMOUNT]
    if not amounts:
        return None
    conditions = " OR ".join(f"({_condition(c, include_machine_activity)})" for c in amounts)
    return f"arraySort(groupUniqArrayIf(currency, currency != '' AND ({conditions})))"


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

    def ranking(self, include_machine_activity: bool) -> tuple[str, str, frozenset[str]]:
        """What the cut ranks and keeps, in SQL: of two cuts ranking alike, the values of the
        narrower are the first values of the wider (the top 5 links are the top 10's first 5)."""
        return (
            self.dimension,
            counted_expression(self.order, include_machine_activity),
            frozenset(_positive(column, include_machine_activity) for column in self.kept),
        )


def _read_as_is(read: Sequence[Any]) -> list[Any]:
    return list(read)


@dataclass(frozen=True)
class RollupQuery:
    sql: str
    parameters: dict[str, Any]
    # A row's values after its keys -> the columns' values in order (then the currencies, when
    # read): a read that sums its event counts in one map computes them from it.
    values: Callable[[Sequence[Any]], list[Any]] = _read_as_is


def _parameters(
    tenant_id: str, campaign_id: str, window: Window, message_id: str, currency: str = ""
) -> dict[str, Any]:
    parameters = {"tenant_id": tenant_id, "campaign_id": campaign_id, "timezone": window.timezone}
    if message_id:  # one message or run of the campaign (a rollup key, like the campaign)
        parameters["message_id"] = message_id
    if currency:
        parameters["currency"] = currency
    return parameters


def _levels(window: Window) -> tuple[Level, ...]:
    return LIVE_LEVELS if window.is_live else GLOBAL_LEVELS


def _boundaries(window: Window, *, per_bucket: bool) -> list[int]:
    end = int(window.end.timestamp())
    return [*window.bucket_seconds, end] if per_bucket else [int(window.start.timestamp()), end]


@dataclass(frozen=True)
class Piece:
    """Whole buckets of one rollup: [start, end) in unix seconds."""

    level: Level
    start: int
    end: int


def _split(start: int, end: int, levels: Sequence[Level]) -> list[Piece]:
    """[start, end) as whole buckets of the coarsest levels that fit, finer ones at the edges."""
    if start >= end:
        return []
    level, finer = levels[0], levels[1:]
    first = -(-start // level.seconds) * level.seconds
    last = end // level.seconds * level.seconds
    if not finer:
        assert (first, last) == (start, end), (start, end, level)  # the finest level fits the window
        return [Piece(level, start, end)]
    if first >= last:
        return _split(start, end, finer)
    return [*_split(start, first, finer), Piece(level, first, last), *_split(last, end, finer)]


# The rollups a total reads: whole UTC days, and at the window's edges the finest rollup that
# fits its bounds (whole hours too in a live window, which never holds a whole day). Each more
# rollup a read takes costs the engine about 3 ms to analyse, more than the finer rows it saves:
# at 10M events, skipping the quarter hours of the live window and the hours of 30 days in
# Asia/Kathmandu took 2-4 ms off every read (a day's edge is then up to 96 quarter hours).
LIVE_TOTAL_LEVELS = tuple(level for level in LIVE_LEVELS if level.table != "rollup_15m")
GLOBAL_TOTAL_LEVELS = tuple(level for level in GLOBAL_LEVELS if level.table != "rollup_hour")


def pieces(window: Window) -> list[Piece]:
    """Where a total of the window finds its rows: the window split by `_split`, down to the
    coarsest rollup whose buckets fit its bounds."""
    start, end = int(window.start.timestamp()), int(window.end.timestamp())
    levels = LIVE_TOTAL_LEVELS if window.is_live else GLOBAL_TOTAL_LEVELS
    finest = next(level for level in levels if start % level.seconds == 0 == end % level.seconds)
    return _split(start, end, levels[: levels.index(finest) + 1])


@dataclass(frozen=True)
class SeriesRows:
    """The rows of one rollup that a series reads: its buckets in the window that no boundary
    of the window's buckets cuts (`cut` lists the cut ones by number, unix seconds over the
    rollup's bucket length), and, below the coarsest rollup read, only those inside a cut bucket
    of the next coarser rollup read (`within` of `parent`): the coarser one holds the rest."""

    level: Level
    cut: tuple[int, ...]
    parent: Level | None = None
    within: tuple[int, ...] = ()


def series_rows(window: Window, *, merging_states: bool) -> list[SeriesRows]:
    """The rows a series reads: when it is `merging_states`, each bucket from the coarsest
    rollups that fit inside it (a day in Asia/Kathmandu, +5:45, is 23 hours and 4 quarter hours,
    not 96 quarter hours); else the one rollup `level_for` the series. States cost what is read
    of them: at 10M events, a month of one campaign's web-impression bitmaps took 62 ms to read
    from quarter hours, 28 from hours, 10.5 from days, and the 30-day web summary by day went
    from 63 to 39 ms this way. Counts alone cost little per row, and each more rollup read costs
    more than the rows it saves (measured: 20 -> 33 ms for a 30-day count series)."""
    if not merging_states:
        return [SeriesRows(level_for(window, per_bucket=True), ())]
    boundaries = _boundaries(window, per_bucket=True)
    start, end = boundaries[0], boundaries[-1]
    levels = _levels(window)
    found = []
    parent: tuple[Level, tuple[int, ...]] | None = None
    for level in levels[: levels.index(level_for(window, per_bucket=True)) + 1]:
        cut = tuple(sorted({b // level.seconds for b in boundaries if b % level.seconds}))
        spanned = (end - 1) // level.seconds - start // level.seconds + 1
        if len(cut) < spanned:  # some of its buckets lie whole inside a window bucket
            found.append(SeriesRows(level, cut, *(parent or (None, ()))))
        if not cut:
            break
        # A rollup cut everywhere leaves the finer ones unrestricted, as are the coarser ones.
        parent = (level, cut) if len(cut) < spanned else None
    return found


def level_for(window: Window, *, per_bucket: bool) -> Level:
    """The finest rollup a read needs: the coarsest whose buckets each lie inside one of the
    window's buckets (or inside the window, for totals). For a 30-day window by day that is the
    day rollup in UTC, hours in Europe/Paris, quarter hours in Asia/Kathmandu (+5:45)."""
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
    reading: Sequence[Column],
) -> str:
    """The rollup rows of the window, from its `pieces` (a total) or its `series_rows` (a series,
    `per_bucket`), restricted to `dimension` (a condition on the column), with the state columns
    `reading` needs only."""
    extra = dict.fromkeys(name for c in reading for name in _AGGREGATE_COLUMNS.get(_aggregate(c), ()))
    parameters["start"] = int(window.start.timestamp())  # where a live series' first bucket starts
    message = " AND message_id = {message_id:String}" if "message_id" in parameters else ""
    if per_bucket:
        rows = series_rows(window, merging_states=any(name in _STATES for name in extra))
        reads = _series_reads(window, rows, parameters)
        branches = _series_branches(reading, list(extra), minutes_only=list(reads) == [LIVE_LEVELS[-1]])
    else:
        reads = _total_reads(window, parameters)
        branches = [(", ".join([_SOURCE_COLUMNS, *extra]), "")]
    selects = [
        f"SELECT {columns} FROM {database}.{level.table}\n"
        "  WHERE tenant_id = {tenant_id:String} AND campaign_id = {campaign_id:String}"
        f"{message} AND {dimension}{kinds}\n"
        f"  AND ({condition})"
        for level, condition in reads.items()
        for columns, kinds in branches
    ]
    return "(" + "\n  UNION ALL\n".join(selects) + ")"


# A profile column of rows whose profiles no column of the read merges: empty, not read.
_NO_PROFILES = "arrayReduce('groupBitmapState', emptyArrayUInt32()) AS profiles"


def _series_branches(
    reading: Sequence[Column], extra: Sequence[str], *, minutes_only: bool
) -> list[tuple[str, str]]:
    """(columns, condition on the rows' kinds) of each select of a series' rollup rows.

    The engine decodes every state of the rows it reads, and each select costs about 5 ms more
    to analyse. So a series read from the minute rows alone (`minutes_only`: most rows to
    decode) that merges the profiles of some types and counts several others reads the profile
    column of the first types only, in a select of their own: the live conversions by minute
    at 10M events (converters merged; deliveries, impressions and sends counted, over every
    channel) took 40.0 ms reading every bitmap and 23.5 ms so. With one type counted (the web
    summary's interactions) a second select cost more than it saved (31.4 -> 37.6 ms live), as
    it did for a series of fewer, coarser rows (the 30-day conversions in a +5:45 zone, 36.8 ->
    44.8 ms). Other state columns are read whole."""
    columns = ", ".join([_SOURCE_COLUMNS, *extra])
    whole = [(columns, _kinds(reading))]
    if list(extra) != ["profiles"] or not minutes_only:
        return whole
    type_of = {c: _Rows.of(c, include_machine_activity=True).event_type for c in reading}
    merged = {type_of[c] for c in reading if _aggregate(c) is Aggregate.DISTINCT_PROFILES}
    with_profiles = [c for c in reading if type_of[c] in merged]
    counted = [c for c in reading if type_of[c] not in merged]
    if len({type_of[c] for c in counted}) < 2:
        return whole
    return [(columns, _kinds(with_profiles)), (f"{_SOURCE_COLUMNS}, {_NO_PROFILES}", _kinds(counted))]


def _kinds(reading: Sequence[Column]) -> str:
    """A series' condition keeping only the rows of the types (and, when every column names one,
    the channels) its columns count; the columns' own conditions still pick their rows exactly.
    The engine then reads the rollup's projection by channel and type (`schema.TYPE_PROJECTION`)
    and decodes the states of those rows only."""
    rows = [_Rows.of(column, include_machine_activity=True) for column in reading]
    if not rows:
        return ""
    condition = f" AND type IN {_sql_keys(r.event_type for r in rows)}"
    if all(len(r.channels) == 1 for r in rows):
        condition += f" AND channel IN {_sql_keys(r.channels[0] for r in rows)}"
    return condition


# Totals and breakdowns read most types of their buckets, which the rollup's own order holds
# together: the engine weighing the projection by type for them only cost 1-3 ms a read.
_OWN_ORDER = "\nSETTINGS optimize_use_projections = 0"


def _range(start: str, end: str) -> str:
    return f"bucket >= toDateTime({{{start}:Int64}}, 'UTC') AND bucket < toDateTime({{{end}:Int64}}, 'UTC')"


def _total_reads(window: Window, parameters: dict[str, Any]) -> dict[Level, str]:
    """rollup -> the condition on its rows of a total's `pieces`: one read per rollup."""
    ranges: dict[Level, list[str]] = {}
    for number, piece in enumerate(pieces(window)):
        start, end = f"piece{number}_start", f"piece{number}_end"
        parameters.update({start: piece.start, end: piece.end})
        ranges.setdefault(piece.level, []).append(_range(start, end))
    return {level: " OR ".join(f"({condition})" for condition in found) for level, found in ranges.items()}


def _series_reads(
    window: Window, rows_read: Sequence[SeriesRows], parameters: dict[str, Any]
) -> dict[Level, str]:
    """rollup -> the condition on its rows of a series' `series_rows`."""
    parameters.update(bucketed_start=int(window.start.timestamp()), bucketed_end=int(window.end.timestamp()))
    reads = {}
    for rows in rows_read:
        conditions = [_range("bucketed_start", "bucketed_end")]
        for level, numbers, operator in ((rows.level, rows.cut, "NOT IN"), (rows.parent, rows.within, "IN")):
            if level is not None and numbers:
                parameters[f"cut_{level.table}"] = list(numbers)
                number = f"intDiv(toUnixTimestamp(bucket), {level.seconds})"
                conditions.append(f"{number} {operator} {{cut_{level.table}:Array(Int64)}}")
        reads[rows.level] = " AND ".join(conditions)
    return reads


def _aggregate(column: Column) -> Aggregate:
    source = METRICS[column.metric_id].source
    assert isinstance(source, Counted), column
    return source.aggregate


def _select(columns: Sequence[Column], include_machine_activity: bool, currency: str) -> str:
    """The columns' expressions, then (when amounts are read in no named currency) their
    currencies, which the caller checks are one."""
    selected = [
        f"{counted_expression(c, include_machine_activity, currency)} AS c{i}" for i, c in enumerate(columns)
    ]
    currencies = None if currency else currencies_expression(columns, include_machine_activity)
    return ",\n  ".join([*selected, *([f"{currencies} AS {CURRENCIES}"] if currencies else [])])


# A row's key by channel, type and machine flag: "channel/type", with "/m" after it for machine
# events (a channel or type is a plain lower-case key, so "/" parts them).
_ROW_KEY = "concat(channel, '/', type, if(is_machine, '/m', ''))"
# The events of a read in one map of sums by row key.
EVENT_SUMS = f"sumMap(map({_ROW_KEY}, events)) AS event_sums"
# Digits enough to add up a read's amounts exactly (each at most 38).
_AMOUNT_DIGITS = 80
# The keys of a distinct-profile map: "channel/type" for one channel's profiles, "*/type" for
# every channel's (profiles do not add up: their union is merged in the engine).
_CHANNEL_PROFILES = "concat(channel, '/', type)"
_ALL_PROFILES = "concat('*/', type)"


@dataclass(frozen=True)
class MappedCounts:
    """The counted columns of a breakdown read as a few maps, and its rows read back into them.

    The engine analyses every conditional aggregate of a query apart before it runs it (about
    0.6 ms each here, whatever it aggregates), so a query with a column per metric and channel
    spent half its time being analysed: a live campaign-wide breakdown at 10M events with 35
    conditional sums took 42 ms, 20 of them analysis, and 26 ms with the sums in one map; a
    30-day conversions by channel (7 distinct-profile and 7 amount columns) took 40 ms, 26 of
    them analysis, and 29 ms with both in maps. So:
    - event counts: one map of sums by row key (`EVENT_SUMS`), a column the sum of the keys
      its rows take;
    - amounts: one map of sums by row key (in the named currency only, when one is), and when
      none is named the currencies by row key;
    - distinct profiles: one map of merged bitmaps per machine filter and set of dimensions the
      columns are shown in (`needed_in`: states merged elsewhere are wasted work), keyed by
      channel and type, or by type alone for a column of every channel;
    - delay quantiles: one expression per column, after the maps."""

    columns: tuple[Column, ...]
    include_machine_activity: bool
    currency: str = ""
    needed_in: Mapping[Column, Sequence[str]] | None = None

    @functools.cached_property
    def _rows(self) -> list[_Rows]:
        """Each column's rows (worked out once, not per row read)."""
        return [_Rows.of(c, self.include_machine_activity) for c in self.columns]

    @functools.cached_property
    def _positions(self) -> dict[Aggregate, list[int]]:
        """aggregate -> the columns of it, by position (worked out once, not per row read)."""
        found: dict[Aggregate, list[int]] = {}
        for i, column in enumerate(self.columns):
            found.setdefault(_aggregate(column), []).append(i)
        return found

    @functools.cached_property
    def _delays(self) -> list[int]:
        return sorted(i for delay in DELAY_LEVELS for i in self._positions.get(delay, []))

    @functools.cached_property
    def _profile_groups(self) -> dict[tuple[frozenset[bool], tuple[str, ...]], list[int]]:
        """(machine flags, dimensions) -> the distinct-profile columns merged under them (by
        position), of the columns that can match a row (two different channels match none)."""
        groups: dict[tuple[frozenset[bool], tuple[str, ...]], list[int]] = {}
        for i in self._positions.get(Aggregate.DISTINCT_PROFILES, []):
            if len(self._rows[i].channels) <= 1:
                dimensions = tuple(sorted(set((self.needed_in or {}).get(self.columns[i], ()))))
                groups.setdefault((self._rows[i].machine, dimensions), []).append(i)
        return groups

    @functools.cached_property
    def _profile_keys(self) -> dict[int, str]:
        """A distinct-profile column's key in its group's map (`_CHANNEL_PROFILES`, `_ALL_PROFILES`)."""
        return {
            i: f"{self._rows[i].channels[0] if self._rows[i].channels else '*'}/{self._rows[i].event_type}"
            for members in self._profile_groups.values()
            for i in members
        }

    @functools.cached_property
    def _reads_currencies(self) -> bool:
        return Aggregate.AMOUNT in self._positions and not self.currency

    def expressions(self) -> list[str]:
        """The SELECT's expressions, in the order `__call__` reads them."""
        found = [EVENT_SUMS]
        for number, ((machine, dimensions), members) in enumerate(self._profile_groups.items()):
            rows = [self._rows[i] for i in members]
            keys = [_CHANNEL_PROFILES] * any(r.channels for r in rows)
            keys += [_ALL_PROFILES] * any(not r.channels for r in rows)
            condition = f"type IN {_sql_keys(r.event_type for r in rows)}"
            if all(r.channels for r in rows):
                condition += f" AND channel IN {_sql_keys(r.channels[0] for r in rows)}"
            if machine != {False, True}:
                condition += " AND is_machine" if True in machine else " AND NOT is_machine"
            if dimensions:
                condition += f" AND dimension IN {_sql_keys(dimensions)}"
            states = ", ".join(["profiles"] * len(keys))
            found.append(
                f"groupBitmapMergeMapIf(mapFromArrays([{', '.join(keys)}], [{states}]), {condition})"
                f" AS profiles_{number}"
            )
        if amounts := self._positions.get(Aggregate.AMOUNT):
            types = f"type IN {_sql_keys(self._rows[i].event_type for i in amounts)}"
            named = _NAMED_CURRENCY if self.currency else ""
            found.append(f"sumMapIf(map({_ROW_KEY}, {AMOUNT_MEASURE.name}), {types}{named}) AS amounts")
            if self._reads_currencies:
                found.append(
                    f"groupUniqArrayMapIf(map({_ROW_KEY}, currency), {types} AND currency != '')"
                    " AS currencies_by_key"
                )
        for i in self._delays:
            shown_in = (self.needed_in or {}).get(self.columns[i], ())
            found.append(
                f"{counted_expression(self.columns[i], self.include_machine_activity, '', shown_in)} AS c{i}"
            )
        return found

    @functools.cached_property
    def _takers_of(self) -> dict[str, tuple[list[int], list[int]]]:
        """row key (`_ROW_KEY`) -> the event-count and the amount columns taking its rows,
        filled as keys are met: a map has a few dozen keys, and a breakdown hundreds of rows."""
        return {}

    def _takers(self, key: str) -> tuple[list[int], list[int]]:
        found = self._takers_of.get(key)
        if found is None:
            channel, event_type, *machine = key.split("/")
            taking = {
                i for i, rows in enumerate(self._rows) if rows.takes(channel, event_type, bool(machine))
            }
            events, amounts = (
                [i for i in self._positions.get(aggregate, []) if i in taking]
                for aggregate in (Aggregate.EVENTS, Aggregate.AMOUNT)
            )
            found = self._takers_of[key] = (events, amounts)
        return found

    def __call__(self, read: Sequence[Any]) -> list[Any]:
        """A read row's maps (after its keys) -> the columns' values in order, then the
        currencies of the amounts when no currency is named."""
        rest = iter(read)
        values: list[Any] = [0] * len(self.columns)
        for key, events in next(rest).items():
            for i in self._takers(key)[0]:
                values[i] += events
        for members in self._profile_groups.values():
            merged: Mapping[str, int] = next(rest)
            for i in members:
                values[i] = merged.get(self._profile_keys[i], 0)
        currencies: set[str] = set()
        if amounts := self._positions.get(Aggregate.AMOUNT):
            for i in amounts:
                values[i] = Decimal(0)
            # Exact like the engine's Decimal(38, 9) sums: no rounding to the default 28 digits.
            with localcontext(prec=_AMOUNT_DIGITS):
                for key, amount in next(rest).items():
                    for i in self._takers(key)[1]:
                        values[i] += amount
            if self._reads_currencies:
                for key, found in next(rest).items():
                    if self._takers(key)[1]:
                        currencies.update(found)
        for i in self._delays:
            values[i] = next(rest)
        return [*values, *([sorted(currencies)] if self._reads_currencies else [])]


def breakdown_query(
    database: str,
    columns: Sequence[Column],
    dimensions: Sequence[str],
    *,
    tenant_id: str,
    campaign_id: str,
    window: Window,
    include_machine_activity: bool,
    chosen: Sequence[Chosen] = (),
    message_id: str = "",
    currency: str = "",
    needed_in: Mapping[Column, Sequence[str]] | None = None,
) -> RollupQuery:
    """Rows (dimension, value, *columns[, currencies]) for the totals (dimension '') and each
    dimension; of one message of the campaign when `message_id` is set; amounts in `currency`
    only when it is named (else followed by the currencies they add up). `needed_in` names the
    dimensions whose rows each column is shown in: its states are merged there only (values
    elsewhere are then meaningless). A `chosen` dimension's rows are only its chosen values."""
    parameters = _parameters(tenant_id, campaign_id, window, message_id, currency)
    parameters["dimensions"] = ["", *dimensions]
    source = _source(
        database,
        window,
        "dimension IN {dimensions:Array(String)}",
        parameters,
        per_bucket=False,
        reading=columns,
    )
    conditions = [_chosen(parameters, one) for one in chosen]
    where = "WHERE " + "\n  AND ".join(conditions) + "\n" if conditions else ""
    read = MappedCounts(tuple(columns), include_machine_activity, currency, needed_in)
    expressions = ",\n  ".join(read.expressions())
    sql = (
        f"SELECT\n  dimension, value,\n  {expressions}\n"
        f"FROM {source}\n{where}GROUP BY dimension, value{_OWN_ORDER}"
    )
    return RollupQuery(sql, parameters, read)


@dataclass(frozen=True)
class Chosen:
    """The values of a cut dimension a read keeps: what `cut_query` returned."""

    dimension: str
    values: tuple[str, ...]


def cut_query(
    database: str,
    cut: Cut,
    *,
    tenant_id: str,
    campaign_id: str,
    window: Window,
    include_machine_activity: bool,
    message_id: str = "",
    currency: str = "",
) -> RollupQuery:
    """Rows (value,) of the values of the cut's dimension that its widget shows, in order. Read
    apart and then bound as a parameter: as a subquery in the breakdown's WHERE the same cut cost
    twice as much (measured on a 10M-event campaign's links, 11.6 ms alone against 24 ms more)."""
    assert _KEY.fullmatch(cut.dimension), cut.dimension
    parameters = _parameters(tenant_id, campaign_id, window, message_id, currency)
    kept = " OR ".join(dict.fromkeys(_positive(c, include_machine_activity) for c in cut.kept)) or "1"
    order = counted_expression(cut.order, include_machine_activity, currency)
    source = _source(
        database, window, f"dimension = '{cut.dimension}'", parameters, per_bucket=False, reading=[cut.order]
    )
    sql = (
        f"SELECT value FROM {source}\n"
        f"GROUP BY value HAVING {kept}\nORDER BY {order} DESC, value LIMIT {int(cut.limit)}{_OWN_ORDER}"
    )
    return RollupQuery(sql, parameters)


def _chosen(parameters: dict[str, Any], chosen: Chosen) -> str:
    """A condition: the chosen dimension's rows are only its chosen values."""
    assert _KEY.fullmatch(chosen.dimension), chosen.dimension
    name = f"chosen_{chosen.dimension}"
    parameters[name] = list(chosen.values)
    return f"(dimension != '{chosen.dimension}' OR value IN {{{name}:Array(String)}})"


def series_query(
    database: str,
    columns: Sequence[Column],
    *,
    tenant_id: str,
    campaign_id: str,
    window: Window,
    include_machine_activity: bool,
    chosen: Chosen | None = None,
    message_id: str = "",
    currency: str = "",
) -> RollupQuery:
    """Rows (bucket start as a unix timestamp, *columns), one per non-empty bucket of the window;
    with `chosen` values, rows (value, bucket start, *columns) of those values of its dimension;
    of one message of the campaign when `message_id` is set. Series count events and profiles
    (the catalog holds them to it), so no currencies follow."""
    parameters = _parameters(tenant_id, campaign_id, window, message_id, currency)
    where = f"WHERE {_chosen(parameters, chosen)}\n" if chosen else ""
    source = _source(
        database,
        window,
        f"dimension = '{chosen.dimension}'" if chosen else "dimension = ''",
        parameters,
        per_bucket=True,
        reading=columns,
    )
    keys = "value, at" if chosen else "at"
    sql = (
        f"SELECT\n  {'value, ' if chosen else ''}{_bucket_start(window)} AS at,\n"
        f"  {_select(columns, include_machine_activity, currency)}\n"
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
    currency: str = "",
) -> RollupQuery:
    """Rows (campaign_id, *columns[, currencies]) of every campaign of the tenant with events in
    the window: the totals rows of the coarsest rollup that fits the window, as a report's totals
    (amounts as in `breakdown_query`)."""
    parameters = _parameters(tenant_id, "", window, "", currency)
    parameters.update({"start": int(window.start.timestamp()), "end": int(window.end.timestamp())})
    level = level_for(window, per_bucket=False)
    sql = (
        f"SELECT\n  campaign_id,\n  {_select(columns, include_machine_activity, currency)}\n"
        f"FROM {database}.{level.table}\n"
        "WHERE tenant_id = {tenant_id:String} AND dimension = ''\n"
        "  AND bucket >= toDateTime({start:Int64}, 'UTC') AND bucket < toDateTime({end:Int64}, 'UTC')\n"
        f"GROUP BY campaign_id{_OWN_ORDER}"
    )
    return RollupQuery(sql, parameters)
