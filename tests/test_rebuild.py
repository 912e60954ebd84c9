"""`rebuild` replays the stream into fresh tables and switches over: identical rollups."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from helpers import complete_event
from pipeline import Pipeline, open_pipeline
from test_exactly_once import make_events, send, settled

from campaignreports import jetstream, schema_v3
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.aggregator.rebuild import AggregatorsRunning, rebuild
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.domain.catalog import TABS
from campaignreports.domain.events import read_fields, to_columns
from campaignreports.schema import ROLLUPS, Dialect, migrate
from campaignreports.settings import load_settings
from campaignreports.stack.processes import NatsServer
from campaignreports.telemetry import setup_telemetry
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(120)


def snapshot(pipeline: Pipeline) -> dict[str, list[tuple]]:
    """Every rollup row, merged: what any widget could read."""
    tables = {}
    for table in ROLLUPS:
        tables[table] = pipeline.rows(
            "SELECT tenant_id, campaign_id, channel, type, is_machine, dimension, value, bucket, "
            f"sum(events), groupBitmapMerge(profiles) FROM {{db}}.{table} "
            "GROUP BY ALL ORDER BY ALL"
        )
    tables["events"] = pipeline.rows("SELECT count(), uniqExact(tenant_id, event_id) FROM {db}.events")
    return tables


def _environment(pipeline: Pipeline) -> dict[str, str]:
    return {
        "CR_NATS_URL": pipeline.nats.url,
        "CR_CLICKHOUSE_DSN": pipeline.settings.clickhouse_dsn,
        "CR_CLICKHOUSE_DATABASE": pipeline.settings.clickhouse_database,
        "CR_STREAM_NAME": pipeline.settings.stream_name,
        "CR_STREAM_SUBJECT": pipeline.settings.stream_subject,
    }


def aggregator_settings(pipeline: Pipeline) -> AggregatorSettings:
    return load_settings(AggregatorSettings, _environment(pipeline))


async def test_rebuild_reproduces_identical_rollups(nats_server: NatsServer, chdb_dsn: str) -> None:
    async with open_pipeline(nats_server, chdb_dsn, with_aggregator=False) as pipeline:
        settings = aggregator_settings(pipeline)
        nc = await jetstream.connect(settings, "aggregator")
        aggregator = Aggregator(nc, pipeline.clickhouse, settings, setup_telemetry("a", {}))
        await aggregator.start()
        events = make_events(pipeline.tenant_id, ["r1", "r2"], 3_000, seed=5)
        await send(pipeline, events, 500)
        await send(pipeline, events[::2], 250)  # duplicates in the stream, too
        assert await settled(pipeline, len(events)) == len(events)
        before = snapshot(pipeline)
        with pytest.raises(AggregatorsRunning):
            await rebuild(nc.jetstream(), pipeline.clickhouse, settings)
        await aggregator.stop()
        report = await rebuild(nc.jetstream(), pipeline.clickhouse, settings)
        assert report.events == len(events) + len(events[::2])
        assert snapshot(pipeline) == before
        # The live write path runs on the rebuilt tables.
        late = complete_event("EMAIL", "SENT", pipeline.tenant_id, "r1")
        await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[late, events[0]]))
        aggregator = Aggregator(nc, pipeline.clickhouse, settings, setup_telemetry("a", {}))
        await aggregator.start()
        assert await settled(pipeline, len(events) + 1) == len(events) + 1
        await aggregator.stop()
        await jetstream.close(nc)


async def test_the_rebuild_command_runs_from_the_command_line(pipeline: Pipeline) -> None:
    """Through `python -m campaignreports.aggregator rebuild`, refused while an aggregator runs."""
    env = {
        **os.environ,
        "CR_NATS_URL": pipeline.nats.url,
        "CR_CLICKHOUSE_DSN": pipeline.settings.clickhouse_dsn + "-other",  # a process of its own
        "CR_STREAM_NAME": pipeline.settings.stream_name,
        "CR_STREAM_SUBJECT": pipeline.settings.stream_subject,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "campaignreports.aggregator", "rebuild", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert "scale the aggregators to zero" in stderr.decode()
    assert "Traceback" not in stderr.decode()


def _v3_rows(events: list[event_pb2.Event], token: str) -> list[list[object]]:
    """The events as version 3's insert path took them (its raw columns, then the round token)."""
    columns = to_columns(read_fields(events))
    columns["occurred_at"] = [datetime.fromtimestamp(ms / 1000, UTC) for ms in columns["occurred_at"]]
    return [[*row, token] for row in zip(*(columns[name] for name in schema_v3._RAW_COLUMNS), strict=True)]


def _rollup_figures(
    pipeline: Pipeline, database: str, table: str, distinct: str, since: datetime
) -> list[tuple]:
    """A rollup's counts and distinct profiles per (campaign, channel, type, dimension, value,
    bucket) from `since`, over version 3's dimensions."""
    return pipeline.clickhouse.query_rows(
        "SELECT campaign_id, channel, type, is_machine, dimension, value, bucket, sum(events), "
        f"{distinct}(profiles) FROM {database}.{table} WHERE dimension IN {{dimensions:Array(String)}} "
        "AND bucket >= {since:DateTime} GROUP BY ALL ORDER BY ALL",
        {"dimensions": ["", *schema_v3._BREAKDOWN_DIMENSIONS], "since": since},
    )


async def _reports(pipeline: Pipeline, tenant_id: str, now: datetime) -> list[query_service_pb2.Report]:
    window = query_service_pb2.TimeWindow(
        range=query_service_pb2.TimeRange(
            timezone="Asia/Kathmandu", granularity=query_service_pb2.GRANULARITY_DAY
        )
    )
    window.range.start.FromDatetime(now - timedelta(days=12))
    window.range.end.FromDatetime(now)
    reports = []
    for tab in TABS:
        for request_window in (None, window):
            request = query_service_pb2.GetReportRequest(tenant_id=tenant_id, campaign_id="r1", tab=tab)
            if request_window is not None:
                request.window.CopyFrom(request_window)
            report = await pipeline.query.GetReport(request)
            report.ClearField("as_of")
            for widget in report.widgets:
                widget.ClearField("as_of")
            reports.append(report)
    return reports


async def _same_minute_reports(
    left: Pipeline, right: Pipeline, tenant_id: str
) -> tuple[list[query_service_pb2.Report], list[query_service_pb2.Report]]:
    """Both pipelines' reports over the same windows. The live window ends at the server's clock,
    so reads that crossed a minute boundary (their windows differ) are read again."""
    for _ in range(3):
        now = datetime.now(UTC)
        ours, theirs = await _reports(left, tenant_id, now), await _reports(right, tenant_id, now)
        windows = [(r.widgets[0].window_start, r.widgets[0].window_end) for r in (*ours, *theirs)]
        if windows[: len(ours)] == windows[len(ours) :]:
            return ours, theirs
    pytest.fail("every read crossed a minute boundary")


async def test_a_version_3_database_upgrades_to_version_4_with_identical_figures(
    nats_server: NatsServer, chdb_dsn: str
) -> None:
    """Version 3 tables holding a campaign's history; `migrate` and `rebuild` from the stream
    give the same counts and distinct profiles in every rollup bucket as version 3 had, and the
    same report figures as a version 4 database that took the events live."""
    async with open_pipeline(nats_server, chdb_dsn, with_aggregator=True) as fresh:
        now = datetime.now(UTC).replace(microsecond=0)
        events = make_events(fresh.tenant_id, ["r1", "r2"], 4_000, seed=11)
        for i, event in enumerate(events):  # spread over 12 days, some in the live window
            event.occurred_at.FromDatetime(now - timedelta(minutes=(i * 97) % (12 * 24 * 60)))
        await send(fresh, events, 500)
        await send(fresh, events[::3], 500)  # duplicates in the stream
        assert await settled(fresh, len(events)) == len(events)

        old = Dialect(f"{fresh.settings.clickhouse_database}_old")
        migrate(fresh.clickhouse.client, old, target=3)
        for start in range(0, len(events), 1_000):
            fresh.clickhouse.client.insert(
                f"{old.database}.events_incoming",
                _v3_rows(events[start : start + 1_000] + events[start : start + 100], f"v3-{start}"),
                column_names=[*schema_v3._RAW_COLUMNS, "round_token"],
            )
        # Minute rows for the live window only (version 3 kept older ones until its TTL ran).
        since = {"rollup_minute": now - timedelta(hours=24), "rollup_15m": now - timedelta(days=30)}
        before = {
            table: _rollup_figures(fresh, old.database, table, "uniqExactMerge", since[table])
            for table in since
        }
        assert sum(row[7] for row in before["rollup_15m"] if row[4] == "") == len(events)

        async with open_pipeline(  # migrates the old database to version 4 on opening
            nats_server,
            chdb_dsn,
            with_aggregator=False,
            CR_CLICKHOUSE_DATABASE=old.database,
            CR_STREAM_NAME=fresh.settings.stream_name,
            CR_STREAM_SUBJECT=fresh.settings.stream_subject,
        ) as upgraded:
            settings = load_settings(
                AggregatorSettings, {**_environment(upgraded), "CR_STREAM_CONSUMER_NAME": "upgrade"}
            )
            nc = await jetstream.connect(settings, "upgrade")
            report = await rebuild(nc.jetstream(), upgraded.clickhouse, settings)
            await jetstream.close(nc)
            assert report.events == len(events) + len(events[::3])
            after = {
                table: _rollup_figures(upgraded, old.database, table, "groupBitmapMerge", since[table])
                for table in since
            }
            assert after == before
            ours, theirs = await _same_minute_reports(upgraded, fresh, fresh.tenant_id)
            assert ours == theirs
