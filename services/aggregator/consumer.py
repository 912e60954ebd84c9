"""The durable pull consumer that stores events in ClickHouse.

Messages are fetched in batches, decoded, inserted as one block, and acknowledged only after
ClickHouse stored them: a crash before the acknowledgement means redelivery, never loss.
ClickHouse failures are retried with capped exponential backoff and nothing is acknowledged in
the meantime. A message that cannot be decoded is terminated (logged) so it cannot block the
stream.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import ExitStack

import nats.errors
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from opentelemetry import trace

from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.events import RAW_COLUMNS, to_rows
from campaignreports.jetstream import TRACE_LINKS_HEADER
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.telemetry import Telemetry, extract_context, links_from_traceparents

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


class Aggregator:
    """Consumes the event stream into the raw events table (a ServiceHost component)."""

    service_names: tuple[str, ...] = ()

    def __init__(
        self, js: JetStreamContext, clickhouse: ClickHouse, settings: AggregatorSettings, telemetry: Telemetry
    ) -> None:
        self._js = js
        self._clickhouse = clickhouse
        self._settings = settings
        self._tracer = telemetry.tracer(__name__)
        self._stored = telemetry.meter(__name__).create_counter(
            "aggregator.events.stored", description="Events inserted into ClickHouse"
        )
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None

    def register(self, server: object) -> None:
        """No gRPC service of its own: the host serves health only."""

    async def start(self) -> None:
        subscription = await self._js.pull_subscribe(
            self._settings.stream_subject,
            durable=self._settings.consumer_name,
            stream=self._settings.stream_name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=60,
                max_ack_pending=20_000,
            ),
        )
        self._subscription = subscription
        self._task = asyncio.create_task(self._consume(subscription), name="aggregator-consume")

    async def stop(self) -> None:
        """Finish the batch in hand (stored and acknowledged, or returned), then unsubscribe."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except nats.errors.Error as exc:
                log.warning("unsubscribe failed: %s", exc)

    async def _consume(self, subscription: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(
                    self._settings.fetch_batch, timeout=self._settings.fetch_wait_seconds
                )
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error as exc:
                log.warning("fetch failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            await self._store(messages)

    async def _store(self, messages: list[Msg]) -> None:
        rows = []
        decoded: list[Msg] = []
        for message in messages:
            batch = event_batch_pb2.EventBatch()
            try:
                batch.ParseFromString(message.data)
            except DecodeError:
                log.error(
                    "undecodable message %s on %s: terminated", message.metadata.sequence, message.subject
                )
                await message.term()
                continue
            rows.extend(to_rows(batch.events))
            decoded.append(message)
        with ExitStack() as spans:
            # One span per message, in the trace of the first ingest call whose events it holds,
            # linked to the traces of the others.
            for message in decoded:
                spans.enter_context(
                    self._tracer.start_as_current_span(
                        "aggregator.store",
                        context=extract_context(message.headers),
                        links=links_from_traceparents((message.headers or {}).get(TRACE_LINKS_HEADER)),
                        kind=trace.SpanKind.CONSUMER,
                        attributes={"messaging.batch.message_count": len(rows)},
                    )
                )
            if rows and not await self._insert_with_retry(rows):
                for message in decoded:
                    await message.nak()
                return
        for message in decoded:
            await message.ack()
        self._stored.add(len(rows))

    async def _insert_with_retry(self, rows: list[list[object]]) -> bool:
        """Insert until it succeeds; False only if the service is stopping first."""
        delay = 0.1
        while True:
            try:
                await self._clickhouse.run(self._clickhouse.insert, "events", rows, RAW_COLUMNS)
                return True
            except Exception as exc:
                log.warning("insert of %d rows failed (%s); retrying in %.1fs", len(rows), exc, delay)
            if self._stopping.is_set():
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
