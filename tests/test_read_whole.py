"""A top-N widget reads a small dimension whole instead of first choosing the values it shows
(`DimensionSizes`): it learns the dimension is small from one read, reads it whole from the
next, chooses again once the dimension has grown, and shows the same rows as an engine that
always chooses first, in the real engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from helpers import email_event, poll_async
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from pipeline import Pipeline

from campaignreports.domain.catalog import WIDGETS
from campaignreports.domain.windows import live_window
from campaignreports.query.engine import Scope, WidgetEngine, WidgetResult
from campaignreports.v1 import event_pb2, ingest_service_pb2

pytestmark = pytest.mark.timeout(90)

CLICKED = event_pb2.EventType.EVENT_TYPE_CLICKED
TOP_LINKS = WIDGETS["email_top_links"]


class _Reads:
    """The engine's ClickHouse reads, counted by its own read-duration histogram."""

    def __init__(self) -> None:
        self._metrics = InMemoryMetricReader()
        self.meter = MeterProvider(metric_readers=[self._metrics]).get_meter("test")
        self._seen = 0

    def since_last(self) -> int:
        data = self._metrics.get_metrics_data()
        total = sum(
            point.count
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "query.clickhouse.duration"
            for point in metric.data.data_points
        )
        count, self._seen = total - self._seen, total
        return count


def _rows(result: WidgetResult) -> list[tuple[str, list[tuple[str, float]]]]:
    return [(row.key, [(m.id, m.value) for m in row.metrics]) for row in result.rows]


async def _click(pipeline: Pipeline, campaign: str, clicks: dict[str, int]) -> None:
    events = [
        email_event(pipeline.tenant_id, campaign, CLICKED, f"p-{url}-{n}", url=url)
        for url, count in clicks.items()
        for n in range(count)
    ]
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    assert reply.accepted == len(events), reply.rejected


async def test_a_small_dimension_is_read_whole_until_it_grows(pipeline: Pipeline) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    reads = _Reads()
    engine = WidgetEngine(pipeline.clickhouse, read_whole_values=3, meter=reads.meter)
    choosing = WidgetEngine(pipeline.clickhouse, read_whole_values=0)

    clicks: dict[str, int] = {}

    async def both() -> list[tuple[str, list[tuple[str, float]]]]:
        """The widget of both engines, once every click is stored (its top rows' clicks add up)."""
        shown = sum(sorted(clicks.values(), reverse=True)[: TOP_LINKS.limit])
        now = datetime.now(UTC)
        scope = Scope(pipeline.tenant_id, campaign, live_window(now))
        expected = await poll_async(
            lambda: choosing.evaluate([TOP_LINKS], scope, now),
            lambda r: sum(dict(m)["clicks"] for _, m in _rows(r[0])) == shown,
        )
        assert sum(dict(m)["clicks"] for _, m in _rows(expected[0])) == shown, "every click stored"
        reads.since_last()
        (result,) = await engine.evaluate([TOP_LINKS], scope, now)
        assert _rows(result) == _rows(expected[0])
        return _rows(result)

    clicks.update({"https://a.example": 3, "https://b.example": 2, "https://c.example": 1})
    await _click(pipeline, campaign, clicks)
    first = await both()
    assert [key for key, _ in first] == ["https://a.example", "https://b.example", "https://c.example"]
    assert reads.since_last() == 2, "nothing known: the values are chosen, then read"
    await both()
    assert reads.since_last() == 1, "3 links found: read whole"

    more = {f"https://{n:02}.example": 10 + n for n in range(12)}
    clicks.update(more)
    await _click(pipeline, campaign, more)
    grown = await both()
    assert len(grown) == TOP_LINKS.limit and grown[0][0] == "https://11.example"
    assert reads.since_last() == 1, "still known small: read whole, and found 15 links"
    await both()
    assert reads.since_last() == 2, "15 links: chosen first again"


async def test_a_series_per_link_takes_its_links_from_the_table_reading_them_whole(
    pipeline: Pipeline,
) -> None:
    """The top links and the clicks of the top 5 links over time rank links alike: once the links
    are read whole, the series takes the table's first 5, and no read chooses them."""
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    clicks = {f"https://{n:02}.example": 1 + n % 4 for n in range(8)}  # ties: ranked by link
    await _click(pipeline, campaign, clicks)
    reads = _Reads()
    engine = WidgetEngine(pipeline.clickhouse, read_whole_values=20, meter=reads.meter)
    choosing = WidgetEngine(pipeline.clickhouse, read_whole_values=0)
    widgets = [TOP_LINKS, WIDGETS["email_clicks_over_time"]]
    now = datetime.now(UTC)
    scope = Scope(pipeline.tenant_id, campaign, live_window(now))
    expected = await poll_async(
        lambda: choosing.evaluate(widgets, scope, now),
        lambda r: sum(dict(m)["clicks"] for _, m in _rows(r[0])) == sum(clicks.values()),
    )
    assert [s.key for s in expected[1].series] == [
        "https://03.example", "https://07.example", "https://02.example", "https://06.example",
        "https://01.example",
    ]  # fmt: skip
    for learnt_reads in (3, 2):  # cut, breakdown, series; then breakdown and series
        reads.since_last()
        table, series = await engine.evaluate(widgets, scope, now)
        assert reads.since_last() == learnt_reads
        assert _rows(table) == _rows(expected[0])
        assert series.series == expected[1].series
