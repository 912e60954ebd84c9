"""The compiled fast paths never accept what the descriptive rules refuse (property test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import EXPECTED_VALID_PAIRS, complete_event
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignreports.domain.events import read_fields
from campaignreports.domain.validation import _FAST, DETAIL_FIELDS, STRING_RULES, TimeBounds, validate
from campaignreports.v1 import event_pb2

# The instant every check is made at (not the clock when a test runs: a test may run minutes
# after this module is imported), and the events' time, a minute before it.
NOW = datetime.now(UTC)
RECENT = NOW - timedelta(minutes=1)
RETENTION = timedelta(days=30)
BOUNDS = TimeBounds.at(NOW, RETENTION)

_STRING_VALUES = st.one_of(
    st.just(""),
    st.sampled_from(["a", "example.com", "x y", "tab\t", "e" * 129, "d" * 300, "\u200b", "ok\x7f"]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
)


@st.composite
def events(draw: st.DrawFn) -> event_pb2.Event:
    channel, event_type = draw(st.sampled_from(sorted(EXPECTED_VALID_PAIRS)))
    event = complete_event(channel, event_type, occurred_at=RECENT)
    for _ in range(draw(st.integers(0, 2))):
        name = draw(
            st.sampled_from([r.field for r in STRING_RULES] + list(DETAIL_FIELDS) + ["channel", "type"])
        )
        if name in {"channel", "type", "bounce_category", "platform"}:
            setattr(event, name, draw(st.integers(0, 20)))
        elif name == "is_machine":
            event.is_machine = draw(st.booleans())
        else:
            setattr(event, name, draw(_STRING_VALUES))
    shift = draw(st.sampled_from([None, 0.0, 301.0, -31 * 86_400.0, 299.0]))
    if shift is None:
        event.ClearField("occurred_at")
    else:
        event.occurred_at.FromDatetime(NOW + timedelta(seconds=shift))
    return event


@settings(max_examples=400, deadline=None)
@given(events())
def test_the_per_event_fast_path_agrees_with_the_rules(event: event_pb2.Event) -> None:
    if _FAST.accepts(event, BOUNDS):
        assert validate(event, NOW, RETENTION) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(events(), min_size=1, max_size=8))
def test_the_columnar_fast_path_accepts_only_all_valid_batches(batch: list[event_pb2.Event]) -> None:
    if _FAST.accepts_all(read_fields(batch), BOUNDS):
        assert all(validate(event, NOW, RETENTION) is None for event in batch)
    if all(_FAST.accepts(event, BOUNDS) for event in batch):
        assert _FAST.accepts_all(read_fields(batch), BOUNDS), (
            "a batch of individually accepted events is accepted"
        )
