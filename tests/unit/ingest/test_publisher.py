"""Unit tests of message framing and splitting (pure)."""

from __future__ import annotations

from campaignreports.ingest.publisher import MAX_EVENTS_PER_MESSAGE, frame, message_id, split
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.v1 import event_pb2


def events(count: int, padding: int = 0) -> list[event_pb2.Event]:
    return [event_pb2.Event(event_id=f"e{i}", profile_id="p" * padding) for i in range(count)]


def test_concatenated_frames_are_an_event_batch() -> None:
    batch = events(300, padding=200)  # lengths above 127 need multi-byte varints
    payload = b"".join(frame(e) for e in batch)
    assert list(event_batch_pb2.EventBatch.FromString(payload).events) == batch


def test_split_keeps_every_event_in_order_within_the_limits() -> None:
    frames = [frame(e) for e in events(2 * MAX_EVENTS_PER_MESSAGE + 7)]
    chunks = split(frames, max_bytes=10**9)
    assert [len(c) for c in chunks] == [MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE, 7]
    big = [frame(e) for e in events(300, padding=4000)]
    chunks = split(big, max_bytes=100_000)
    assert len(chunks) > 1 and all(sum(map(len, c)) <= 100_000 for c in chunks)
    assert [f for c in chunks for f in c] == big


def test_message_id_is_deterministic_per_payload() -> None:
    payload = b"".join(frame(e) for e in events(10))
    assert message_id(payload) == message_id(bytes(payload))
    assert message_id(payload) != message_id(payload + frame(events(1)[0]))
