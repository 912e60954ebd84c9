"""`make bench-aggregator`: the aggregator's sustained rows/s beside raw inserts into the same schema.

A backlog is published straight to a real nats-server's stream; the aggregator (in this process,
with chDB embedded, as in the embedded stack) consumes it through the whole exactly-once write
path (the writer's dedup and profile numbers, raw events, every rollup). Raw limits, measured
in the same run, in another database:

- chDB `INSERT ... SELECT` generating the rows inside the engine into the same schema (the
  engine's own limit);
- the same rows into a plain MergeTree table without views (the storage's limit).

The aggregator's `CR_AGGREGATOR_*` settings are taken from the environment, to compare knobs
(`CR_AGGREGATOR_FETCH_BATCH=256 make bench-aggregator`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ingest import Figure, print_table, rss_mib
from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.demo import traffic
from campaignreports.domain.events import RAW_COLUMNS
from campaignreports.schema import INSERT_SETTINGS, WRITER_COLUMNS, Dialect, migrate
from campaignreports.settings import load_settings
from campaignreports.stack.processes import NatsServer
from campaignreports.stream import batch as stream_batch
from campaignreports.telemetry import setup_telemetry
from campaignreports.v1 import event_pb2

CAMPAIGNS = 16


# Events per profile the traffic generator produces, on average (all channels).
EVENTS_PER_PROFILE = 7.77


def realistic(campaign: str, events: int, now: datetime) -> tuple[list[list[event_pb2.Event]], int]:
    """A realistic multi-channel campaign of about `events` events (the traffic generator, half
    of its profiles starting in the 3 weeks before the last day), in batches of 1,000, and how
    many of them are email SENT events in the last 23.5 hours (what the live widget shows)."""
    generated = traffic.generate(
        traffic.Campaign(
            "bench", campaign, round(events / EVENTS_PER_PROFILE), seed=3, now=now, history=timedelta(days=21)
        )
    )
    recent = int((now - timedelta(hours=23, minutes=30)).timestamp())
    batches = list(traffic.batches(generated, 1_000))
    sent = sum(
        e.channel == event_pb2.CHANNEL_EMAIL
        and e.type == event_pb2.EVENT_TYPE_SENT
        and e.occurred_at.seconds >= recent
        for batch in batches
        for e in batch
    )
    return batches, sent


def backlog_messages(events: int) -> list[tuple[str, bytes]]:
    """(campaign, payload) for about `events` realistic events with 3 weeks of history, 1,000
    per message (encoded as ingest sends them), in 4 campaigns."""
    messages = []
    now = datetime.now(UTC)
    for number in range(4):
        batches, _ = realistic(f"bench-{number}", events // 4, now)
        messages += [
            (f"bench-{number}", stream_batch.encode(stream_batch.from_events(events))) for events in batches
        ]
    return messages


def _raw_rows_select(rows: int) -> str:
    """SELECT of `rows` realistic raw rows generated in the engine: 16 campaigns, three types,
    a profile per three events, spread over the last 3 weeks (as the bulk load is); every open
    timed (time to engage), which is at most what the writer times."""
    return f"""
        SELECT toString(number), 'bench', concat('c', toString(number % {CAMPAIGNS})), '', 'email',
               ['sent', 'delivered', 'opened'][number % 3 + 1], concat('p', toString(intDiv(number, 3))),
               now64(3) - toIntervalSecond(number % {21 * 86_400}), '', '', '',
               ['gmail.com', 'yahoo.com', 'example.org'][number % 3 + 1], '', '', '', '', false,
               toDecimal128(0, 9), '',
               toUInt32(intDiv(number, 3)), sipHash64(number), 'raw',
               if(number % 3 = 2, number % 86400000, -1)
        FROM numbers({rows})
    """


_RAW_TARGET = f"({', '.join(RAW_COLUMNS)}, {', '.join(WRITER_COLUMNS)})"


def raw_engine(clickhouse: ClickHouse, database: str, rows: int) -> Figure:
    """chDB INSERT ... SELECT into the same schema (raw events and every rollup view)."""
    start = time.perf_counter()
    clickhouse.client.command(
        f"INSERT INTO {database}.events {_RAW_TARGET} {_raw_rows_select(rows)}", settings=INSERT_SETTINGS
    )
    return Figure("raw chDB INSERT ... SELECT, same schema", rows / (time.perf_counter() - start))


def raw_plain(clickhouse: ClickHouse, database: str, rows: int) -> Figure:
    """chDB INSERT ... SELECT of the same rows into a plain MergeTree (no views, one part)."""
    clickhouse.client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.plain_events AS {database}.events "
        "ENGINE = MergeTree ORDER BY (tenant_id, campaign_id, occurred_at)"
    )
    start = time.perf_counter()
    clickhouse.client.command(f"INSERT INTO {database}.plain_events {_RAW_TARGET} {_raw_rows_select(rows)}")
    return Figure("raw chDB INSERT ... SELECT, plain MergeTree", rows / (time.perf_counter() - start))


async def aggregate(settings: AggregatorSettings, clickhouse: ClickHouse, events: int) -> Figure:
    nc = await jetstream.connect(settings, "bench")
    js = nc.jetstream()
    await jetstream.ensure_stream(js, settings)
    backlog = backlog_messages(events)
    headers = {stream_batch.ENCODING_HEADER: stream_batch.ARROW_ENCODING}
    events = sum(stream_batch.decode(payload, headers).num_rows for _, payload in backlog)
    for campaign, payload in backlog:
        partition = jetstream.partition_of("bench", campaign, settings.stream_partitions)
        await js.publish(jetstream.partition_subject(settings, partition), payload, headers=headers)
    aggregator = Aggregator(nc, clickhouse, settings, setup_telemetry("bench", {}))
    start = time.perf_counter()
    await aggregator.start()
    count_sql = f"SELECT count() FROM {settings.clickhouse_database}.events"
    while clickhouse.query_rows(count_sql, {})[0][0] < events:  # noqa: ASYNC110 - polls ClickHouse
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    await aggregator.stop()
    await jetstream.close(nc)
    return Figure(f"aggregator: stream -> ClickHouse, {events:,} realistic events", events / elapsed)


def run(events: int) -> tuple[list[Figure], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-aggregator-") as tmp:
        nats_server = NatsServer(Path(tmp) / "nats").start()
        try:
            env = {
                "CR_NATS_URL": nats_server.url,
                "CR_CLICKHOUSE_DSN": f"chdb://{Path(tmp) / 'chdb'}",
                "CR_LOG_LEVEL": "WARNING",
                **{k: v for k, v in os.environ.items() if k.startswith("CR_AGGREGATOR_")},
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
            plain = raw_plain(raw_clickhouse, "bench_raw", events)
            memory = {"bench_process_rss_mib": rss_mib(os.getpid())}
            clickhouse.close()
            raw_clickhouse.close()
        finally:
            nats_server.stop()
    pipeline.limit_name, pipeline.limit_events_per_second = engine.name, engine.events_per_second
    plain_ratio = Figure(
        "aggregator vs a plain MergeTree insert",
        pipeline.events_per_second,
        plain.name,
        plain.events_per_second,
    )
    return [engine, plain, pipeline, plain_ratio], memory


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
