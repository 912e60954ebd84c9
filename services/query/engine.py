"""Evaluates catalog widgets against the rollups: one engine for every widget definition.

Any set of widgets over one window (one widget, or every widget of a tab) is answered by
queries run side by side: the totals and breakdowns, the series, and one more for each widget
drawing a series per breakdown value; each after the values of the dimensions it cuts are
chosen, one read for all the cuts that rank a dimension alike. The rest is arithmetic over the
metric table.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry import metrics as otel_metrics

from campaignreports.clickhouse import ClickHouse
from campaignreports.domain import experiment, metrics, texts
from campaignreports.domain.catalog import (
    CHANNEL_DIMENSION,
    CHANNELS,
    DERIVED_DIMENSIONS,
    Kind,
    WidgetDef,
    stored_dimension,
)
from campaignreports.domain.events import KEY_COUNTS
from campaignreports.domain.windows import Window
from campaignreports.query.sizes import DimensionSizes
from campaignreports.recipients import RecipientQuery, recipients_query
from campaignreports.rollups import (
    Chosen,
    Column,
    Cut,
    breakdown_query,
    campaigns_query,
    cut_query,
    overview_query,
    series_query,
)

TOTALS = ("", "")
Counts = Mapping[str, float]


@dataclass(frozen=True)
class Scope:
    """What a request asks about, beyond the widgets."""

    tenant_id: str
    campaign_id: str
    window: Window
    locale: str = "en"
    include_machine_activity: bool = False
    control_treatment_id: str = ""
    message_id: str = ""  # one message or run of the campaign ('' for all)
    currency: str = ""  # revenue in this currency only ('' for the one the conversions are in)

    def place(self) -> Hashable:
        """What names the data a read of this scope finds (`DimensionSizes`): the campaign, the
        message and the window, the live window being one place as it moves."""
        window = "live" if self.window.is_live else (self.window.start, self.window.end)
        return (self.tenant_id, self.campaign_id, self.message_id, window)

    def reading(self) -> dict[str, Any]:
        """The arguments every rollup read of this scope takes (`campaignreports.rollups`)."""
        return {
            "tenant_id": self.tenant_id,
            "campaign_id": self.campaign_id,
            "window": self.window,
            "include_machine_activity": self.include_machine_activity,
            "message_id": self.message_id,
            "currency": self.currency,
        }


class Amount(float):
    """An amount of money read from storage: a float for arithmetic and ordering like any count,
    that keeps the exact decimal it was read as (a metric shows that one)."""

    exact: Decimal

    def __new__(cls, exact: Decimal) -> Amount:
        amount = super().__new__(cls, exact)
        amount.exact = exact
        return amount


def amount_text(value: float) -> str:
    """An amount exactly, in plain decimal notation without trailing zeros ("49.9", "1000")."""
    exact = value.exact if isinstance(value, Amount) else Decimal(value)
    return f"{exact.normalize():f}" if exact else "0"


class MixedCurrenciesError(ValueError):
    """The amounts a read adds up are in more than one currency, and the request named none."""

    def __init__(self, currencies: Iterable[str], campaign_id: str = "") -> None:
        which = f"campaign {campaign_id!r}'s" if campaign_id else "the"
        super().__init__(
            f"{which} conversions are in {', '.join(sorted(currencies))}: "
            "name one in `currency` to read revenue in it"
        )


def _one_currency(found: Iterable[str], named: str, campaign_id: str = "") -> str:
    """The currency of a read's amounts: the one named, or the one they are in ('' for none)."""
    if named:
        return named
    currencies = set(found)
    if len(currencies) > 1:
        raise MixedCurrenciesError(currencies, campaign_id)
    return next(iter(currencies), "")


def _read_values(columns: Sequence[Column], counts: Sequence[Any]) -> dict[Column, float]:
    """A read row's columns as floats, amounts as `Amount`s."""
    return {
        column: Amount(count) if isinstance(count, Decimal) else float(count)
        for column, count in zip(columns, counts, strict=True)
    }


@dataclass(frozen=True)
class MetricValue:
    id: str
    label: str
    value: float
    rate: float | None = None
    unit: str = "count"
    rate_base: str = ""  # the metric id `rate` is a fraction of
    amount: str = ""  # unit currency: the value exactly, in `currency`
    currency: str = ""


@dataclass(frozen=True)
class RowValue:
    key: str
    label: str
    metrics: list[MetricValue]


@dataclass(frozen=True)
class SeriesValue:
    metric_id: str
    label: str
    bucket_seconds: list[int]  # each point's bucket start, as a unix timestamp
    values: list[float]
    key: str = ""  # the breakdown value, for a series per value


@dataclass(frozen=True)
class WidgetResult:
    widget: WidgetDef
    title: str
    description: str
    as_of: datetime
    window: Window
    metrics: list[MetricValue] = field(default_factory=list)
    rows: list[RowValue] = field(default_factory=list)
    series: list[SeriesValue] = field(default_factory=list)


@dataclass(frozen=True)
class MetricInfo:
    """A metric as a widget lists it: its label there, its definition and its formula."""

    id: str
    label: str
    definition: str
    unit: str
    numerator: str = ""  # a ratio's or share's numerator and base (metric ids)
    base: str = ""
    rate_base: str = ""  # the metric its rate is a fraction of


def metric_infos(widget: WidgetDef, locale: str) -> list[MetricInfo]:
    """Every metric the widget lists, described in `locale`."""
    infos = []
    for m in widget.listed_metric_ids:
        label, definition = texts.metric_label(m, locale, widget.id), texts.metric_definition(m, locale)
        if m in experiment.COMPARISON_UNITS:
            infos.append(MetricInfo(m, label, definition, experiment.COMPARISON_UNITS[m]))
            continue
        numerator, base = metrics.formula(m) or ("", "")
        rate_base = widget.rate_base(m) or ""
        infos.append(MetricInfo(m, label, definition, metrics.unit(m), numerator, base, rate_base))
    return infos


T = TypeVar("T")
# (dimension, value) -> column -> count: what a breakdown read (`WidgetEngine._breakdowns`).
Breakdowns = dict[tuple[str, str], dict[Column, float]]


class UnknownControlError(ValueError):
    """The request names a control treatment the experiment does not have."""


@functools.cache
def _columns(widget: WidgetDef) -> list[Column]:
    """The counted columns the widget reads; a row per channel reads each metric per channel too."""
    counted = metrics.counted_dependencies(widget.metric_ids)
    channels = (*CHANNELS, None) if widget.dimension == CHANNEL_DIMENSION else (widget.channel,)
    return [Column(m, channel) for channel in channels for m in counted]


def _all_columns(widgets: Sequence[WidgetDef]) -> list[Column]:
    """Every column the widgets read, each once, in a stable order."""
    return sorted({c for w in widgets for c in _columns(w)}, key=lambda c: (c.metric_id, c.channel or ""))


def _counts(
    widget: WidgetDef, values: Mapping[Column, float], channel: str | None = None
) -> dict[str, float]:
    """The widget's counted metrics among `values`: those of its own channel, or of `channel`
    for a row per channel."""
    channel = channel or widget.channel
    return {c.metric_id: values.get(c, 0.0) for c in _columns(widget) if c.channel == channel}


def _metric_values(
    widget: WidgetDef,
    counted: Counts,
    locale: str,
    whole: Counts | None = None,
    rated: Callable[[str], bool] = lambda metric_id: True,
    currency: str = "",
) -> list[MetricValue]:
    values = []
    for m in widget.metric_ids:
        rate = metrics.rate(m, counted, widget.rate_base(m)) if rated(m) else None
        value, unit = metrics.evaluate(m, counted, whole), metrics.unit(m)
        money = unit == "currency"
        values.append(
            MetricValue(
                m,
                texts.metric_label(m, locale, widget.id),
                float(value),
                rate,
                unit,
                (widget.rate_base(m) or "") if rate is not None else "",
                amount_text(value) if money else "",
                currency if money else "",
            )
        )
    return values


@dataclass(frozen=True)
class CampaignFigures:
    """One campaign's counted metrics for the overview, and the currency of its amounts. The
    metrics themselves are built for the page shown only: for 10,000 campaigns, building them all
    took twice as long as the query (measured: 320 ms against 140 ms)."""

    campaign_id: str
    counted: dict[str, float]
    currency: str

    def metrics(self, widget: WidgetDef, locale: str) -> list[MetricValue]:
        return _metric_values(widget, self.counted, locale, currency=self.currency)


def ranked_campaigns(
    found: Iterable[CampaignFigures], sort_by: str, *, ascending: bool
) -> list[CampaignFigures]:
    """The overview's campaigns by `sort_by` (a metric id or campaign_id), ties by campaign id."""
    if sort_by == "campaign_id":
        return sorted(found, key=lambda item: item.campaign_id, reverse=not ascending)
    sign = 1 if ascending else -1

    def key(item: CampaignFigures) -> tuple[float, str]:
        return (sign * metrics.evaluate(sort_by, item.counted), item.campaign_id)

    return sorted(found, key=key)


class WidgetEngine:
    def __init__(
        self,
        clickhouse: ClickHouse,
        *,
        max_rows: int = 1000,
        read_whole_values: int = 100,
        meter: otel_metrics.Meter | None = None,
    ) -> None:
        self._clickhouse = clickhouse
        self._max_rows = max_rows
        self._sizes = DimensionSizes(read_whole_values)
        meter = meter or otel_metrics.NoOpMeter(__name__)
        self._duration = meter.create_histogram(
            "query.widgets.duration",
            unit="ms",
            description="Time to answer one widget (its kind) or a tab's widgets (`tab`), by window kind",
        )
        self._read_duration = meter.create_histogram(
            "query.clickhouse.duration", unit="ms", description="Time of each ClickHouse read of a report"
        )

    async def evaluate(self, widgets: Sequence[WidgetDef], scope: Scope, now: datetime) -> list[WidgetResult]:
        """Every widget's content over the scope's window, read at `now`."""
        started = time.perf_counter()
        try:
            return await self._evaluate(widgets, scope, now)
        finally:
            kind = widgets[0].kind.value if len(widgets) == 1 else "tab"
            self._duration.record(
                (time.perf_counter() - started) * 1000,
                {"widget.kind": kind, "window.kind": "live" if scope.window.is_live else "range"},
            )

    async def _evaluate(
        self, widgets: Sequence[WidgetDef], scope: Scope, now: datetime
    ) -> list[WidgetResult]:
        tabular = [w for w in widgets if w.kind is not Kind.SERIES]
        timed = [w for w in widgets if w.kind is Kind.SERIES and not w.dimension]
        keyed = [w for w in widgets if w.kind is Kind.SERIES and w.dimension]
        value_cuts = [_value_cut(w, self._max_rows) for w in keyed]
        row_cuts = _cuts(tabular, self._max_rows)
        place = scope.place()
        read_whole = [cut for cut in row_cuts if self._sizes.read_whole(place, cut.dimension)]
        cutting = _Cutting(self._cut_reads([*row_cuts, *value_cuts], scope, read_whole))
        breakdowns_read = asyncio.ensure_future(
            self._breakdowns(tabular, scope, cutting, [c for c in row_cuts if c not in read_whole])
        )
        # A series per value ranking like a table read whole takes the table's order, once read.
        ranked_alike = {cut.ranking(scope.include_machine_activity) for cut in value_cuts}
        for cut in read_whole:
            ranking = cut.ranking(scope.include_machine_activity)
            if ranking in ranked_alike:
                cutting.reads[ranking] = _ranked_in(breakdowns_read, cut)
        (breakdowns, currency), series, per_value = await asyncio.gather(
            breakdowns_read,
            self._series(timed, scope),
            asyncio.gather(*(self._series_per_value(w, scope, cutting) for w in keyed)),
        )
        keyed_series = dict(zip(keyed, per_value, strict=True))
        read = [series, *(by_column for by_value in per_value for by_column in by_value.values())]
        starts = _bucket_starts(scope.window, read) if timed or keyed else []
        results = []
        for widget in widgets:
            title, description = texts.widget_text(widget.id, scope.locale)
            result = WidgetResult(widget, title, description, now, scope.window)
            if widget.kind is Kind.KPI:
                counted = _counts(widget, breakdowns.get(TOTALS, {}))
                result.metrics.extend(_metric_values(widget, counted, scope.locale, currency=currency))
            elif widget.kind is Kind.ROWS:
                result.rows.extend(_rows(widget, breakdowns, scope, self._max_rows, currency))
            elif widget in keyed_series:
                result.series.extend(_per_value_series(widget, keyed_series[widget], starts, scope.locale))
            else:
                result.series.extend(_series_values(widget, series, starts, scope.locale))
            results.append(result)
        return results

    async def campaigns(self, tenant_id: str, limit: int) -> list[tuple[str, datetime, int, datetime]]:
        """(campaign_id, start of its latest 15-minute bucket, events, start of its first one),
        most recent first."""
        query = campaigns_query(self._clickhouse.database, tenant_id, limit)
        rows = await self._query(query.sql, query.parameters)
        return [
            (campaign, datetime.fromtimestamp(latest, UTC), int(events), datetime.fromtimestamp(first, UTC))
            for campaign, latest, events, first in rows
        ]

    async def overview(
        self,
        widget: WidgetDef,
        tenant_id: str,
        window: Window,
        include_machine_activity: bool,
        currency: str = "",
    ) -> list[CampaignFigures]:
        """The KPI widget's counted metrics for every campaign of the tenant with events in the
        window, in no particular order; each campaign's revenue in its one currency, or in
        `currency` when named."""
        columns = _columns(widget)
        query = overview_query(
            self._clickhouse.database,
            columns,
            tenant_id=tenant_id,
            window=window,
            include_machine_activity=include_machine_activity,
            currency=currency,
        )
        found = []
        for campaign, *counts in await self._query(query.sql, query.parameters):
            values = _read_values(columns, counts[: len(columns)])
            one = _one_currency(
                counts[len(columns)] if len(counts) > len(columns) else (), currency, campaign
            )
            found.append(CampaignFigures(campaign, _counts(widget, values), one))
        return found

    async def recipients(self, query: RecipientQuery) -> Sequence[Sequence[Any]]:
        """A page of (profile_id, first and last matching event in epoch milliseconds, matching
        events), and one row more when another page follows."""
        raw = recipients_query(self._clickhouse.database, query)
        return await self._query(raw.sql, raw.parameters)

    async def _query(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        return await self._timed(self._clickhouse.query_rows, sql, parameters)

    async def _query_arrow(self, sql: str, parameters: dict[str, Any]) -> pa.Table:
        return await self._timed(self._clickhouse.query_arrow, sql, parameters)

    async def _timed(
        self, read: Callable[[str, dict[str, Any]], T], sql: str, parameters: dict[str, Any]
    ) -> T:
        started = time.perf_counter()
        try:
            return await self._clickhouse.run(read, sql, parameters)
        finally:
            self._read_duration.record((time.perf_counter() - started) * 1000)

    def _cut_reads(
        self, cuts: Iterable[Cut], scope: Scope, read_whole: Sequence[Cut]
    ) -> dict[Ranking, Awaitable[Chosen]]:
        """Each cut's chosen values being read, once for all the cuts that rank a dimension alike
        (the top 5 links of a series per link are the first 5 of the top 10 links of a table);
        none for those ranking alike a cut of rows read whole (`DimensionSizes`)."""
        whole = {cut.ranking(scope.include_machine_activity) for cut in read_whole}
        widest: dict[Ranking, Cut] = {}
        for cut in cuts:
            key = cut.ranking(scope.include_machine_activity)
            if key not in whole and (key not in widest or widest[key].limit < cut.limit):
                widest[key] = cut
        return {key: self._chosen(cut, scope) for key, cut in widest.items()}

    def _chosen(self, cut: Cut, scope: Scope) -> asyncio.Task[Chosen]:
        """The values of the cut's dimension its widget shows (see `cut_query`), being read."""

        async def read() -> Chosen:
            limit = self._sizes.choosing(cut.limit)
            query = cut_query(self._clickhouse.database, replace(cut, limit=limit), **scope.reading())
            rows = await self._query(query.sql, query.parameters)
            self._sizes.chosen(scope.place(), cut.dimension, len(rows), limit)
            return Chosen(cut.dimension, tuple(row[0] for row in rows))

        return _retrieved(asyncio.ensure_future(read()))

    async def _breakdowns(
        self, widgets: Sequence[WidgetDef], scope: Scope, cutting: _Cutting, cuts: Sequence[Cut]
    ) -> tuple[Breakdowns, str]:
        """(dimension, value) -> column -> count, and the currency of the amounts among them. One
        read, once the cut dimensions' values are chosen: reading the dimensions read whole side
        by side with the cuts made the 10M-event email tab slower (132 -> 159 ms), the two
        reads then sharing the 2 cores that one uses alone."""
        if not widgets:
            return {}, scope.currency
        columns = _all_columns(widgets)
        dimensions = sorted(
            {stored_dimension(w.dimension) for w in widgets if w.dimension not in ("", CHANNEL_DIMENSION)}
        )
        query = breakdown_query(
            self._clickhouse.database,
            columns,
            dimensions,
            chosen=[await cutting.chosen(cut, scope.include_machine_activity) for cut in cuts],
            needed_in=_needed_in(widgets),
            **scope.reading(),
        )
        read: Breakdowns = {}
        currencies: set[str] = set()
        for dimension, value, *read_values in await self._query(query.sql, query.parameters):
            counts = query.values(read_values)
            read[(dimension, value)] = _read_values(columns, counts[: len(columns)])
            currencies.update(*counts[len(columns) :])
        whole = Counter(dimension for dimension, _ in read)
        for dimension in set(dimensions) - {cut.dimension for cut in cuts}:
            self._sizes.whole(scope.place(), dimension, whole[dimension])
        return read, _one_currency(currencies, scope.currency)

    async def _series(self, widgets: Sequence[WidgetDef], scope: Scope) -> dict[Column, dict[int, float]]:
        if not widgets:
            return {}
        columns = _all_columns(widgets)
        return (await self._read_series(columns, scope)).get("", {column: {} for column in columns})

    async def _series_per_value(
        self, widget: WidgetDef, scope: Scope, cutting: _Cutting
    ) -> dict[str, dict[Column, dict[int, float]]]:
        """value -> the widget's series for that value: its `limit` first values over the window."""
        return await self._read_series(
            _columns(widget),
            scope,
            await cutting.chosen(_value_cut(widget, self._max_rows), scope.include_machine_activity),
        )

    async def _read_series(
        self, columns: Sequence[Column], scope: Scope, chosen: Chosen | None = None
    ) -> dict[str, dict[Column, dict[int, float]]]:
        """value ('' without chosen values) -> column -> bucket start -> count, for non-empty buckets."""
        query = series_query(self._clickhouse.database, columns, chosen=chosen, **scope.reading())
        # Read as columns: a live tab's series are thousands of (bucket, count) pairs, and
        # building them row by row in Python took 29 ms of the 10M-event email tab.
        table = await self._query_arrow(query.sql, query.parameters)
        starts = table.column("at").to_pylist()
        counts = [pc.cast(table.column(f"c{i}"), pa.float64()).to_pylist() for i in range(len(columns))]
        values = table.column("value").to_pylist() if chosen else [""] * len(starts)
        # Rows come ordered by value, then bucket: one run of rows per value.
        runs = [0, *(i for i in range(1, len(values)) if values[i] != values[i - 1]), len(values)]
        return {
            values[first]: {
                column: dict(zip(starts[first:end], by_bucket[first:end], strict=True))
                for column, by_bucket in zip(columns, counts, strict=True)
            }
            for first, end in itertools.pairwise(runs)
            if first < end
        }


def _needed_in(widgets: Sequence[WidgetDef]) -> dict[Column, list[str]]:
    """The stored dimensions each column is shown in: the totals for a widget of totals (or of
    a row per channel, counted from them) and for the wholes a `rows` widget's shares are
    taken of, and the breakdown of each `rows` widget reading it. A distinct-profile column of
    the experiment treatments alone is merged per treatment, not also for the campaign: half
    the bitmaps."""
    needed: dict[Column, set[str]] = {}
    for widget in widgets:
        totals = widget.dimension in ("", CHANNEL_DIMENSION)
        shares = (*widget.metric_ids, widget.ordering_metric)
        wholes = set() if totals else set(metrics.whole_dependencies(shares))
        for column in _columns(widget):
            shown = needed.setdefault(column, set())
            shown.add("" if totals else stored_dimension(widget.dimension))
            if column.metric_id in wholes:
                shown.add("")
    return {column: sorted(dimensions) for column, dimensions in needed.items()}


def _cuts(widgets: Sequence[WidgetDef], max_rows: int) -> list[Cut]:
    """The dimensions whose rows can be chosen in the engine: those every requesting `rows`
    widget orders and cuts alike, by a counted metric (not by key, a ratio, or an experiment's
    comparison). A dimension two different widgets break down is read whole, as before."""
    users: dict[str, set[WidgetDef]] = {}
    for widget in widgets:
        if widget.kind is Kind.ROWS and widget.dimension != CHANNEL_DIMENSION:
            users.setdefault(stored_dimension(widget.dimension), set()).add(widget)
    cuts = []
    for defs in users.values():
        shapes = {
            (
                w.dimension,
                w.channel,
                w.ordering_metric,
                w.counted_metric_ids,
                w.limit,
                w.order_by_key,
                w.comparison_metric_ids,
            )
            for w in defs
        }
        cut = _cut(next(iter(defs)), max_rows) if len(shapes) == 1 else None
        # A cut keeping at least every key an enum can store keeps everything: reading it would
        # cost a second scan of the window for nothing.
        if cut is not None and cut.limit < KEY_COUNTS.get(cut.dimension, cut.limit + 1):
            cuts.append(cut)
    return cuts


def _value_cut(widget: WidgetDef, max_rows: int) -> Cut:
    """The values a series per breakdown value draws: the catalog orders it by a count."""
    cut = _cut(widget, max_rows)
    assert cut is not None, widget
    return cut


Ranking = tuple[str, str, frozenset[str]]  # `Cut.ranking`: what a cut ranks and keeps, in SQL


@dataclass(frozen=True)
class _Cutting:
    """The chosen values of every cut of one evaluation, each read once (`WidgetEngine._cut_reads`)."""

    reads: dict[Ranking, Awaitable[Chosen]]

    async def chosen(self, cut: Cut, include_machine_activity: bool) -> Chosen:
        """The cut's values: the first `limit` of those read for it and any wider cut alike."""
        read = await self.reads[cut.ranking(include_machine_activity)]
        return Chosen(read.dimension, read.values[: cut.limit])


def _retrieved(task: asyncio.Task[T]) -> asyncio.Task[T]:
    """The task, its error retrieved here too: one whose users were cancelled must not log an
    unretrieved error."""
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


def _ranked_in(breakdowns: Awaitable[tuple[Breakdowns, str]], cut: Cut) -> asyncio.Task[Chosen]:
    """The values of the cut's dimension in the cut's order, from a breakdown reading it whole:
    those with a kept count above zero, by its order descending, then by value (as `cut_query`;
    Python orders strings by code point, as the engine orders their UTF-8 bytes)."""

    async def rank() -> Chosen:
        read, _ = await breakdowns
        kept = [
            (value, counts)
            for (dimension, value), counts in read.items()
            if dimension == cut.dimension and any(counts[column] > 0 for column in cut.kept)
        ]
        kept.sort(key=lambda row: (-row[1][cut.order], row[0]))
        return Chosen(cut.dimension, tuple(value for value, _ in kept))

    return _retrieved(asyncio.ensure_future(rank()))


def _cut(widget: WidgetDef, max_rows: int) -> Cut | None:
    """The cut of the widget's rows the engine can make for it alone, if any: not for a derived
    dimension (its rows group stored values), an ordering by key or comparison, or a ratio."""
    if widget.dimension in DERIVED_DIMENSIONS or widget.order_by_key or widget.comparison_metric_ids:
        return None
    if widget.ordering_metric not in widget.counted_metric_ids:
        return None
    return Cut(
        widget.dimension,
        Column(widget.ordering_metric, widget.channel),
        min(widget.limit or max_rows, max_rows),
        tuple(Column(m, widget.channel) for m in widget.counted_metric_ids),
    )


def _dimension_counts(
    widget: WidgetDef, breakdowns: Mapping[tuple[str, str], Mapping[Column, float]]
) -> list[tuple[str, dict[str, float]]]:
    """(value, counted metrics) of each value of the widget's dimension; a derived dimension's
    values add up the stored values they group, and get their `Classified` parts per type."""
    if widget.dimension == CHANNEL_DIMENSION:
        whole = breakdowns.get(TOTALS, {})
        return [(channel, _counts(widget, whole, channel)) for channel in CHANNELS]
    derived = DERIVED_DIMENSIONS.get(widget.dimension)
    if derived is None:
        return [
            (value, _counts(widget, values))
            for (dimension, value), values in breakdowns.items()
            if dimension == widget.dimension
        ]
    totals: dict[str, dict[Column, float]] = {}
    typed: Breakdowns = {}
    for (dimension, value), values in breakdowns.items():
        if dimension == derived.source:
            key, kind = derived.split(value)
            for sums in (totals.setdefault(key, {}), typed.setdefault((key, kind), {})):
                for column, count in values.items():
                    sums[column] = sums.get(column, 0.0) + count
    result = []
    for key, values in totals.items():
        counted = _counts(widget, values)
        for m in widget.metric_ids:
            source = metrics.METRICS[m].source
            if isinstance(source, metrics.Classified):
                counted[m] = metrics.evaluate(
                    source.of, _counts(widget, typed.get((key, source.error_type), {}))
                )
        result.append((key, counted))
    return result


def _rows(
    widget: WidgetDef,
    breakdowns: Mapping[tuple[str, str], Mapping[Column, float]],
    scope: Scope,
    max_rows: int,
    currency: str,
) -> list[RowValue]:
    whole = _counts(widget, breakdowns.get(TOTALS, {}))
    counted_rows = _ranked(widget, _dimension_counts(widget, breakdowns), whole, max_rows)
    extra: dict[str, dict[str, float]] = {}
    # A named control is checked even when the window has no treatment at all.
    if widget.comparison_metric_ids and (counted_rows or scope.control_treatment_id):
        extra = {
            k: c.values() for k, c in _compare_treatments(counted_rows, scope.control_treatment_id).items()
        }
    return [
        RowValue(
            key,
            texts.key_label(widget.dimension, key, scope.locale),
            # In a row, a rate is only meaningful against a base the row itself shows.
            _metric_values(
                widget,
                counted,
                scope.locale,
                whole,
                rated=lambda m: widget.rate_base(m) in widget.metric_ids,
                currency=currency,
            )
            + [
                MetricValue(
                    m, texts.metric_label(m, scope.locale, widget.id), v, unit=experiment.COMPARISON_UNITS[m]
                )
                for m, v in extra.get(key, {}).items()
            ],
        )
        for key, counted in counted_rows
    ]


def _ranked(
    widget: WidgetDef, counted_rows: list[tuple[str, dict[str, float]]], whole: Counts, max_rows: int
) -> list[tuple[str, dict[str, float]]]:
    """The rows the widget shows: those with a count, in its order, at most its limit."""
    kept = [row for row in counted_rows if any(row[1][m] > 0 for m in widget.counted_metric_ids)]
    if widget.order_by_key:
        kept.sort(key=lambda row: row[0])
    else:
        kept.sort(key=lambda row: (-metrics.evaluate(widget.ordering_metric, row[1], whole), row[0]))
    return kept[: min(widget.limit or max_rows, max_rows)]


def _compare_treatments(
    rows: list[tuple[str, dict[str, float]]], control_id: str
) -> dict[str, experiment.Comparison]:
    arms = [
        experiment.Arm(key, counted["delivered"], counted["distinct_opens"], counted["distinct_clicks"])
        for key, counted in rows
    ]
    control_id = control_id or arms[0].treatment_id
    if control_id not in {arm.treatment_id for arm in arms}:
        raise UnknownControlError(
            f"no treatment {control_id!r} in this window; "
            f"treatments: {', '.join(a.treatment_id for a in arms) or 'none'}"
        )
    return experiment.compare(arms, control_id)


def _bucket_starts(window: Window, read: Iterable[Mapping[Column, Mapping[int, float]]]) -> list[int]:
    """Every bucket of the window, plus any bucket read that the window does not know (never expected)."""
    starts = window.bucket_seconds
    seen = {at for by_column in read for by_bucket in by_column.values() for at in by_bucket}
    return starts if seen <= set(starts) else sorted(seen | set(starts))


def _series_values(
    widget: WidgetDef, series: Mapping[Column, Mapping[int, float]], starts: list[int], locale: str
) -> list[SeriesValue]:
    result = []
    for m in widget.metric_ids:
        if isinstance(metrics.METRICS[m].source, metrics.Counted):  # read as is: the common, fast case
            by_bucket = series.get(Column(m, widget.channel), {})
            values = [by_bucket.get(at, 0.0) for at in starts]
        else:
            values = [
                metrics.evaluate(m, {c.metric_id: series.get(c, {}).get(at, 0.0) for c in _columns(widget)})
                for at in starts
            ]
        result.append(SeriesValue(m, texts.metric_label(m, locale, widget.id), starts, values))
    return result


def _per_value_series(
    widget: WidgetDef,
    by_value: Mapping[str, Mapping[Column, Mapping[int, float]]],
    starts: list[int],
    locale: str,
) -> list[SeriesValue]:
    """One series per value, in the widget's order (its ordering metric over the window), each
    labelled with its value."""
    ranked = sorted(
        by_value,
        key=lambda value: (
            -sum(by_value[value].get(Column(widget.ordering_metric, widget.channel), {}).values()),
            value,
        ),
    )
    return [
        SeriesValue(
            metric.metric_id, texts.key_label(widget.dimension, value, locale), starts, metric.values, value
        )
        for value in ranked
        for metric in _series_values(widget, by_value[value], starts, locale)
    ]
