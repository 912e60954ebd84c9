"""Events as stored: the proto `Event` flattened into one raw-table row.

Enum values are stored as short lower-case keys (`email`, `opened`, `hard`, `ios`), the same
keys the query API uses for `Row.key`, so stored data reads without the proto at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from campaignreports.v1 import event_pb2


def _keys(enum: EnumTypeWrapper, prefix: str) -> dict[int, str]:
    return {number: name.removeprefix(prefix).lower() for name, number in enum.items() if number != 0}


CHANNEL_KEYS = _keys(event_pb2.Channel, "CHANNEL_")
EVENT_TYPE_KEYS = _keys(event_pb2.EventType, "EVENT_TYPE_")
BOUNCE_CATEGORY_KEYS = _keys(event_pb2.BounceCategory, "BOUNCE_CATEGORY_")
PLATFORM_KEYS = _keys(event_pb2.Platform, "PLATFORM_")


def _millis(event: event_pb2.Event) -> int:
    """When the event occurred, in milliseconds since the epoch (UTC)."""
    return event.occurred_at.seconds * 1000 + event.occurred_at.nanos // 1_000_000


def _key(keys: dict[int, str], field: str) -> Callable[[event_pb2.Event], str]:
    number = attrgetter(field)
    return lambda event: keys.get(number(event), "")


# Each raw-table column and how it is read from an event, in the table's column order.
COLUMN_READERS: dict[str, Callable[[event_pb2.Event], Any]] = {
    "event_id": attrgetter("event_id"),
    "tenant_id": attrgetter("tenant_id"),
    "campaign_id": attrgetter("campaign_id"),
    "message_id": attrgetter("message_id"),
    "channel": _key(CHANNEL_KEYS, "channel"),
    "type": _key(EVENT_TYPE_KEYS, "type"),
    "profile_id": attrgetter("profile_id"),
    "occurred_at": _millis,
    "treatment_id": attrgetter("treatment_id"),
    "reason": attrgetter("reason"),
    "bounce_category": _key(BOUNCE_CATEGORY_KEYS, "bounce_category"),
    "recipient_domain": attrgetter("recipient_domain"),
    "platform": _key(PLATFORM_KEYS, "platform"),
    "url": attrgetter("url"),
    "interaction_type": attrgetter("interaction_type"),
    "element_id": attrgetter("element_id"),
    "is_machine": attrgetter("is_machine"),
}
RAW_COLUMNS: tuple[str, ...] = tuple(COLUMN_READERS)


def to_columns(events: Sequence[event_pb2.Event]) -> dict[str, list[Any]]:
    """The events as raw-table columns (RAW_COLUMNS; `occurred_at` in epoch milliseconds)."""
    return {name: [read(event) for event in events] for name, read in COLUMN_READERS.items()}
