"""The writer's in-memory state: keys found across sorted runs, profiles numbered densely in
first-seen order (pure parts; the writer against ClickHouse is exercised by the pipeline tests)."""

from __future__ import annotations

import numpy as np
import xxhash

from campaignreports.aggregator.writer import CampaignState, Decoded, KeyMap, Writer
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
