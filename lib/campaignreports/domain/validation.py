"""Event validation: one declarative table of rules, one engine that applies it.

The ingest service refuses an event at the first rule it breaks and reports the field and a
sentence a person understands. The tables below are the single source: tests iterate over
them and the README's rules section is checked against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaignreports.domain.events import CHANNEL_KEYS, EVENT_TYPE_KEYS, occurred_at
from campaignreports.v1 import event_pb2

# Identifiers: printable, no whitespace or control characters, bounded.
_IDENTIFIER = re.compile(r"[\x21-\x7e\u00a0-\uffff]+")


@dataclass(frozen=True)
class StringRule:
    """A string field of Event: whether it is required, its maximum length, its charset."""

    field: str
    required: bool
    max_length: int
    identifier: bool = True

    def check(self, value: str) -> str | None:
        if not value:
            return f"{self.field} is required" if self.required else None
        if len(value) > self.max_length:
            return f"{self.field} is {len(value)} characters long; the limit is {self.max_length}"
        if self.identifier and not _IDENTIFIER.fullmatch(value):
            return f"{self.field} must not contain whitespace or control characters"
        if not self.identifier and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            return f"{self.field} must not contain control characters"
        return None


STRING_RULES: tuple[StringRule, ...] = (
    StringRule("event_id", required=True, max_length=128),
    StringRule("tenant_id", required=True, max_length=64),
    StringRule("campaign_id", required=True, max_length=128),
    StringRule("profile_id", required=True, max_length=256),
    StringRule("message_id", required=False, max_length=128),
    StringRule("treatment_id", required=False, max_length=128),
    StringRule("reason", required=False, max_length=256, identifier=False),
    StringRule("recipient_domain", required=False, max_length=253),
    StringRule("url", required=False, max_length=2048),
    StringRule("interaction_type", required=False, max_length=128, identifier=False),
    StringRule("element_id", required=False, max_length=256, identifier=False),
)

REQUIRED_FIELDS: tuple[str, ...] = (
    *(rule.field for rule in STRING_RULES if rule.required),
    "occurred_at",
)

# How far in the future an occurred_at may lie (clock skew between engines and us).
MAX_FUTURE = timedelta(minutes=5)


# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
_MIN_TIMESTAMP_SECONDS = -62_135_596_800
_MAX_TIMESTAMP_SECONDS = 253_402_300_799


@dataclass(frozen=True)
class Violation:
    field: str
    description: str


def validate(event: event_pb2.Event, now: datetime, retention: timedelta) -> Violation | None:
    """The first rule `event` breaks, or None when it is valid."""
    for rule in STRING_RULES:
        problem = rule.check(getattr(event, rule.field))
        if problem:
            return Violation(rule.field, problem)
    if not event.HasField("occurred_at"):
        return Violation("occurred_at", "occurred_at is required")
    if not (
        _MIN_TIMESTAMP_SECONDS <= event.occurred_at.seconds <= _MAX_TIMESTAMP_SECONDS
        and 0 <= event.occurred_at.nanos < 1_000_000_000
    ):
        return Violation("occurred_at", "occurred_at is not a valid timestamp")
    when = occurred_at(event)
    if when > now + MAX_FUTURE:
        return Violation(
            "occurred_at", f"occurred_at {when.isoformat()} is more than 5 minutes in the future"
        )
    if when < now - retention:
        return Violation(
            "occurred_at",
            f"occurred_at {when.isoformat()} is older than the {retention.days}-day retention",
        )
    if event.type not in EVENT_TYPE_KEYS:
        return Violation("type", f"type {event.type} is not a known EventType")
    if event.channel != 0 and event.channel not in CHANNEL_KEYS:
        return Violation("channel", f"channel {event.channel} is not a known Channel")
    return None


@dataclass(frozen=True)
class Rejection:
    index: int
    event_id: str
    violation: Violation


def check_batch(
    events: list[event_pb2.Event], now: datetime, retention: timedelta
) -> tuple[list[event_pb2.Event], list[Rejection]]:
    """Split a request's events into the valid ones and the rejections (by request index)."""
    valid: list[event_pb2.Event] = []
    rejected: list[Rejection] = []
    for index, event in enumerate(events):
        violation = validate(event, now, retention)
        if violation is None:
            valid.append(event)
        else:
            rejected.append(Rejection(index, event.event_id[:128], violation))
    return valid, rejected
