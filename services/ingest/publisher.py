"""Stores validated events in JetStream with group commit.

Events of concurrent requests are coalesced into few JetStream messages: a message is sent
when it is full (MAX_EVENTS_PER_MESSAGE events or `max_message_bytes`) or when the first event
in it has waited `linger_seconds`. Several messages are in flight at once (pipelined), up to
`max_inflight_messages`. Each caller is answered only when every message holding its events
has been acknowledged by JetStream.

Each event goes to the stream partition of its campaign (`jetstream.partition_of`), and each
partition has its own message being filled. A request whose events belong to one campaign is
never split across messages unless it is itself larger than one message, so a JetStream failure
leaves it entirely unaccepted. (A request spanning campaigns or larger than one message may be
partly stored when a failure hits between its messages; its retry is safe because event_id is
the idempotency key downstream.)

Each message's `Nats-Msg-Id` is a digest of its payload, so a republished message is dropped
by JetStream's duplicate window. The payload is a batch of columns (`campaignreports.stream.batch`):
each request's valid events are one Arrow table, and a message joins the tables of the requests
it coalesces (without copying them) and encodes them once, when it is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats.errors
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext
from opentelemetry import metrics

from campaignreports.jetstream import MSG_ID_HEADER, TRACE_LINKS_HEADER, partition_of
from campaignreports.stream import batch
from campaignreports.telemetry import inject_headers

log = logging.getLogger(__name__)

MAX_EVENTS_PER_MESSAGE = 1_000
_MAX_TRACE_LINKS = 32
# What an event costs in a message beyond its strings (fixed-width columns, offsets), an
# upper bound: the size a message is cut at is counted before compression.
_FIXED_BYTES_PER_EVENT = 128


class PublishError(Exception):
    """JetStream did not acknowledge; the caller may retry."""


def event_sizes(table: pa.Table) -> np.ndarray:
    """Each event's bytes in a message, before compression (strings and a fixed part)."""
    sizes = np.full(table.num_rows, _FIXED_BYTES_PER_EVENT, dtype=np.int64)
    for column in table.columns:
        if pa.types.is_string(column.type):
            sizes += pc.binary_length(column).to_numpy()
    return sizes


def message_id(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


@dataclass
class _Message:
    """A JetStream message being filled."""

    tables: list[pa.Table] = field(default_factory=list)
    events: int = 0
    size: int = 0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    traceparents: list[str] = field(default_factory=list)

    def fits(self, events: int, size: int, max_bytes: int) -> bool:
        return self.events + events <= MAX_EVENTS_PER_MESSAGE and self.size + size <= max_bytes


def split(table: pa.Table, max_bytes: int) -> list[tuple[pa.Table, int]]:
    """Cut a request larger than one message into message-sized slices, in order, each with
    its size."""
    sizes = event_sizes(table)
    chunks: list[tuple[pa.Table, int]] = []
    start = size = 0
    for row, event_size in enumerate(sizes.tolist()):
        if row > start and (row - start >= MAX_EVENTS_PER_MESSAGE or size + event_size > max_bytes):
            chunks.append((table.slice(start, row - start), size))
            start, size = row, 0
        size += event_size
    chunks.append((table.slice(start), size))
    return chunks


class GroupCommitPublisher:
    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        subjects: Sequence[str],
        *,
        timeout_seconds: float,
        linger_seconds: float,
        max_message_bytes: int,
        max_inflight_messages: int,
        meter: metrics.Meter | None = None,
    ) -> None:
        self._nc = nc
        meter = meter or metrics.NoOpMeter(__name__)
        self._publish_duration = meter.create_histogram(
            "ingest.publish.duration", unit="ms", description="Time JetStream took to acknowledge a message"
        )
        self._in_flight = meter.create_up_down_counter(
            "ingest.publish.in_flight", description="Messages sent to JetStream and not yet acknowledged"
        )
        self._batch_size = meter.create_histogram(
            "ingest.batch.size",
            description="Events per message (group commit: the events of many requests in one message)",
        )
        self._js = js
        self._subjects = list(subjects)
        self._timeout = timeout_seconds
        self._linger = linger_seconds
        self._max_bytes = max_message_bytes
        self._inflight = asyncio.Semaphore(max_inflight_messages)
        self._open: dict[int, _Message] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def publish(self, events: pa.Table) -> None:
        """Store a batch of events (`campaignreports.stream.batch`); raise PublishError unless
        JetStream acknowledged all of them."""
        if not self._nc.is_connected:
            raise PublishError("not connected to NATS")
        by_partition: dict[int, list[np.ndarray]] = {}
        partitions = len(self._subjects)
        for (tenant, campaign), rows in batch.campaign_positions(events).items():
            by_partition.setdefault(partition_of(tenant, campaign, partitions), []).append(rows)
        traceparent = inject_headers().get("traceparent", "")
        waits = []
        for partition, parts in by_partition.items():
            at = np.sort(np.concatenate(parts))
            part = events if len(at) == events.num_rows else events.take(at)
            waits += [
                self._add(partition, chunk, size, traceparent) for chunk, size in split(part, self._max_bytes)
            ]
        await asyncio.gather(*waits)

    def _add(self, partition: int, table: pa.Table, size: int, traceparent: str) -> asyncio.Future[None]:
        message = self._open.get(partition)
        if message is not None and not message.fits(table.num_rows, size, self._max_bytes):
            self._flush(partition)
            message = None
        if message is None:
            message = self._open[partition] = _Message()
        message.tables.append(table)
        message.events += table.num_rows
        message.size += size
        waiter = asyncio.get_running_loop().create_future()
        message.waiters.append(waiter)
        if traceparent:
            message.traceparents.append(traceparent)
        if message.events >= MAX_EVENTS_PER_MESSAGE or message.size >= self._max_bytes:
            self._flush(partition)
        elif partition not in self._timers:
            self._timers[partition] = asyncio.get_running_loop().call_later(
                self._linger, self._flush, partition
            )
        return waiter

    def _flush(self, partition: int) -> None:
        timer = self._timers.pop(partition, None)
        if timer is not None:
            timer.cancel()
        message = self._open.pop(partition, None)
        if message is not None and message.events:
            task = asyncio.create_task(self._send(self._subjects[partition], message))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, subject: str, message: _Message) -> None:
        payload = batch.encode(batch.concat(message.tables))
        headers = {MSG_ID_HEADER: message_id(payload), batch.ENCODING_HEADER: batch.ARROW_ENCODING}
        if message.traceparents:
            headers["traceparent"] = message.traceparents[0]
            if len(message.traceparents) > 1:
                headers[TRACE_LINKS_HEADER] = ",".join(message.traceparents[1:_MAX_TRACE_LINKS])
        error: Exception | None = None
        self._batch_size.record(message.events)
        async with self._inflight:
            self._in_flight.add(1)
            started = time.perf_counter()
            try:
                if not self._nc.is_connected:
                    raise PublishError("not connected to NATS")
                await self._js.publish(subject, payload, timeout=self._timeout, headers=headers)
            except (nats.errors.Error, TimeoutError, PublishError) as exc:
                log.warning("publish of %d events failed: %r", message.events, exc)
                error = PublishError(f"JetStream did not acknowledge: {exc!r}")
            finally:
                self._in_flight.add(-1)
                self._publish_duration.record(
                    (time.perf_counter() - started) * 1000, {"outcome": "error" if error else "ok"}
                )
        for waiter in message.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    async def close(self) -> None:
        """Send what is pending and wait for every message in flight."""
        for partition in list(self._open):
            self._flush(partition)
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
