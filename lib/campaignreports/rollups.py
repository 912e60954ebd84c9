"""Reads metric values from the rollup tables: SQL built from the metric table, never by hand.

Every value a user controls (tenant, campaign, window bounds) is a bound parameter. The only
text put into the SQL comes from the metric and catalog tables in this repository, and is
checked to be a plain lower-case key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaignreports.domain.metrics import METRICS, Aggregate, Counted, Machine

_KEY = re.compile(r"[a-z_]+")


def _machine_condition(machine: Machine, include_machine_activity: bool) -> str:
    if machine is Machine.MACHINE_ONLY:
        return " AND is_machine"
    if machine is Machine.HUMAN and not include_machine_activity:
        return " AND NOT is_machine"
    return ""


def counted_expression(metric_id: str, include_machine_activity: bool) -> str:
    """The aggregate expression over a rollup table that yields a counted metric."""
    source = METRICS[metric_id].source
    assert isinstance(source, Counted), metric_id
    assert _KEY.fullmatch(source.event_type), source.event_type
    condition = f"type = '{source.event_type}'" + _machine_condition(source.machine, include_machine_activity)
    if source.aggregate is Aggregate.DISTINCT_PROFILES:
        return f"uniqExactMergeIf(profiles, {condition})"
    return f"sumIf(events, {condition})"


@dataclass(frozen=True)
class RollupQuery:
    sql: str
    parameters: dict[str, Any]


def totals_query(
    database: str,
    metric_ids: list[str],
    *,
    tenant_id: str,
    campaign_id: str,
    channel: str | None,
    start: datetime,
    end: datetime,
    include_machine_activity: bool,
) -> RollupQuery:
    """One row: the counted metrics over minute buckets starting in [start, end)."""
    expressions = ",\n  ".join(counted_expression(m, include_machine_activity) for m in metric_ids)
    channel_condition = ""
    parameters: dict[str, Any] = {
        "tenant_id": tenant_id,
        "campaign_id": campaign_id,
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
    }
    if channel is not None:
        channel_condition = "\n  AND channel = {channel:String}"
        parameters["channel"] = channel
    sql = (
        f"SELECT\n  {expressions}\nFROM {database}.rollup_minute\n"
        "WHERE tenant_id = {tenant_id:String}\n  AND campaign_id = {campaign_id:String}\n  AND dimension = ''"
        f"{channel_condition}\n"
        "  AND bucket >= toDateTime({start:Int64}, 'UTC')\n  AND bucket < toDateTime({end:Int64}, 'UTC')"
    )
    return RollupQuery(sql, parameters)
