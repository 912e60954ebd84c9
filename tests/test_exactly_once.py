"""The aggregator counts every accepted event exactly once, in the bucket of its occurred_at,
in both rollups, whatever is retried, regrouped, redelivered or undecodable."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from faults import chaos, record
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import complete_event, poll_async
from pipeline import Pipeline, open_pipeline

from campaignreports import jetstream
from campaignreports.aggregator.consumer import DEAD_REASON_HEADER, Aggregator
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.schema import ROLLUPS
from campaignreports.service import NOT_SERVING, SERVING
from campaignreports.settings import load_settings
from campaignreports.stack.processes import NatsServer
from campaignreports.stream import batch
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.telemetry import setup_telemetry
from campaignreports.v1 import event_pb2, ingest_service_pb2

pytestmark = pytest.mark.timeout(180)

TYPES = [
    ("EMAIL", "SENT"),
    ("EMAIL", "DELIVERED"),
    ("EMAIL", "OPENED"),
    ("EMAIL", "BOUNCED"),
    ("PUSH", "SENT"),
]


def make_events(tenant_id: str, campaigns: list[str], count: int, seed: int = 7) -> list[event_pb2.Event]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        channel, event_type = rng.choice(TYPES)
        event = complete_event(channel, event_type, tenant_id, rng.choice(campaigns))
        event.profile_id = f"p{rng.randrange(count // 3 + 1)}"
        if channel == "EMAIL":
            event.recipient_domain = rng.choice(["a.com", "b.org", "c.net"])
        event.event_id = f"ev-{seed}-{i}"
        events.append(event)
    return events


def expected_totals(events: list[event_pb2.Event]) -> Counter:
    return Counter(
        (e.campaign_id, event_pb2.EventType.Name(e.type).removeprefix("EVENT_TYPE_").lower()) for e in events
    )


def rollup_totals(pipeline: Pipeline, table: str) -> Counter:
    rows = pipeline.rows(
        f"SELECT campaign_id, type, sum(events) FROM {{db}}.{table} "
        "WHERE tenant_id = {t:String} AND dimension = '' GROUP BY campaign_id, type",
        t=pipeline.tenant_id,
    )
    return Counter({(campaign, event_type): count for campaign, event_type, count in rows})


def stored(pipeline: Pipeline) -> int:
    return pipeline.rows(
        "SELECT count() FROM {db}.events WHERE tenant_id = {t:String}", t=pipeline.tenant_id
    )[0][0]


async def send(pipeline: Pipeline, events: list[event_pb2.Event], size: int) -> None:
    for start in range(0, len(events), size):
        reply = await pipeline.ingest.Ingest(
            ingest_service_pb2.IngestRequest(events=events[start : start + size])
        )
        assert not reply.rejected, reply.rejected[:3]


async def settled(pipeline: Pipeline, expected: int) -> int:
    """Wait until the stored count reaches `expected` and stays there for a moment."""
    count = await poll_async(lambda: asyncio.to_thread(stored, pipeline), lambda n: n >= expected, within=90)
    await asyncio.sleep(1.0)
    return max(count, await asyncio.to_thread(stored, pipeline))


async def test_resent_and_regrouped_events_are_counted_once(pipeline: Pipeline) -> None:
    events = make_events(pipeline.tenant_id, ["c1", "c2", "c3"], 10_000)
    await send(pipeline, events, 1_000)
    await send(pipeline, events, 1_000)  # the same requests again
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    await send(pipeline, shuffled, 777)  # the same events, regrouped into other requests
    # And the same events published straight to the stream under new message ids, so that
    # JetStream's duplicate window cannot be what saves us.
    for start in range(0, len(events), 500):
        chunk = events[start : start + 500]
        partition = jetstream.partition_of(pipeline.tenant_id, chunk[0].campaign_id, 4)
        same_campaign = [
            e for e in chunk if jetstream.partition_of(e.tenant_id, e.campaign_id, 4) == partition
        ]
        payload = event_batch_pb2.EventBatch(events=same_campaign).SerializeToString()
        await pipeline.js.publish(jetstream.partition_subject(pipeline.settings, partition), payload)
    assert await settled(pipeline, len(events)) == len(events)
    expected = expected_totals(events)
    for table in ROLLUPS:
        assert rollup_totals(pipeline, table) == expected, table
    domains = pipeline.rows(
        "SELECT value, sum(events) FROM {db}.rollup_15m WHERE tenant_id = {t:String} "
        "AND dimension = 'recipient_domain' GROUP BY value",
        t=pipeline.tenant_id,
    )
    assert dict(domains) == Counter(e.recipient_domain for e in events if e.recipient_domain)


async def test_the_same_event_id_in_two_tenants_is_two_events(pipeline: Pipeline) -> None:
    mine = complete_event("EMAIL", "SENT", pipeline.tenant_id, "shared")
    theirs = complete_event("EMAIL", "SENT", pipeline.tenant_id + "-other", "shared")
    theirs.event_id = mine.event_id
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[mine, theirs]))
    count = await poll_async(
        lambda: asyncio.to_thread(
            lambda: pipeline.rows(
                "SELECT count() FROM {db}.events WHERE event_id = {e:String}", e=mine.event_id
            )[0][0]
        ),
        lambda n: n >= 2,
    )
    assert count == 2


async def test_late_events_land_in_their_own_buckets(pipeline: Pipeline) -> None:
    now = datetime.now(UTC)
    late = now - timedelta(hours=3, minutes=7)
    events = []
    for minutes, label in ((0, "recent"), (0, "late"), (2, "late"), (31, "late")):
        when = (now if label == "recent" else late - timedelta(minutes=minutes)).replace(microsecond=0)
        event = complete_event("EMAIL", "SENT", pipeline.tenant_id, "late")
        event.occurred_at.FromDatetime(when)
        events.append(event)
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events[::-1]))  # out of order
    await settled(pipeline, len(events))
    for table, width in (
        ("rollup_minute", 60),
        ("rollup_15m", 900),
        ("rollup_hour", 3600),
        ("rollup_day", 86400),
    ):
        buckets = pipeline.rows(
            f"SELECT toUnixTimestamp(bucket), sum(events) FROM {{db}}.{table} "
            "WHERE tenant_id = {t:String} AND dimension = '' GROUP BY bucket",
            t=pipeline.tenant_id,
        )
        expected = Counter(
            int(e.occurred_at.ToDatetime(tzinfo=UTC).timestamp()) // width * width for e in events
        )
        assert dict(buckets) == dict(expected), table


@chaos
async def test_an_undecodable_message_is_dead_lettered_and_the_rest_counted(pipeline: Pipeline) -> None:
    partition = jetstream.partition_of(pipeline.tenant_id, "poison", pipeline.settings.stream_partitions)
    await pipeline.js.publish(
        jetstream.partition_subject(pipeline.settings, partition), b"\xff\x00 not protobuf"
    )
    good = [complete_event("EMAIL", "SENT", pipeline.tenant_id, "poison") for _ in range(5)]
    sent_at = time.monotonic()
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=good))
    assert await settled(pipeline, 5) == 5
    counted = sum(rollup_totals(pipeline, "rollup_15m").values())
    outcome = record(
        "poison message published to the stream",
        {e.event_id for e in good},
        counted,
        time.monotonic() - sent_at,
    )
    assert (outcome.lost, outcome.doubled) == (0, 0)
    dead = await pipeline.js.get_last_msg(
        pipeline.settings.dead_letter_stream, pipeline.settings.dead_letter_subject
    )
    assert dead.data == b"\xff\x00 not protobuf"
    assert "undecodable" in dead.headers[DEAD_REASON_HEADER]


@chaos
async def test_a_corrupt_arrow_batch_is_dead_lettered_with_its_encoding(pipeline: Pipeline) -> None:
    partition = jetstream.partition_of(pipeline.tenant_id, "torn", pipeline.settings.stream_partitions)
    arrow = {batch.ENCODING_HEADER: batch.ARROW_ENCODING}
    whole = batch.encode(batch.from_events([complete_event("EMAIL", "SENT", pipeline.tenant_id, "torn")]))
    await pipeline.js.publish(
        jetstream.partition_subject(pipeline.settings, partition), whole[: len(whole) // 2], headers=arrow
    )
    good = [complete_event("EMAIL", "SENT", pipeline.tenant_id, "torn") for _ in range(3)]
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=good))
    assert await settled(pipeline, 3) == 3
    dead = await pipeline.js.get_last_msg(
        pipeline.settings.dead_letter_stream, pipeline.settings.dead_letter_subject
    )
    assert dead.data == whole[: len(whole) // 2]
    assert "undecodable Arrow batch" in dead.headers[DEAD_REASON_HEADER]
    assert dead.headers[batch.ENCODING_HEADER] == batch.ARROW_ENCODING, "kept for a replay"


async def test_two_replicas_share_the_partitions_and_count_exactly(
    pipeline_without_aggregator: Pipeline,
) -> None:
    """Two aggregator replicas, each with its own NATS connection, consumers and ClickHouse
    client, run at once. (In one process: chDB hosts one engine per process, so replicas in
    separate processes need a ClickHouse server.)"""
    pipeline = pipeline_without_aggregator
    base = {
        "CR_NATS_URL": pipeline.nats.url,
        "CR_CLICKHOUSE_DSN": pipeline.settings.clickhouse_dsn,
        "CR_CLICKHOUSE_DATABASE": pipeline.settings.clickhouse_database,
        "CR_STREAM_NAME": pipeline.settings.stream_name,
        "CR_STREAM_SUBJECT": pipeline.settings.stream_subject,
        "CR_AGGREGATOR_REPLICAS": "2",
    }
    replicas = []
    for index in range(2):
        settings = load_settings(
            AggregatorSettings,
            {**base, "CR_AGGREGATOR_REPLICA_INDEX": str(index), "CR_STREAM_CONSUMER_NAME": "pair"},
        )
        nc = await jetstream.connect(settings, f"replica-{index}")
        aggregator = Aggregator(nc, ClickHouse(settings), settings, setup_telemetry("r", {}))
        replicas.append((settings, nc, aggregator))
    assert sorted(p for settings, _, _ in replicas for p in settings.partitions) == [0, 1, 2, 3]
    try:
        for _, _, aggregator in replicas:
            await aggregator.start()
        events = make_events(pipeline.tenant_id, [f"c{i}" for i in range(12)], 4_000, seed=3)
        await send(pipeline, events, 500)
        await send(pipeline, list(reversed(events)), 300)
        assert await settled(pipeline, len(events)) == len(events)
        for partition in range(4):
            info = await pipeline.js.consumer_info(pipeline.settings.stream_name, f"pair-p{partition}")
            assert info.delivered.stream_seq > 0, partition
    finally:
        for _, nc, aggregator in replicas:
            await aggregator.stop()
            await jetstream.close(nc)
    assert stored(pipeline) == len(events)
    assert rollup_totals(pipeline, "rollup_15m") == expected_totals(events)


def test_unique_event_ids() -> None:
    assert len({e.event_id for e in make_events("t", ["c"], 1000)}) == 1000
    assert uuid.UUID(complete_event("EMAIL", "SENT").event_id)


async def overall_health(pipeline: Pipeline) -> int:
    async with grpc.aio.insecure_channel(pipeline.query_address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status


@chaos
async def test_a_chain_failing_part_way_then_recovering_counts_once(
    nats_server: NatsServer, chdb_dsn: str
) -> None:
    """Storage fails after `events` is written but inside the views that follow it (injected
    at the storage boundary), for a while; once it recovers, every table counts each event once."""
    async with open_pipeline(
        nats_server, chdb_dsn, with_aggregator=True, CR_AGGREGATOR_MAX_ATTEMPTS="1000"
    ) as pipeline:
        db, client = pipeline.settings.clickhouse_database, pipeline.clickhouse.client
        client.command(f"CREATE TABLE {db}.fault_flag (x UInt8) ENGINE = Memory")
        client.command(f"CREATE TABLE {db}.fault_sink (x UInt8) ENGINE = Null")
        client.command(
            f"CREATE MATERIALIZED VIEW {db}.fault_mv TO {db}.fault_sink AS SELECT "
            f"throwIf((SELECT count() FROM {db}.fault_flag) > 0, 'injected fault') AS x FROM {db}.events"
        )
        client.command(f"INSERT INTO {db}.fault_flag VALUES (1)")
        events = make_events(pipeline.tenant_id, ["f1", "f2"], 3_000, seed=11)
        await send(pipeline, events, 1_000)
        # The aggregator is not ready once ClickHouse refused a round: the fault was hit.
        health = await poll_async(lambda: overall_health(pipeline), lambda s: s == NOT_SERVING)
        assert health == NOT_SERVING, "an aggregator that cannot store is not ready"
        await asyncio.sleep(1.0)  # more refused attempts
        during = rollup_totals(pipeline, "rollup_15m")
        assert sum(during.values()) < len(events), "the fault should have held the rounds back"
        assert await overall_health(pipeline) == NOT_SERVING
        client.command(f"TRUNCATE TABLE {db}.fault_flag")
        recovered_at = time.monotonic()
        assert await settled(pipeline, len(events)) == len(events)
        assert await poll_async(lambda: overall_health(pipeline), lambda s: s == SERVING) == SERVING
        expected = expected_totals(events)
        for table in ROLLUPS:
            assert rollup_totals(pipeline, table) == expected, table
        ids = {
            row[0]
            for row in pipeline.rows(
                "SELECT event_id FROM {db}.events WHERE tenant_id = {t:String}", t=pipeline.tenant_id
            )
        }
        outcome = record(
            "ClickHouse writes failing for 2 s, then recovering",
            {e.event_id for e in events},
            sum(rollup_totals(pipeline, "rollup_15m").values()),
            time.monotonic() - recovered_at,
            ids,
        )
        assert (outcome.lost, outcome.doubled) == (0, 0)


@chaos
async def test_a_round_split_into_inserts_with_one_refused_counts_once(
    nats_server: NatsServer, chdb_dsn: str
) -> None:
    """A round's inserts run side by side, each a range of minutes (`Slicing`): storage refuses
    the older slice of each round while the newer one is stored; retried with the same tokens
    once storage recovers, the stored slices are not stored again and the refused ones are."""
    async with open_pipeline(
        nats_server,
        chdb_dsn,
        with_aggregator=True,
        CR_AGGREGATOR_MAX_ATTEMPTS="1000",
        CR_AGGREGATOR_SLICE_EVENTS="100",
    ) as pipeline:
        db, client = pipeline.settings.clickhouse_database, pipeline.clickhouse.client
        client.command(f"CREATE TABLE {db}.fault_flag (x UInt8) ENGINE = Memory")
        client.command(f"CREATE TABLE {db}.fault_sink (x UInt8) ENGINE = Null")
        now = datetime.now(UTC).replace(second=30, microsecond=0)
        old = now - timedelta(hours=2)
        boundary = old.timestamp() + 1800
        client.command(
            f"CREATE MATERIALIZED VIEW {db}.fault_mv TO {db}.fault_sink AS SELECT throwIf("
            f"(SELECT count() FROM {db}.fault_flag) > 0 AND occurred_at < toDateTime64({boundary}, 3, 'UTC'),"
            f" 'injected fault') AS x FROM {db}.events"
        )
        client.command(f"INSERT INTO {db}.fault_flag VALUES (1)")
        events = make_events(pipeline.tenant_id, ["s1", "s2"], 3_000, seed=12)
        # In every request, 40 % two hours ago, the rest over the last ten minutes: the cut in
        # two of a round falls among the recent minutes, so its older slice holds all the old events.
        for number, event in enumerate(events):
            at = old if number % 5 < 2 else now - timedelta(minutes=number % 10)
            event.occurred_at.FromDatetime(at)
        await send(pipeline, events, 1_000)
        recent = sum(e.occurred_at.ToDatetime(UTC) > old + timedelta(minutes=30) for e in events)
        await poll_async(lambda: asyncio.to_thread(stored, pipeline), lambda n: n > 0)
        await asyncio.sleep(1.0)  # more refused attempts
        during = sum(rollup_totals(pipeline, "rollup_15m").values())
        assert 0 < during < recent, "newer slices stored while the older ones were refused"
        client.command(f"TRUNCATE TABLE {db}.fault_flag")
        assert await settled(pipeline, len(events)) == len(events)
        expected = expected_totals(events)
        for table in ROLLUPS:
            assert rollup_totals(pipeline, table) == expected, table
        rows, ids = pipeline.rows(
            "SELECT count(), uniqExact(event_id) FROM {db}.events WHERE tenant_id = {t:String}",
            t=pipeline.tenant_id,
        )[0]
        assert rows == ids == len(events)


async def test_distinct_profile_states_are_kept_only_where_a_metric_needs_them(pipeline: Pipeline) -> None:
    events = [complete_event("EMAIL", t, pipeline.tenant_id, "states") for t in ("SENT", "OPENED", "OPENED")]
    events[2].profile_id = "another"
    await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    await settled(pipeline, 3)
    distinct = dict(
        pipeline.rows(
            "SELECT type, groupBitmapMerge(profiles) FROM {db}.rollup_minute "
            "WHERE tenant_id = {t:String} AND dimension = '' GROUP BY type",
            t=pipeline.tenant_id,
        )
    )
    assert distinct == {"sent": 0, "opened": 2}


async def test_a_backlog_is_stored_in_rounds_of_at_most_the_round_size_oldest_first(
    pipeline_without_aggregator: Pipeline,
) -> None:
    """Ten messages of 100 events wait in one partition; rounds of at most 250 events take
    them two by two, in stream order, each event once."""
    pipeline = pipeline_without_aggregator
    events = make_events(pipeline.tenant_id, ["c1"], 1_000, seed=11)
    subject = jetstream.partition_subject(
        pipeline.settings, jetstream.partition_of(pipeline.tenant_id, "c1", 4)
    )
    for start in range(0, len(events), 100):
        payload = batch.encode(batch.from_events(events[start : start + 100]))
        await pipeline.js.publish(subject, payload, headers={batch.ENCODING_HEADER: batch.ARROW_ENCODING})
    settings = load_settings(
        AggregatorSettings,
        {
            "CR_NATS_URL": pipeline.nats.url,
            "CR_CLICKHOUSE_DSN": pipeline.settings.clickhouse_dsn,
            "CR_CLICKHOUSE_DATABASE": pipeline.settings.clickhouse_database,
            "CR_STREAM_NAME": pipeline.settings.stream_name,
            "CR_STREAM_SUBJECT": pipeline.settings.stream_subject,
            "CR_AGGREGATOR_FETCH_BATCH": "16",
            "CR_AGGREGATOR_ROUND_EVENTS": "250",
        },
    )
    nc = await jetstream.connect(settings, "rounds")
    aggregator = Aggregator(nc, ClickHouse(settings), settings, setup_telemetry("r", {}))
    await aggregator.start()
    try:
        assert await settled(pipeline, len(events)) == len(events)
    finally:
        await aggregator.stop()
        await jetstream.close(nc)
    rounds = pipeline.rows(
        "SELECT round_token, groupArray(event_id) FROM {db}.events WHERE tenant_id = {t:String} "
        "GROUP BY round_token",
        t=pipeline.tenant_id,
    )
    messages = sorted(sorted({int(e.rpartition("-")[2]) // 100 for e in ids}) for _, ids in rounds)
    assert messages == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert rollup_totals(pipeline, "rollup_15m") == expected_totals(events)
