"""Stores validated events in JetStream, batched into few messages.

Events are packed into messages of at most MAX_EVENTS_PER_MESSAGE events and
MAX_MESSAGE_BYTES bytes (JetStream's default max payload is 1 MiB). Each message's
`Nats-Msg-Id` is a digest of its payload, so a retried request produces the same messages and
JetStream's duplicate window drops the copies. The call returns only when JetStream has
acknowledged every message.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator, Sequence

import nats.errors
from nats.js.client import JetStreamContext

from campaignreports.jetstream import MSG_ID_HEADER
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.telemetry import inject_headers
from campaignreports.v1 import event_pb2

MAX_EVENTS_PER_MESSAGE = 1_000
MAX_MESSAGE_BYTES = 512 * 1024


class PublishError(Exception):
    """JetStream did not acknowledge; the caller may retry (nothing is half-accepted)."""


def pack(events: Sequence[event_pb2.Event]) -> Iterator[bytes]:
    """Serialise events into as few payloads as the size limits allow, keeping their order."""
    batch = event_batch_pb2.EventBatch()
    size = 0
    for event in events:
        event_size = event.ByteSize() + 5  # field tag and length prefix
        if batch.events and (
            len(batch.events) >= MAX_EVENTS_PER_MESSAGE or size + event_size > MAX_MESSAGE_BYTES
        ):
            yield batch.SerializeToString()
            batch = event_batch_pb2.EventBatch()
            size = 0
        batch.events.append(event)
        size += event_size
    if batch.events:
        yield batch.SerializeToString()


def message_id(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


class EventPublisher:
    def __init__(self, js: JetStreamContext, subject: str, timeout_seconds: float) -> None:
        self._js = js
        self._subject = subject
        self._timeout = timeout_seconds

    async def publish(self, events: Sequence[event_pb2.Event]) -> None:
        """Store `events`; raise PublishError unless JetStream acknowledged all of them."""
        trace_headers = inject_headers()
        publishes = [
            self._js.publish(
                self._subject,
                payload,
                timeout=self._timeout,
                headers={MSG_ID_HEADER: message_id(payload), **trace_headers},
            )
            for payload in pack(events)
        ]
        results = await asyncio.gather(*publishes, return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            if not all(isinstance(f, nats.errors.Error | asyncio.TimeoutError) for f in failures):
                raise failures[0]
            raise PublishError(f"JetStream did not acknowledge: {failures[0]!r}") from failures[0]
