"""Events as stored: the proto `Event` flattened into one raw-table row.

`EVENT_FIELDS` is the one table of the event's fields: the raw table's columns and their
ClickHouse types, how each is read from the proto, which are detail fields (the validation
matrix says which channel and type require or allow them) and which the rollups break counts
down by all come from it. A new event field is one line here (and the migration adding its
column). Enum values are stored as short lower-case keys (`email`, `opened`, `hard`, `ios`),
the same keys the query API uses for `Row.key`, so stored data reads without the proto at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from numpy.typing import NDArray

from campaignreports.v1 import event_pb2


def _keys(enum: EnumTypeWrapper, prefix: str) -> dict[int, str]:
    return {number: name.removeprefix(prefix).lower() for name, number in enum.items() if number != 0}


CHANNEL_KEYS = _keys(event_pb2.Channel, "CHANNEL_")
EVENT_TYPE_KEYS = _keys(event_pb2.EventType, "EVENT_TYPE_")
BOUNCE_CATEGORY_KEYS = _keys(event_pb2.BounceCategory, "BOUNCE_CATEGORY_")
PLATFORM_KEYS = _keys(event_pb2.Platform, "PLATFORM_")


Events = Sequence[event_pb2.Event]
# A column is a list or, where it is built with numpy, an array.
Column = Sequence[Any] | NDArray[Any]


def _enum_lookup(keys: dict[int, str]) -> Callable[[Sequence[int]], Column]:
    """An enum column as its keys, looked up for the whole column at once ('' if unknown)."""
    table = np.array([keys.get(number, "") for number in range(max(keys) + 2)], dtype=object)

    def column(numbers: Sequence[int]) -> Column:
        values = np.asarray(numbers, dtype=np.int64)
        return table[np.where((values >= 0) & (values < len(table)), values, 0)]

    return column


@dataclass(frozen=True)
class EventField:
    """One field of the event, as the raw table stores it."""

    name: str
    column_type: str  # the raw table's ClickHouse type
    keys: dict[int, str] | None = None  # an enum, stored as its value's key
    detail: bool = False  # whether the validation matrix rules its presence per channel and type
    breakdown: bool = False  # whether the rollups break counts down by it


_KEY = "LowCardinality(String)"
# In the raw table's order.
EVENT_FIELDS: tuple[EventField, ...] = (
    EventField("event_id", "String"),
    EventField("tenant_id", _KEY),
    EventField("campaign_id", "String"),
    EventField("message_id", "String"),
    EventField("channel", _KEY, CHANNEL_KEYS),
    EventField("type", _KEY, EVENT_TYPE_KEYS),
    EventField("profile_id", "String"),
    EventField("occurred_at", "DateTime64(3, 'UTC')"),
    EventField("treatment_id", "String", breakdown=True),
    EventField("reason", "String", detail=True, breakdown=True),
    EventField("bounce_category", _KEY, BOUNCE_CATEGORY_KEYS, detail=True, breakdown=True),
    EventField("recipient_domain", "String", detail=True, breakdown=True),
    EventField("platform", _KEY, PLATFORM_KEYS, detail=True, breakdown=True),
    EventField("url", "String", detail=True, breakdown=True),
    EventField("interaction_type", "String", detail=True, breakdown=True),
    EventField("element_id", "String", detail=True, breakdown=True),
    EventField("is_machine", "Bool", detail=True),
    # Exact: a decimal number in text on the wire, Decimal(38, 9) when stored (sums of up to 10^20
    # of the largest values the validation accepts still fit).
    EventField("conversion_value", "Decimal(38, 9)", detail=True),
    EventField("currency", _KEY, detail=True),
)

RAW_COLUMNS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS)
# The raw table's column definitions, in its order.
RAW_COLUMN_DDL: str = ",\n".join(f"{f.name} {f.column_type}" for f in EVENT_FIELDS)
# Fields whose presence the validation matrix rules, per channel and type.
DETAIL_FIELDS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.detail)
# How many values each enum field can store (its keys): a breakdown by one has at most that many rows.
KEY_COUNTS: dict[str, int] = {f.name: len(f.keys) for f in EVENT_FIELDS if f.keys is not None}
# Fields the rollups keep one row per (dimension, value) of.
BREAKDOWN_FIELDS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.breakdown)


# The two parts of `occurred_at` as `read_fields` names them.
SECONDS, NANOS = "occurred_at.seconds", "occurred_at.nanos"
# Every value `read_fields` reads: the fields in the raw table's order, the time as its parts.
FIELD_NAMES: tuple[str, ...] = (*(name for name in RAW_COLUMNS if name != "occurred_at"), SECONDS, NANOS)
_READ_ALL = attrgetter(*FIELD_NAMES)
# Fields = each of FIELD_NAMES -> its values, one per event, as the proto holds them.
Fields = dict[str, Sequence[Any]]
_ENUM_KEYS = {f.name: _enum_lookup(f.keys) for f in EVENT_FIELDS if f.keys is not None}


def read_fields(events: Events) -> Fields:
    """Every field of every event as columns of proto values, read with one C-level call per
    event (reading the proto is most of the cost of handling an event, so it is done once: the
    validation checks these columns and the stream batch is built from them)."""
    if not events:
        return {name: () for name in FIELD_NAMES}
    return dict(zip(FIELD_NAMES, zip(*map(_READ_ALL, events), strict=True), strict=True))


def to_columns(fields: Fields) -> dict[str, Column]:
    """The events as raw-table columns (RAW_COLUMNS): enums as their keys, `occurred_at` in
    epoch milliseconds (numpy arrays), the rest as read."""
    columns: dict[str, Column] = {}
    for name in RAW_COLUMNS:
        if name == "occurred_at":
            seconds = np.asarray(fields[SECONDS], dtype=np.int64)
            columns[name] = seconds * 1000 + np.asarray(fields[NANOS], dtype=np.int64) // 1_000_000
        elif name in _ENUM_KEYS:
            columns[name] = _ENUM_KEYS[name](fields[name])
        else:
            columns[name] = fields[name]
    return columns
