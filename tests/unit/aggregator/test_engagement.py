"""Time to engage, as the writer computes it: a profile's first human open and first human
click of a message timed from that message's earliest delivery stored before them."""

from __future__ import annotations

from campaignreports.aggregator.engagement import NOT_TIMED, Engagement

EMAIL = "email"


def timed(state: Engagement, events: list[tuple[str, int, int, bool]], message: str = "m1") -> list[int]:
    """(type, profile number, epoch ms, machine) in stream order -> engaged_after_ms; applied."""
    types, numbers, millis, machine = (list(column) for column in zip(*events, strict=True))
    after, changes = state.time(
        types, machine, [message] * len(events), [EMAIL] * len(events), numbers, millis
    )
    state.apply(changes)
    return after.tolist()


def test_the_first_human_open_and_click_are_timed_from_the_delivery() -> None:
    state = Engagement()
    after = timed(
        state,
        [
            ("sent", 0, 0, False),
            ("delivered", 0, 1_000, False),
            ("opened", 0, 2_000, True),  # a privacy proxy: never timed
            ("opened", 0, 61_000, False),  # the first human open
            ("opened", 0, 90_000, False),  # not the first
            ("clicked", 0, 95_000, False),
            ("clicked", 0, 99_000, False),
        ],
    )
    assert after == [NOT_TIMED, NOT_TIMED, NOT_TIMED, 60_000, NOT_TIMED, 94_000, NOT_TIMED]


def test_an_open_before_any_delivery_is_not_timed_and_stays_the_first() -> None:
    state = Engagement()
    assert timed(state, [("opened", 3, 5_000, False), ("delivered", 3, 4_000, False)]) == [NOT_TIMED] * 2
    # The profile has opened: a later open is not its first.
    assert timed(state, [("opened", 3, 9_000, False)]) == [NOT_TIMED]
    # Its click is timed from the earliest delivery; a clock ahead of the delivery counts 0.
    assert timed(state, [("delivered", 3, 3_000, False), ("clicked", 3, 2_500, False)]) == [NOT_TIMED, 0]


def test_messages_and_profiles_are_timed_apart() -> None:
    state = Engagement()
    timed(state, [("delivered", 0, 0, False), ("delivered", 1, 10_000, False)], message="m1")
    assert timed(state, [("opened", 0, 5_000, False)], message="m2") == [NOT_TIMED]
    assert timed(state, [("opened", 1, 15_000, False), ("opened", 0, 7_000, False)]) == [5_000, 7_000]


def test_nothing_changes_until_the_round_is_applied() -> None:
    """A round that fails to store is prepared again against the same state: same timings."""
    state = Engagement()
    events = ["delivered", "opened"], [False, False], ["m1", "m1"], [EMAIL, EMAIL], [7, 7], [0, 30_000]
    first, changes = state.time(*events)
    again, _ = state.time(*events)
    assert first.tolist() == again.tolist() == [NOT_TIMED, 30_000]
    assert state.size == 0
    state.apply(changes)
    assert state.time(*events)[0].tolist() == [NOT_TIMED, NOT_TIMED]


def test_a_state_loaded_from_storage_times_as_the_one_kept_in_memory() -> None:
    kept = Engagement()
    timed(kept, [("delivered", 2, 1_000, False), ("opened", 2, 4_000, False), ("delivered", 5, 8_000, False)])
    loaded = Engagement()
    # As the writer reads the raw events: (message, channel, profile, first delivery, opened, clicked).
    loaded.load([("m1", EMAIL, 2, 1_000, True, False), ("m1", EMAIL, 5, 8_000, False, False)])
    later = [("opened", 2, 9_000, False), ("clicked", 2, 9_500, False), ("opened", 5, 20_000, False)]
    assert timed(kept, later) == timed(loaded, later) == [NOT_TIMED, 8_500, 12_000]
