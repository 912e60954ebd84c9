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
by JetStream's duplicate window. The payload is an `EventBatch`, built by concatenating each
event's length-delimited encoding (the wire format of a repeated field), so coalescing never
re-encodes a batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext
from opentelemetry import metrics

from campaignreports.jetstream import MSG_ID_HEADER, TRACE_LINKS_HEADER, partition_of
from campaignreports.telemetry import inject_headers
from campaignreports.v1 import event_pb2

log = logging.getLogger(__name__)

MAX_EVENTS_PER_MESSAGE = 1_000
_EVENT_BATCH_EVENTS_TAG = b"\x0a"  # field 1 (events), wire type 2 (length-delimited)
_MAX_TRACE_LINKS = 32


class PublishError(Exception):
    """JetStream did not acknowledge; the caller may retry."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(event: event_pb2.Event) -> bytes:
    """One event as an element of EventBatch.events, ready to concatenate."""
    data = event.SerializeToString()
    return _EVENT_BATCH_EVENTS_TAG + _varint(len(data)) + data


def message_id(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


@dataclass
class _Message:
    """A JetStream message being filled."""

    frames: list[bytes] = field(default_factory=list)
    size: int = 0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    traceparents: list[str] = field(default_factory=list)

    def fits(self, frames: Sequence[bytes], size: int, max_bytes: int) -> bool:
        return len(self.frames) + len(frames) <= MAX_EVENTS_PER_MESSAGE and self.size + size <= max_bytes


def split(frames: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """Cut a request larger than one message into message-sized chunks, in order."""
    chunks: list[list[bytes]] = [[]]
    size = 0
    for framed in frames:
        if chunks[-1] and (len(chunks[-1]) >= MAX_EVENTS_PER_MESSAGE or size + len(framed) > max_bytes):
            chunks.append([])
            size = 0
        chunks[-1].append(framed)
        size += len(framed)
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

    async def publish(self, events: Sequence[event_pb2.Event]) -> None:
        """Store `events`; raise PublishError unless JetStream acknowledged all of them."""
        if not self._nc.is_connected:
            raise PublishError("not connected to NATS")
        by_partition: dict[int, list[bytes]] = {}
        partitions = len(self._subjects)
        for event in events:
            partition = partition_of(event.tenant_id, event.campaign_id, partitions)
            by_partition.setdefault(partition, []).append(frame(event))
        traceparent = inject_headers().get("traceparent", "")
        waits = [
            self._add(partition, chunk, traceparent)
            for partition, frames in by_partition.items()
            for chunk in split(frames, self._max_bytes)
        ]
        await asyncio.gather(*waits)

    def _add(self, partition: int, frames: list[bytes], traceparent: str) -> asyncio.Future[None]:
        size = sum(map(len, frames))
        message = self._open.get(partition)
        if message is not None and not message.fits(frames, size, self._max_bytes):
            self._flush(partition)
            message = None
        if message is None:
            message = self._open[partition] = _Message()
        message.frames.extend(frames)
        message.size += size
        waiter = asyncio.get_running_loop().create_future()
        message.waiters.append(waiter)
        if traceparent:
            message.traceparents.append(traceparent)
        if len(message.frames) >= MAX_EVENTS_PER_MESSAGE or message.size >= self._max_bytes:
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
        if message is not None and message.frames:
            task = asyncio.create_task(self._send(self._subjects[partition], message))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, subject: str, message: _Message) -> None:
        payload = b"".join(message.frames)
        headers = {MSG_ID_HEADER: message_id(payload)}
        if message.traceparents:
            headers["traceparent"] = message.traceparents[0]
            if len(message.traceparents) > 1:
                headers[TRACE_LINKS_HEADER] = ",".join(message.traceparents[1:_MAX_TRACE_LINKS])
        error: Exception | None = None
        self._batch_size.record(len(message.frames))
        async with self._inflight:
            self._in_flight.add(1)
            started = time.perf_counter()
            try:
                if not self._nc.is_connected:
                    raise PublishError("not connected to NATS")
                await self._js.publish(subject, payload, timeout=self._timeout, headers=headers)
            except (nats.errors.Error, TimeoutError, PublishError) as exc:
                log.warning("publish of %d events failed: %r", len(message.frames), exc)
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
