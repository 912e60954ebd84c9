"""Evaluates catalog widgets against the rollups: one engine for every widget definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from campaignreports.clickhouse import ClickHouse
from campaignreports.domain import metrics
from campaignreports.domain.catalog import WidgetDef
from campaignreports.rollups import totals_query

LIVE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class MetricValue:
    id: str
    label: str
    value: float
    rate: float | None


@dataclass(frozen=True)
class WidgetResult:
    widget: WidgetDef
    metrics: list[MetricValue]
    as_of: datetime


def live_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The live window: minute buckets from the one holding now - 24 h to the current one."""
    start = (now - LIVE_WINDOW).replace(second=0, microsecond=0)
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return start, end


class WidgetEngine:
    def __init__(self, clickhouse: ClickHouse) -> None:
        self._clickhouse = clickhouse

    async def live(
        self,
        widget: WidgetDef,
        *,
        tenant_id: str,
        campaign_id: str,
        include_machine_activity: bool,
        now: datetime,
    ) -> WidgetResult:
        counted_ids = metrics.counted_dependencies(list(widget.metric_ids))
        start, end = live_bounds(now)
        query = totals_query(
            self._clickhouse.database,
            counted_ids,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            channel=widget.channel,
            start=start,
            end=end,
            include_machine_activity=include_machine_activity,
        )
        rows = await self._clickhouse.run(self._clickhouse.query_rows, query.sql, query.parameters)
        counted = {
            metric_id: float(value or 0) for metric_id, value in zip(counted_ids, rows[0], strict=True)
        }
        values = [
            MetricValue(
                metric_id,
                metrics.METRICS[metric_id].label,
                metrics.evaluate(metric_id, counted),
                metrics.rate(metric_id, counted),
            )
            for metric_id in widget.metric_ids
        ]
        return WidgetResult(widget, values, now)
