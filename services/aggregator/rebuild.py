"""`rebuild`: replay the stream into fresh tables and switch over to them.

The stream is the truth; the tables are projections of it. After a schema change, or when the
tables are suspect, `rebuild` replays every message of the stream into tables built next to the
live ones (suffix `__rebuild`), with the same decoding and the same exactly-once insert path as
the aggregator, then exchanges them with the live tables and recreates the live views.

The aggregators must be stopped meanwhile (scale them to zero): the rebuild is then the only
writer, which its exactness needs. Ingest may keep running: messages published after the
replay reached the end of the stream are delivered by the aggregators' durable consumers when
they restart, and any message delivered to both is stored once (the writer drops it).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from campaignreports.aggregator.consumer import write
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.aggregator.writer import Decoded, Writer
from campaignreports.clickhouse import ClickHouse
from campaignreports.jetstream import consumer_name
from campaignreports.schema import (
    Dialect,
    drop_statements,
    switch_statements,
    table_statements,
)
from campaignreports.schema import view_statements as views
from campaignreports.stream import batch

log = logging.getLogger(__name__)

SUFFIX = "__rebuild"
REPLAY_BATCH = 500


class AggregatorsRunning(RuntimeError):
    """Aggregators are consuming: the rebuild would not be the only writer."""


@dataclass
class RebuildReport:
    messages: int
    events: int
    undecodable: int


async def assert_no_aggregator(js: JetStreamContext, settings: AggregatorSettings) -> None:
    """Refuse while any aggregator has a pull request waiting on a partition consumer."""
    for _ in range(3):  # an idle aggregator renews its pull request every fetch wait
        for partition in range(settings.stream_partitions):
            try:
                info = await js.consumer_info(settings.stream_name, consumer_name(settings, partition))
            except NotFoundError:
                continue
            if info.num_waiting or info.num_ack_pending:
                raise AggregatorsRunning(
                    f"an aggregator is consuming partition {partition} (or stopped less than "
                    f"CR_AGGREGATOR_ACK_WAIT_SECONDS ago): scale the aggregators to zero first"
                )
        await asyncio.sleep(settings.fetch_wait_seconds)


async def replay(
    js: JetStreamContext, clickhouse: ClickHouse, settings: AggregatorSettings, suffix: str
) -> RebuildReport:
    """Store every message of the stream, from the first, into the tables carrying `suffix`,
    in stream order."""
    writer = Writer(clickhouse, suffix=suffix, max_keys=settings.writer_max_keys)
    info = await js.stream_info(settings.stream_name)
    total = info.state.messages
    subscription = await js.pull_subscribe(
        f"{settings.stream_subject}.*",
        stream=settings.stream_name,
        config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60
        ),
    )
    report = RebuildReport(0, 0, 0)
    try:
        while True:
            try:
                messages = await subscription.fetch(REPLAY_BATCH, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                break  # the end of the stream
            parts = []
            for message in messages:
                try:
                    parts.append(Decoded.of(batch.decode(message.data, message.headers)))
                except batch.UndecodableBatch:
                    report.undecodable += 1
            decoded = Decoded.concat(parts)
            first, last = messages[0].metadata.sequence.stream, messages[-1].metadata.sequence.stream
            if len(decoded):
                await clickhouse.run(write, writer, decoded, f"rebuild:{first}-{last}", settings.slicing)
            report.messages += len(messages)
            report.events += len(decoded)
            print(
                f"rebuild: replayed {report.messages:,} of ~{total:,} messages", file=sys.stderr, flush=True
            )
    finally:
        await subscription.unsubscribe()
    return report


async def rebuild(
    js: JetStreamContext, clickhouse: ClickHouse, settings: AggregatorSettings, keep_old: bool = False
) -> RebuildReport:
    dialect = Dialect.from_settings(settings)
    await assert_no_aggregator(js, settings)
    for statement in [
        *drop_statements(dialect, SUFFIX),
        *table_statements(dialect, SUFFIX),
        *views(dialect, SUFFIX),
    ]:
        await clickhouse.run(clickhouse.client.command, statement)
    report = await replay(js, clickhouse, settings, SUFFIX)
    for statement in switch_statements(dialect, SUFFIX):
        await clickhouse.run(clickhouse.client.command, statement)
    if not keep_old:
        for statement in drop_statements(dialect, SUFFIX):
            await clickhouse.run(clickhouse.client.command, statement)
    log.info(
        "rebuilt from %d messages (%d events, %d undecodable)",
        report.messages,
        report.events,
        report.undecodable,
    )
    return report
