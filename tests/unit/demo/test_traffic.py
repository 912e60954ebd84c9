"""The traffic generator: deterministic, valid, and shaped like a real campaign."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from campaignreports.demo.traffic import TREATMENTS, Campaign, generate
from campaignreports.domain.validation import check_batch
from campaignreports.v1 import event_pb2

NOW = datetime.now(UTC)


def campaign(seed: int = 1, profiles: int = 3_000) -> Campaign:
    return Campaign("acme", "spring", profiles, seed, NOW)


def test_the_same_seed_gives_the_same_events() -> None:
    assert list(generate(campaign())) == list(generate(campaign()))
    assert list(generate(campaign(seed=2))) != list(generate(campaign()))


def test_every_generated_event_is_valid_and_unique() -> None:
    events = list(generate(campaign()))
    checked = check_batch(events, NOW, timedelta(days=30))
    assert not checked.rejections and len(checked.valid) == len(events)
    assert len({e.event_id for e in events}) == len(events)
    assert all(NOW - timedelta(hours=23) <= e.occurred_at.ToDatetime(tzinfo=UTC) <= NOW for e in events)


def test_every_channel_and_the_funnel_proportions() -> None:
    events = list(generate(campaign()))
    counts = Counter(
        (event_pb2.Channel.Name(e.channel), event_pb2.EventType.Name(e.type).removeprefix("EVENT_TYPE_"))
        for e in events
    )
    channels = {channel for channel, _ in counts}
    assert channels == set(event_pb2.Channel.keys())
    email = {t: n for (c, t), n in counts.items() if c == "CHANNEL_EMAIL"}
    assert 0.95 <= email["DELIVERED"] / email["SENT"] <= 0.99
    assert 0.01 <= email["EXCLUDED"] / email["TARGETED"] <= 0.03
    assert email["OPENED"] > email["CLICKED"] > email["UNSUBSCRIBED"] > 0
    machine = sum(1 for e in events if e.is_machine)
    assert 0 < machine < email["OPENED"] + email["CLICKED"]
    assert {e.treatment_id for e in events if e.channel} == set(TREATMENTS)
    assert counts[("CHANNEL_UNSPECIFIED", "PROFILE_ENTERED")] == 3_000


def test_each_profile_s_events_are_in_time_order() -> None:
    last: dict[str, datetime] = {}
    for event in generate(campaign(profiles=300)):
        when = event.occurred_at.ToDatetime(tzinfo=UTC)
        assert when >= last.get(event.profile_id, when)
        last[event.profile_id] = when


def test_history_spreads_some_profiles_over_the_last_weeks() -> None:
    with_history = Campaign("acme", "spring", 2_000, 1, NOW, history=timedelta(days=21))
    times = [e.occurred_at.ToDatetime(tzinfo=UTC) for e in generate(with_history)]
    recent = sum(t >= NOW - timedelta(hours=23) for t in times)
    assert 0.35 < recent / len(times) < 0.65
    assert min(times) >= NOW - timedelta(hours=23) - timedelta(days=21)
    assert min(times) < NOW - timedelta(days=14)
