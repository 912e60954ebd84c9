"""Events as stored: the proto `Event` flattened into one raw-table row.

Enum values are stored as short lower-case keys (`email`, `opened`, `hard`, `ios`), the same
keys the query API uses for `Row.key`, so stored data reads without the proto at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from campaignreports.v1 import event_pb2


def _keys(enum: EnumTypeWrapper, prefix: str) -> dict[int, str]:
    return {number: name.removeprefix(prefix).lower() for name, number in enum.items() if number != 0}


CHANNEL_KEYS = _keys(event_pb2.Channel, "CHANNEL_")
EVENT_TYPE_KEYS = _keys(event_pb2.EventType, "EVENT_TYPE_")
BOUNCE_CATEGORY_KEYS = _keys(event_pb2.BounceCategory, "BOUNCE_CATEGORY_")
PLATFORM_KEYS = _keys(event_pb2.Platform, "PLATFORM_")


Events = Sequence[event_pb2.Event]
Column = Sequence[Any]


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


# Each raw-table column and how it is read from a sequence of events, in the table's order.
# Whole columns at a time: per-event Python calls were most of the aggregator's decoding.
COLUMN_READERS: dict[str, Callable[[Events], Column]] = {
    "event_id": _field("event_id"),
    "tenant_id": _field("tenant_id"),
    "campaign_id": _field("campaign_id"),
    "message_id": _field("message_id"),
    "channel": _key(CHANNEL_KEYS, "channel"),
    "type": _key(EVENT_TYPE_KEYS, "type"),
    "profile_id": _field("profile_id"),
    "occurred_at": _millis,
    "treatment_id": _field("treatment_id"),
    "reason": _field("reason"),
    "bounce_category": _key(BOUNCE_CATEGORY_KEYS, "bounce_category"),
    "recipient_domain": _field("recipient_domain"),
    "platform": _key(PLATFORM_KEYS, "platform"),
    "url": _field("url"),
    "interaction_type": _field("interaction_type"),
    "element_id": _field("element_id"),
    "is_machine": _field("is_machine"),
}
RAW_COLUMNS: tuple[str, ...] = tuple(COLUMN_READERS)


def to_columns(events: Events) -> dict[str, Column]:
    """The events as raw-table columns (RAW_COLUMNS; `occurred_at` in epoch milliseconds):
    lists or numpy arrays."""
    return {name: read(events) for name, read in COLUMN_READERS.items()}
