"""The stream's batch of events: built from the fields ingest read, encoded, decoded in either
encoding (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from helpers import ALL_PAIRS, EXPECTED_VALID_PAIRS, complete_event

from campaignreports.stream import batch
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.v1 import event_pb2

AT = datetime(2026, 11, 30, 12, 34, 56, 789_999, tzinfo=UTC)


def every_kind() -> list[event_pb2.Event]:
    """One event of every valid (channel, type) pair, with every detail field it takes."""
    return [
        complete_event(channel, event_type, campaign_id=f"c{i % 3}", occurred_at=AT)
        for i, (channel, event_type) in enumerate(sorted(p for p in ALL_PAIRS if p in EXPECTED_VALID_PAIRS))
    ]


def test_a_batch_holds_every_field_as_the_raw_table_stores_it() -> None:
    event = complete_event("EMAIL", "CONVERTED", occurred_at=AT)
    event.is_machine, event.url = True, "https://example.com/a"
    row = batch.from_events([event]).to_pylist()[0]
    assert row["channel"] == "email" and row["type"] == "converted"
    assert row["occurred_at"] == AT.replace(microsecond=789_000)  # milliseconds, truncated
    assert row["conversion_value"] == Decimal("49.90") and row["currency"] == "EUR"
    assert row["is_machine"] is True and row["url"] == "https://example.com/a"
    assert row["event_key"] == batch.keys_of([event.event_id])[0]
    assert row["profile_key"] == batch.keys_of(["p-1"])[0]
    bounced = batch.from_events([complete_event("EMAIL", "BOUNCED", occurred_at=AT)]).to_pylist()[0]
    assert bounced["bounce_category"] == "hard" and bounced["conversion_value"] == 0


def test_both_encodings_decode_to_the_same_batch() -> None:
    events = every_kind()
    arrow = batch.decode(
        batch.encode(batch.from_events(events)), {batch.ENCODING_HEADER: batch.ARROW_ENCODING}
    )
    legacy = batch.decode(event_batch_pb2.EventBatch(events=events).SerializeToString(), None)
    assert arrow.num_rows == len(events)
    assert arrow.equals(legacy)
    assert arrow.column("event_id").to_pylist() == [e.event_id for e in events]


def test_the_encoding_is_deterministic_and_smaller_than_protobuf() -> None:
    events = every_kind() * 20
    payload = batch.encode(batch.from_events(events))
    assert payload == batch.encode(batch.from_events(events)), "the message id is a digest of it"
    assert len(payload) < len(event_batch_pb2.EventBatch(events=events).SerializeToString())


ARROW = {batch.ENCODING_HEADER: batch.ARROW_ENCODING}


@pytest.mark.parametrize(
    ("payload", "headers", "says"),
    [
        (b"\xff\xff", None, "undecodable EventBatch"),
        (b"not arrow", ARROW, "undecodable Arrow batch"),
        (b"", {batch.ENCODING_HEADER: "csv" * 100}, "unknown encoding"),
        (batch.encode(batch.from_events([])), {batch.ENCODING_HEADER: "arrow-ipc-lz4"}, None),
    ],
)
def test_what_is_not_a_batch_is_refused_saying_why(
    payload: bytes, headers: dict[str, str] | None, says: str | None
) -> None:
    if says is None:
        assert batch.decode(payload, headers).num_rows == 0
        return
    with pytest.raises(batch.UndecodableBatch, match=says) as refused:
        batch.decode(payload, headers)
    assert len(str(refused.value)) < 300


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_a_batch_of_other_columns_or_with_nulls_is_refused() -> None:
    good = batch.from_events(every_kind())
    with pytest.raises(batch.UndecodableBatch, match="not the event columns"):
        batch.decode(_ipc(good.drop_columns(["url"])), ARROW)
    nulls = good.set_column(0, pa.field("event_id", pa.string()), pa.nulls(good.num_rows, pa.string()))
    with pytest.raises(batch.UndecodableBatch, match=r"not the event columns|null"):
        batch.decode(_ipc(nulls), ARROW)


def test_campaign_positions_keep_each_campaigns_rows_in_order() -> None:
    events = every_kind()
    positions = batch.campaign_positions(batch.from_events(events))
    expected: dict[tuple[str, str], list[int]] = {}
    for index, event in enumerate(events):
        expected.setdefault((event.tenant_id, event.campaign_id), []).append(index)
    assert {key: at.tolist() for key, at in positions.items()} == expected
    single = batch.campaign_positions(batch.from_events(events[:1]))
    assert {key: at.tolist() for key, at in single.items()} == {("acme", "c0"): [0]}
    assert batch.campaign_positions(batch.from_events([])) == {}
