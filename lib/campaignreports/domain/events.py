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


def _field(name: str) -> Callable[[Events], Column]:
    read = attrgetter(name)
    return lambda events: list(map(read, events))


def _key(keys: dict[int, str], name: str) -> Callable[[Events], Column]:
    """An enum field as its keys, looked up for the whole column at once ('' if unknown)."""
    table = np.array([keys.get(number, "") for number in range(max(keys) + 2)], dtype=object)
    read = attrgetter(name)

    def column(events: Events) -> Column:
        numbers = np.fromiter(map(read, events), dtype=np.int64, count=len(events))
        return table[np.where((numbers >= 0) & (numbers < len(table)), numbers, 0)]

    return column


def _millis(events: Events) -> Column:
    """When each event occurred, in milliseconds since the epoch (UTC)."""
    count = len(events)
    stamps = list(map(_OCCURRED_AT, events))  # each access builds a wrapper: once per event
    seconds = np.fromiter(map(_SECONDS, stamps), dtype=np.int64, count=count)
    nanos = np.fromiter(map(_NANOS, stamps), dtype=np.int64, count=count)
    return seconds * 1000 + nanos // 1_000_000


_OCCURRED_AT, _SECONDS, _NANOS = attrgetter("occurred_at"), attrgetter("seconds"), attrgetter("nanos")


@dataclass(frozen=True)
class EventField:
    """One field of the event, as the raw table stores it."""

    name: str
    column_type: str  # the raw table's ClickHouse type
    keys: dict[int, str] | None = None  # an enum, stored as its value's key
    detail: bool = False  # whether the validation matrix rules its presence per channel and type
    breakdown: bool = False  # whether the rollups break counts down by it

    def reader(self) -> Callable[[Events], Column]:
        """How the column is read from a sequence of events, whole at a time (per-event Python
        calls were most of the aggregator's decoding)."""
        if self.name == "occurred_at":
            return _millis
        return _key(self.keys, self.name) if self.keys is not None else _field(self.name)


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

COLUMN_READERS: dict[str, Callable[[Events], Column]] = {f.name: f.reader() for f in EVENT_FIELDS}
RAW_COLUMNS: tuple[str, ...] = tuple(COLUMN_READERS)
# The raw table's column definitions, in its order.
RAW_COLUMN_DDL: str = ",\n".join(f"{f.name} {f.column_type}" for f in EVENT_FIELDS)
# Fields whose presence the validation matrix rules, per channel and type.
DETAIL_FIELDS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.detail)
# Fields the rollups keep one row per (dimension, value) of.
BREAKDOWN_FIELDS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.breakdown)


def to_columns(events: Events) -> dict[str, Column]:
    """The events as raw-table columns (RAW_COLUMNS; `occurred_at` in epoch milliseconds):
    lists or numpy arrays."""
    return {name: read(events) for name, read in COLUMN_READERS.items()}
