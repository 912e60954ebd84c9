"""Events as stored: the proto `Event` flattened into one raw-table row.

Enum values are stored as short lower-case keys (`email`, `opened`, `hard`, `ios`), the same
keys the query API uses for `Row.key`, so stored data reads without the proto at hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from campaignreports.v1 import event_pb2


def _keys(enum: EnumTypeWrapper, prefix: str) -> dict[int, str]:
    return {number: name.removeprefix(prefix).lower() for name, number in enum.items() if number != 0}


CHANNEL_KEYS = _keys(event_pb2.Channel, "CHANNEL_")
EVENT_TYPE_KEYS = _keys(event_pb2.EventType, "EVENT_TYPE_")
BOUNCE_CATEGORY_KEYS = _keys(event_pb2.BounceCategory, "BOUNCE_CATEGORY_")
PLATFORM_KEYS = _keys(event_pb2.Platform, "PLATFORM_")

RAW_COLUMNS: tuple[str, ...] = (
    "event_id",
    "tenant_id",
    "campaign_id",
    "message_id",
    "channel",
    "type",
    "profile_id",
    "occurred_at",
    "treatment_id",
    "reason",
    "bounce_category",
    "recipient_domain",
    "platform",
    "url",
    "interaction_type",
    "element_id",
    "is_machine",
)


def occurred_at(event: event_pb2.Event) -> datetime:
    return datetime.fromtimestamp(
        event.occurred_at.seconds + event.occurred_at.nanos / 1e9,
        tz=UTC,
    )


def to_row(event: event_pb2.Event) -> list[Any]:
    """One raw-table row, in RAW_COLUMNS order."""
    return [
        event.event_id,
        event.tenant_id,
        event.campaign_id,
        event.message_id,
        CHANNEL_KEYS.get(event.channel, ""),
        EVENT_TYPE_KEYS.get(event.type, ""),
        event.profile_id,
        occurred_at(event),
        event.treatment_id,
        event.reason,
        BOUNCE_CATEGORY_KEYS.get(event.bounce_category, ""),
        event.recipient_domain,
        PLATFORM_KEYS.get(event.platform, ""),
        event.url,
        event.interaction_type,
        event.element_id,
        event.is_machine,
    ]


def to_rows(events: Iterable[event_pb2.Event]) -> list[list[Any]]:
    return [to_row(event) for event in events]
