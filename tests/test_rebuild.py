"""`rebuild` replays the stream into fresh tables and switches over: identical rollups."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from conftest import Pipeline, open_pipeline
from helpers import complete_event
from test_exactly_once import make_events, send, settled

from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.aggregator.rebuild import AggregatorsRunning, rebuild
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.processes import NatsServer
from campaignreports.schema import ROLLUPS
from campaignreports.settings import load_settings
from campaignreports.telemetry import setup_telemetry
from campaignreports.v1 import ingest_service_pb2

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


def aggregator_settings(pipeline: Pipeline) -> AggregatorSettings:
    return load_settings(
        AggregatorSettings,
        {
            "CR_NATS_URL": pipeline.nats.url,
            "CR_CLICKHOUSE_DSN": pipeline.settings.clickhouse_dsn,
            "CR_CLICKHOUSE_DATABASE": pipeline.settings.clickhouse_database,
            "CR_STREAM_NAME": pipeline.settings.stream_name,
            "CR_STREAM_SUBJECT": pipeline.settings.stream_subject,
        },
    )


async def test_rebuild_reproduces_identical_rollups(nats_server: NatsServer, chdb_dsn: str) -> None:
    async with open_pipeline(nats_server, chdb_dsn, with_aggregator=False) as pipeline:
        settings = aggregator_settings(pipeline)
        nc = await jetstream.connect(settings, "aggregator")
        aggregator = Aggregator(nc.jetstream(), pipeline.clickhouse, settings, setup_telemetry("a", {}))
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
        aggregator = Aggregator(nc.jetstream(), pipeline.clickhouse, settings, setup_telemetry("a", {}))
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
