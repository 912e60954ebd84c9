"""The event field table is the one list of the event's fields: the proto, the raw table, the
validation rules and the breakdowns all agree with it."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

from campaignreports import schema
from campaignreports.domain import catalog, validation
from campaignreports.domain.events import (
    BREAKDOWN_FIELDS,
    DETAIL_FIELDS,
    EVENT_FIELDS,
    FIELD_NAMES,
    RAW_COLUMN_DDL,
    RAW_COLUMNS,
)
from campaignreports.v1 import event_pb2

NAMES = [f.name for f in EVENT_FIELDS]


def test_every_proto_field_has_one_row_and_enums_are_stored_as_keys() -> None:
    proto = {f.name: f for f in event_pb2.Event.DESCRIPTOR.fields}
    assert sorted(NAMES) == sorted(proto), "a field of Event without a row in EVENT_FIELDS (or the reverse)"
    assert len(set(NAMES)) == len(NAMES)
    for field in EVENT_FIELDS:
        is_enum = proto[field.name].type == FieldDescriptor.TYPE_ENUM
        assert (field.keys is not None) == is_enum, field.name


def test_the_raw_table_reads_and_declares_the_table_in_its_order() -> None:
    assert list(RAW_COLUMNS) == NAMES
    others = [name for name in NAMES if name != "occurred_at"]
    assert list(FIELD_NAMES) == [*others, "occurred_at.seconds", "occurred_at.nanos"]
    assert [line.split()[0] for line in RAW_COLUMN_DDL.split(",\n")] == NAMES
    events_ddl = schema.table_statements(schema.Dialect("db"))[0]
    assert all(f"{f.name} {f.column_type}" in events_ddl for f in EVENT_FIELDS)


def test_validation_and_breakdowns_are_the_tables() -> None:
    assert validation.DETAIL_FIELDS == DETAIL_FIELDS
    assert catalog.BREAKDOWN_DIMENSIONS == BREAKDOWN_FIELDS
    # Every text field of the event (an enum is a number) has a length and character rule.
    text = {f.name for f in event_pb2.Event.DESCRIPTOR.fields if f.type == FieldDescriptor.TYPE_STRING}
    assert {rule.field for rule in validation.STRING_RULES} == text
    # Every breakdown is produced by the rollups' views.
    views = " ".join(schema.view_statements(schema.Dialect("db")))
    assert all(f"('{name}', CAST({name} AS String))" in views for name in BREAKDOWN_FIELDS)
