"""Unit tests of message sizing and splitting (pure)."""

from __future__ import annotations

from campaignreports.ingest.publisher import MAX_EVENTS_PER_MESSAGE, event_sizes, message_id, split
from campaignreports.stream import batch
from campaignreports.v1 import event_pb2


def events(count: int, padding: int = 0) -> list[event_pb2.Event]:
    return [event_pb2.Event(event_id=f"e{i}", profile_id="p" * padding) for i in range(count)]


def test_an_events_size_counts_its_strings() -> None:
    small, large = event_sizes(batch.from_events(events(1) + events(1, padding=4000)))
    assert large - small == 4000


def test_split_keeps_every_event_in_order_within_the_limits() -> None:
    table = batch.from_events(events(2 * MAX_EVENTS_PER_MESSAGE + 7))
    chunks = split(table, max_bytes=10**9)
    assert [c.num_rows for c, _ in chunks] == [MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE, 7]
    big = batch.from_events(events(300, padding=4000))
    chunks = split(big, max_bytes=100_000)
    assert len(chunks) > 1 and all(size <= 100_000 for _, size in chunks)
    assert all(size == int(event_sizes(chunk).sum()) for chunk, size in chunks)
    assert batch.concat([c for c, _ in chunks]).equals(big)
    payloads = [batch.encode(chunk) for chunk, _ in chunks]
    assert all(len(payload) <= 100_000 for payload in payloads), "sizes are counted before compression"


def test_message_id_is_deterministic_per_payload() -> None:
    payload = batch.encode(batch.from_events(events(10)))
    assert message_id(payload) == message_id(bytes(payload))
    assert message_id(payload) != message_id(batch.encode(batch.from_events(events(11))))
