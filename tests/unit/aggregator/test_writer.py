"""The writer's in-memory state: keys found across sorted runs, profiles numbered densely in
first-seen order (pure parts; the writer against ClickHouse is exercised by the pipeline tests)."""

from __future__ import annotations

import itertools

import numpy as np
import xxhash

from campaignreports.aggregator.consumer import Round
from campaignreports.aggregator.writer import ONE_INSERT, CampaignState, Decoded, KeyMap, Slicing, Writer
from campaignreports.stream.batch import keys_of


def test_keys_are_stable_64_bit_hashes() -> None:
    keys = keys_of(["a", "b", "a"])
    assert keys.dtype == np.uint64
    assert keys[0] == keys[2] != keys[1]
    assert int(keys[0]) == xxhash.xxh3_64_intdigest(b"a")


def test_a_key_map_finds_keys_in_every_run_and_merges_runs() -> None:
    key_map = KeyMap()
    for run in range(20):  # more runs than are kept apart: merged on the way
        keys = np.arange(run * 10, run * 10 + 10, dtype=np.uint64)[::-1].copy()
        key_map.add(keys, (keys * 2).astype(np.uint32))
    found, values = key_map.find(np.array([0, 5, 199, 200, 10_000], dtype=np.uint64))
    assert found.tolist() == [True, True, True, False, False]
    assert values[:3].tolist() == [0, 10, 398]
    assert key_map.size == 200


def test_profiles_are_numbered_after_the_stored_ones_in_first_seen_order() -> None:
    state = CampaignState()
    state.profiles.add(keys_of(["old-1", "old-0"]), np.array([1, 0], dtype=np.uint32))
    keys = keys_of(["z", "old-0", "a", "z", "m", "a"])
    positions = np.arange(10, 16)
    numbers, new_keys, new_numbers, first_uses = Writer._number(state, keys, positions)
    assert numbers.tolist() == [2, 0, 3, 2, 4, 3]
    assert sorted(zip(new_numbers.tolist(), first_uses, strict=True)) == [(2, 10), (3, 12), (4, 14)]
    assert set(new_keys.tolist()) == set(keys_of(["z", "a", "m"]).tolist())


def test_no_decoded_parts_make_an_empty_round() -> None:
    """A rebuild batch whose messages are all undecodable has nothing to store."""
    assert len(Decoded.concat([])) == 0


def test_a_key_set_finds_keys_without_keeping_values() -> None:
    key_set = KeyMap(values=False)
    for run in range(12):  # merged on the way, as a map is
        key_set.add(np.arange(run * 5, run * 5 + 5, dtype=np.uint64)[::-1].copy())
    found, values = key_set.find(np.array([0, 59, 60], dtype=np.uint64))
    assert found.tolist() == [True, True, False] and values.tolist() == [0, 0, 0]
    assert key_set.size == 60


MINUTE = 60_000


def test_a_round_is_sliced_into_ranges_of_whole_minutes_of_about_equal_size() -> None:
    rng = np.random.default_rng(5)
    millis = rng.integers(0, 600 * MINUTE, 10_000)
    slices = Slicing(3, 1_000).positions(millis)
    assert len(slices) == 3
    every = np.concatenate(slices)
    assert sorted(every.tolist()) == list(range(10_000)), "each event in exactly one slice"
    minutes = [set((millis[at] // MINUTE).tolist()) for at in slices]
    assert all(max(earlier) < min(later) for earlier, later in itertools.pairwise(minutes))
    assert all(3_000 <= len(at) <= 3_700 for at in slices)
    assert all(np.all(np.diff(at) > 0) for at in slices), "events keep their order in a slice"
    assert [at.tolist() for at in Slicing(3, 1_000).positions(millis)] == [at.tolist() for at in slices]


def test_small_rounds_and_single_minutes_are_not_split() -> None:
    spread = np.arange(1_999) * MINUTE
    assert len(Slicing(2, 1_000).positions(spread)) == 1, "each slice needs min_events"
    assert len(Slicing(2, 1_000).positions(np.append(spread, 0))) == 2
    assert len(Slicing(4, 1_000).positions(np.append(spread, 0))) == 2, "no more than the events allow"
    one_minute = np.full(50_000, 7 * MINUTE + 5)
    assert [len(at) for at in Slicing(2, 10).positions(one_minute)] == [50_000]
    assert len(ONE_INSERT.positions(spread)) == 1


def test_a_minute_holding_most_events_makes_one_slice_larger() -> None:
    millis = np.concatenate([np.full(9_000, 5 * MINUTE), np.arange(1_000) * MINUTE + 6 * MINUTE])
    for events in (millis, -millis):  # the large minute first, then last
        sizes = [len(at) for at in Slicing(4, 100).positions(events)]
        assert sorted(sizes) == [1_000, 9_000]


def test_a_round_record_keeps_its_slicing_and_an_old_record_means_one_insert() -> None:
    round_ = Round("token", frozenset({(0, 5), (3, 9)}), Slicing(2, 10_000))
    assert Round.decode(round_.encode()) == round_
    old = b'{"token": "t", "members": [[0, 5]]}'
    assert Round.decode(old) == Round("t", frozenset({(0, 5)}), ONE_INSERT)
