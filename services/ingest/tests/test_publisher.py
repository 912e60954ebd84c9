"""Unit tests of message packing and ids (pure)."""

from __future__ import annotations

from campaignreports.ingest.publisher import MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES, message_id, pack
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.v1 import event_pb2


def events(count: int, padding: int = 0) -> list[event_pb2.Event]:
    return [event_pb2.Event(event_id=f"e{i}", profile_id="p" * padding) for i in range(count)]


def unpack(payloads: list[bytes]) -> list[str]:
    ids = []
    for payload in payloads:
        assert len(payload) <= MAX_MESSAGE_BYTES
        ids.extend(e.event_id for e in event_batch_pb2.EventBatch.FromString(payload).events)
    return ids


def test_pack_keeps_every_event_in_order_within_the_count_limit() -> None:
    batch = events(2 * MAX_EVENTS_PER_MESSAGE + 7)
    payloads = list(pack(batch))
    assert len(payloads) == 3
    assert unpack(payloads) == [e.event_id for e in batch]


def test_pack_respects_the_byte_limit() -> None:
    batch = events(300, padding=4000)
    payloads = list(pack(batch))
    assert len(payloads) > 1
    assert unpack(payloads) == [e.event_id for e in batch]


def test_message_id_is_deterministic_per_payload() -> None:
    first, second = (list(pack(events(10))) for _ in range(2))
    assert [message_id(p) for p in first] == [message_id(p) for p in second]
    assert message_id(first[0]) != message_id(next(pack(events(11))))
