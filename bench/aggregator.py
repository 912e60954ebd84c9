"""`make bench-aggregator`: the aggregator's sustained rows/s beside raw inserts into the same schema.

A backlog is published straight to a real nats-server's stream; the aggregator (in this process,
with chDB embedded, as in the embedded stack) consumes it through the whole exactly-once write
path (Null table, dedup view, minute and 15-minute rollups). Raw limits, measured in the same
run and into the same schema in another database:

- chDB `INSERT ... SELECT` generating the rows inside the engine (the engine's own limit);
- clickhouse-connect inserting Python rows (the client path the aggregator uses).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest import Figure, print_table, rss_mib
from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator, insert_events
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.events import RAW_COLUMNS
from campaignreports.processes import NatsServer
from campaignreports.schema import Dialect, migrate
from campaignreports.settings import load_settings
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.telemetry import setup_telemetry
from campaignreports.v1 import event_pb2

CAMPAIGNS = 16
EVENTS_PER_MESSAGE = 1_000
TYPES = (event_pb2.EVENT_TYPE_SENT, event_pb2.EVENT_TYPE_DELIVERED, event_pb2.EVENT_TYPE_OPENED)


def backlog_messages(events: int) -> list[tuple[str, bytes]]:
    """(campaign, payload) for `events` realistic email events, 1,000 per message."""
    now = datetime.now(UTC)
    messages = []
    for number in range(events // EVENTS_PER_MESSAGE):
        campaign = f"bench-{number % CAMPAIGNS}"
        batch = event_batch_pb2.EventBatch()
        for i in range(EVENTS_PER_MESSAGE):
            event = batch.events.add(
                event_id=uuid.uuid4().hex,
                tenant_id="bench",
                campaign_id=campaign,
                channel=event_pb2.CHANNEL_EMAIL,
                type=(event_pb2.EVENT_TYPE_SENT, event_pb2.EVENT_TYPE_DELIVERED, event_pb2.EVENT_TYPE_OPENED)[
                    i % 3
                ],
                profile_id=f"p{(number * EVENTS_PER_MESSAGE + i) // 3}",
                recipient_domain=("gmail.com", "yahoo.com", "example.org")[i % 3],
            )
            event.occurred_at.FromDatetime(now)
        messages.append((campaign, batch.SerializeToString()))
    return messages


def raw_engine(clickhouse: ClickHouse, database: str, rows: int) -> Figure:
    """chDB INSERT ... SELECT into the same schema: rows generated inside the engine."""
    sql = f"""
        INSERT INTO {database}.events_incoming ({", ".join(RAW_COLUMNS)}, round_token)
        SELECT toString(number), 'bench', concat('c', toString(number % {CAMPAIGNS})), '', 'email',
               ['sent', 'delivered', 'opened'][number % 3 + 1], concat('p', toString(intDiv(number, 3))),
               now64(3), '', '', '', ['gmail.com', 'yahoo.com', 'example.org'][number % 3 + 1],
               '', '', '', '', false, 'raw'
        FROM numbers({rows})
    """
    start = time.perf_counter()
    clickhouse.client.command(sql)
    return Figure("raw chDB INSERT ... SELECT, same schema", rows / (time.perf_counter() - start))


def raw_client(clickhouse: ClickHouse, rows: int, block: int = 50_000) -> Figure:
    """clickhouse-connect inserting Python rows into the same schema, 50k-row blocks."""
    now = datetime.now(UTC)
    start = time.perf_counter()
    for offset in range(0, rows, block):
        data = [
            [f"x{offset + i}", "bench", f"c{i % CAMPAIGNS}", "", "email", "sent", f"p{i}", now,
             "", "", "", "gmail.com", "", "", "", "", False, f"raw-{offset}"]
            for i in range(block)
        ]  # fmt: skip
        insert_events(clickhouse, "events_incoming", data, f"raw-{offset}")
    return Figure(
        "raw clickhouse-connect insert of Python rows, same schema", rows / (time.perf_counter() - start)
    )


async def aggregate(settings: AggregatorSettings, clickhouse: ClickHouse, events: int) -> Figure:
    nc = await jetstream.connect(settings, "bench")
    js = nc.jetstream()
    await jetstream.ensure_stream(js, settings)
    for campaign, payload in backlog_messages(events):
        partition = jetstream.partition_of("bench", campaign, settings.stream_partitions)
        await js.publish(jetstream.partition_subject(settings, partition), payload)
    aggregator = Aggregator(js, clickhouse, settings, setup_telemetry("bench", {}))
    start = time.perf_counter()
    await aggregator.start()
    count_sql = f"SELECT count() FROM {settings.clickhouse_database}.events"
    while clickhouse.query_rows(count_sql, {})[0][0] < events:  # noqa: ASYNC110 - polls ClickHouse
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    await aggregator.stop()
    await jetstream.close(nc)
    return Figure("aggregator: stream -> ClickHouse, exactly-once path", events / elapsed)


def run(events: int) -> tuple[list[Figure], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-aggregator-") as tmp:
        nats_server = NatsServer(Path(tmp) / "nats").start()
        try:
            env = {
                "CR_NATS_URL": nats_server.url,
                "CR_CLICKHOUSE_DSN": f"chdb://{Path(tmp) / 'chdb'}",
                "CR_LOG_LEVEL": "WARNING",
            }
            settings = load_settings(AggregatorSettings, {**env, "CR_CLICKHOUSE_DATABASE": "bench"})
            clickhouse = ClickHouse(settings)
            migrate(clickhouse.client, Dialect("bench"))
            migrate(clickhouse.client, Dialect("bench_raw"))
            print(f"aggregating {events:,} events ...", file=sys.stderr)
            pipeline = asyncio.run(aggregate(settings, clickhouse, events))
            raw_clickhouse = ClickHouse(
                load_settings(AggregatorSettings, {**env, "CR_CLICKHOUSE_DATABASE": "bench_raw"})
            )
            engine = raw_engine(raw_clickhouse, "bench_raw", events)
            client = raw_client(raw_clickhouse, min(events, 200_000))
            memory = {"bench_process_rss_mib": rss_mib(os.getpid())}
            clickhouse.close()
            raw_clickhouse.close()
        finally:
            nats_server.stop()
    pipeline.limit_name, pipeline.limit_events_per_second = engine.name, engine.events_per_second
    client_ratio = Figure(
        "aggregator vs the raw client insert",
        pipeline.events_per_second,
        client.name,
        client.events_per_second,
    )
    return [engine, client, pipeline, client_ratio], memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000, help="backlog size")
    parser.add_argument("--output", type=Path, default=Path("bench-results/aggregator.json"))
    args = parser.parse_args()
    figures, memory = run(args.events)
    print_table(figures, memory, unit="rows/s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"figures": [f.as_dict() for f in figures], "memory": memory, "cores": os.cpu_count()}, indent=2
        )
    )
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
