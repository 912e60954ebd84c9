"""Unit tests of the validation table (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaignreports.domain.validation import REQUIRED_FIELDS, STRING_RULES, check_batch, validate
from campaignreports.v1 import event_pb2

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)


def valid_event(**overrides: object) -> event_pb2.Event:
    event = event_pb2.Event(
        event_id="e-1",
        tenant_id="acme",
        campaign_id="spring-sale",
        channel=event_pb2.CHANNEL_EMAIL,
        type=event_pb2.EVENT_TYPE_SENT,
        profile_id="p-1",
    )
    event.occurred_at.FromDatetime(NOW - timedelta(minutes=1))
    for name, value in overrides.items():
        setattr(event, name, value)
    return event


def test_a_complete_event_is_valid() -> None:
    assert validate(valid_event(), NOW, RETENTION) is None


def test_required_fields_are_the_documented_ones() -> None:
    assert set(REQUIRED_FIELDS) == {"event_id", "tenant_id", "campaign_id", "profile_id", "occurred_at"}


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_missing_required_field_is_named(field: str) -> None:
    event = valid_event()
    event.ClearField(field)
    violation = validate(event, NOW, RETENTION)
    assert violation is not None
    assert violation.field == field
    assert field in violation.description and "required" in violation.description


@pytest.mark.parametrize("rule", STRING_RULES, ids=lambda rule: rule.field)
def test_over_long_strings_are_refused(rule: object) -> None:
    event = valid_event(**{rule.field: "x" * (rule.max_length + 1)})  # type: ignore[attr-defined]
    violation = validate(event, NOW, RETENTION)
    assert violation is not None and violation.field == rule.field  # type: ignore[attr-defined]
    assert str(rule.max_length) in violation.description  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad_id", ["a b", "tab\there", "nul\x00", "new\nline"])
def test_identifiers_refuse_whitespace_and_control_characters(bad_id: str) -> None:
    violation = validate(valid_event(profile_id=bad_id), NOW, RETENTION)
    assert violation is not None and violation.field == "profile_id"


def test_occurred_at_bounds() -> None:
    future = valid_event()
    future.occurred_at.FromDatetime(NOW + timedelta(minutes=6))
    ancient = valid_event()
    ancient.occurred_at.FromDatetime(NOW - timedelta(days=31))
    out_of_range = valid_event()
    out_of_range.occurred_at.seconds = 10**15
    for event, word in ((future, "future"), (ancient, "retention"), (out_of_range, "valid")):
        violation = validate(event, NOW, RETENTION)
        assert violation is not None and violation.field == "occurred_at" and word in violation.description
    slight_skew = valid_event()
    slight_skew.occurred_at.FromDatetime(NOW + timedelta(minutes=4))
    assert validate(slight_skew, NOW, RETENTION) is None


def test_unknown_enum_numbers_are_refused() -> None:
    assert validate(valid_event(type=99), NOW, RETENTION).field == "type"  # type: ignore[union-attr]
    assert validate(valid_event(channel=42), NOW, RETENTION).field == "channel"  # type: ignore[union-attr]


def test_check_batch_reports_request_indexes() -> None:
    events = [valid_event(event_id=f"e{i}") for i in range(6)]
    events[1].ClearField("tenant_id")
    events[4].ClearField("occurred_at")
    valid, rejected = check_batch(events, NOW, RETENTION)
    assert [e.event_id for e in valid] == ["e0", "e2", "e3", "e5"]
    assert [(r.index, r.event_id, r.violation.field) for r in rejected] == [
        (1, "e1", "tenant_id"),
        (4, "e4", "occurred_at"),
    ]
