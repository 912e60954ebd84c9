"""Unit tests of the validation table (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import ALL_PAIRS, EXPECTED_VALID_PAIRS, complete_event

from campaignreports.domain.validation import REQUIRED_FIELDS, STRING_RULES, check_batch, validate
from campaignreports.v1 import event_pb2

# The instant every check is made at (not the clock when a test runs: a test may run minutes
# after this module is imported), and the events' time, a minute before it.
NOW = datetime.now(UTC)
RECENT = NOW - timedelta(minutes=1)
RETENTION = timedelta(days=30)


def valid_event(**overrides: object) -> event_pb2.Event:
    event = event_pb2.Event(
        event_id="e-1",
        tenant_id="acme",
        campaign_id="spring-sale",
        channel=event_pb2.CHANNEL_EMAIL,
        type=event_pb2.EVENT_TYPE_SENT,
        profile_id="p-1",
        recipient_domain="example.com",
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
    checked = check_batch(events, NOW, RETENTION)
    valid, rejected = checked.valid, checked.rejections
    assert [e.event_id for e in valid] == ["e0", "e2", "e3", "e5"]
    assert checked.fields["event_id"] == ("e0", "e2", "e3", "e5"), "the fields are the valid events' only"
    assert [(r.index, r.event_id, r.violation.field) for r in rejected] == [
        (1, "e1", "tenant_id"),
        (4, "e4", "occurred_at"),
    ]


@pytest.mark.parametrize(("channel", "event_type"), ALL_PAIRS, ids=lambda value: value)
def test_every_channel_and_type_pair(channel: str, event_type: str) -> None:
    violation = validate(complete_event(channel, event_type, occurred_at=RECENT), NOW, RETENTION)
    if (channel, event_type) in EXPECTED_VALID_PAIRS:
        assert violation is None
    else:
        assert violation is not None and violation.field == "type"
        assert f"EVENT_TYPE_{event_type} is not valid on CHANNEL_{channel}" in violation.description


@pytest.mark.parametrize(
    ("channel", "event_type", "field"),
    [
        ("EMAIL", "BOUNCED", "reason"),
        ("EMAIL", "BOUNCED", "bounce_category"),
        ("EMAIL", "CLICKED", "url"),
        ("EMAIL", "SENT", "recipient_domain"),
        ("PUSH", "SENT", "platform"),
        ("PUSH", "ACTION", "interaction_type"),
        ("IN_APP", "INTERACTION", "interaction_type"),
        ("WEB", "INTERACTION", "element_id"),
        ("SMS", "EXCLUDED", "reason"),
        ("DIRECT_MAIL", "ERROR", "reason"),
    ],
)
def test_a_missing_detail_field_is_named(channel: str, event_type: str, field: str) -> None:
    event = complete_event(channel, event_type, occurred_at=RECENT)
    event.ClearField(field)
    violation = validate(event, NOW, RETENTION)
    assert violation is not None and violation.field == field
    assert "required for" in violation.description


@pytest.mark.parametrize(
    ("channel", "event_type", "field", "value"),
    [
        ("EMAIL", "SENT", "bounce_category", event_pb2.BOUNCE_CATEGORY_SOFT),
        ("EMAIL", "SENT", "platform", event_pb2.PLATFORM_IOS),
        ("SMS", "SENT", "recipient_domain", "example.com"),
        ("EMAIL", "DELIVERED", "is_machine", True),
        ("WEB", "IMPRESSION", "element_id", "x"),
    ],
)
def test_a_detail_field_that_does_not_apply_is_refused(
    channel: str, event_type: str, field: str, value: object
) -> None:
    event = complete_event(channel, event_type, occurred_at=RECENT)
    setattr(event, field, value)
    violation = validate(event, NOW, RETENTION)
    assert violation is not None and violation.field == field and "does not apply" in violation.description


def test_unknown_detail_enum_numbers_are_refused() -> None:
    event = complete_event("EMAIL", "BOUNCED", occurred_at=RECENT)
    event.bounce_category = 9
    violation = validate(event, NOW, RETENTION)
    assert violation is not None and violation.field == "bounce_category"


def test_the_documentation_is_generated_from_the_table() -> None:
    from pathlib import Path

    from devtools.reference import validation_markdown

    documented = (Path(__file__).parents[3] / "docs" / "validation.md").read_text()
    assert documented == validation_markdown(), "run: make docs"


@pytest.mark.parametrize(
    ("value", "currency", "field", "says"),
    [
        ("49.9O", "EUR", "conversion_value", "is not a decimal number"),
        ("-5", "EUR", "conversion_value", "not negative"),
        ("1.0000000001", "EUR", "conversion_value", "9 after"),
        ("1" * 19, "EUR", "conversion_value", "18 digits"),
        ("10", "EURO", "currency", "limit is 3"),
        ("10", "XYZ", "currency", "is not an ISO 4217 currency code"),
        ("10", "eur", "currency", "is not an ISO 4217 currency code"),
        ("10", "", "currency", "set together: currency is missing"),
        ("", "USD", "conversion_value", "set together: conversion_value is missing"),
    ],
)
def test_a_conversion_value_is_an_exact_amount_in_a_known_currency(
    value: str, currency: str, field: str, says: str
) -> None:
    event = complete_event("EMAIL", "CONVERTED", occurred_at=RECENT)
    event.conversion_value, event.currency = value, currency
    violation = validate(event, NOW, RETENTION)
    assert violation is not None and violation.field == field
    assert says in violation.description
    checked = check_batch([event], NOW, RETENTION)
    assert not checked.valid and checked.rejections[0].violation == violation


@pytest.mark.parametrize("value", ["0", "49.90", "123456789012345678.123456789"])
def test_a_conversion_with_or_without_a_value_is_valid(value: str) -> None:
    event = complete_event("UNSPECIFIED", "CONVERTED", occurred_at=RECENT)
    event.conversion_value, event.currency = value, "JPY"
    assert validate(event, NOW, RETENTION) is None
    event.ClearField("conversion_value")
    event.ClearField("currency")
    assert validate(event, NOW, RETENTION) is None
    assert check_batch([event], NOW, RETENTION).rejections == []
