"""The writer: turns a round of events into what ClickHouse stores, exactly once.

Each campaign has one writer (its stream partition has one consumer), so the writer can know
what the campaign already holds without asking the database for every block:
- the keys of the events it stored, to drop a redelivered or resent event (duplicates share
  their `event_id`);
- its profile numbers: every profile id of a campaign gets a dense number in first-seen order
  (0, 1, 2, ...), so that the rollups keep distinct profiles as small bitmaps.

Both are loaded from the tables the first time a campaign is met in this process (and again
after it was evicted to bound memory), then kept up to date by the writer itself.

Keys are 64-bit XXH3 hashes of the ids. Two different ids of one campaign sharing a hash
would be taken for one: for n ids the chance that any pair does is below n² / 2^65 (under
3 in a million for a campaign of 10 million events, under 1 in a million for 5 million
profiles). That is the bound on exactness of deduplication and distinct counts.

Exactly-once across crashes: a round is written ahead with its token and, after a crash, is
prepared again from the same messages. The stored state it is prepared against must then be
the state before its first attempt, so loading a campaign leaves out the events stored under
the round's own token; its new profile numbers, if already stored, are found again unchanged,
and if not, are assigned again identically (same stored count, same first-seen order).
Profiles are inserted before the events that use them.

A large round's events go in as a few inserts side by side (`Slicing`): the engine runs one
insert's chain of views mostly on one thread, so on two cores a single insert left a third of
the machine idle. Each slice is a range of minutes, so slices share few rollup rows, and each
has its own deduplication token, derived from the round's: a round prepared again after a
crash is cut at the same minutes (the slicing is recorded with the round), so each table
keeps the slices it already has and receives the others.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from campaignreports.aggregator.engagement import NOT_TIMED, TIMED_TYPES, Changes, Engagement
from campaignreports.clickhouse import ClickHouse
from campaignreports.schema import INSERT_SETTINGS, PROFILE_COLUMNS
from campaignreports.stream import batch
from campaignreports.stream.batch import CampaignKey

log = logging.getLogger(__name__)

# Merging sorted runs costs a copy of the whole set: do it once this many have piled up.
_MAX_RUNS = 8


class KeyMap:
    """uint64 key -> uint32 value, as a few sorted runs (no Python object per key: 12 bytes), or
    a set of keys when made with `values=False` (8 bytes: event keys need no value)."""

    def __init__(self, *, values: bool = True) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._values = values
        self.size = 0

    def add(self, keys: np.ndarray, values: np.ndarray | None = None) -> None:
        if not len(keys):
            return
        assert (values is not None) == self._values
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], None if values is None else values[order]))
        self.size += len(keys)
        if len(self._runs) > _MAX_RUNS:
            merged_keys = np.concatenate([k for k, _ in self._runs])
            order = np.argsort(merged_keys, kind="stable")
            merged_values = None
            if self._values:
                merged_values = np.concatenate([v for _, v in self._runs if v is not None])[order]
            self._runs = [(merged_keys[order], merged_values)]

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + (0 if values is None else values.nbytes) for keys, values in self._runs)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, values): whether each key is present, and its value where it is (0 in a set)."""
        # Looked up in sorted order: neighbouring lookups then touch neighbouring memory, five
        # times as fast as random order in a run of 10M keys.
        order = np.argsort(keys)
        ordered = keys[order]
        found = np.zeros(len(keys), dtype=bool)
        values = np.zeros(len(keys), dtype=np.uint32)
        for run_keys, run_values in self._runs:
            at = np.minimum(np.searchsorted(run_keys, ordered), len(run_keys) - 1)
            hit = run_keys[at] == ordered
            found[order[hit]] = True
            if run_values is not None:
                values[order[hit]] = run_values[at[hit]]
        return found, values


_MILLIS_PER_MINUTE = 60_000


@dataclass(frozen=True)
class Slicing:
    """How a round's events are split into inserts that run side by side: into at most `slices`
    ranges of whole minutes of `occurred_at`, of about equal size, and at most one slice per
    `min_events` events (a small round is one insert). A function of the events alone, so a
    round prepared again is cut identically. The default is one insert (also a round recorded
    before slicing existed)."""

    slices: int = 1
    min_events: int = 0

    def positions(self, millis: np.ndarray) -> list[np.ndarray]:
        """The positions of each slice's events (in their order), given each event's time in
        milliseconds; one slice of every position when the round is not split."""
        count = min(self.slices, len(millis) // max(self.min_events, 1))
        if count <= 1:
            return [np.arange(len(millis))]
        minutes = millis // _MILLIS_PER_MINUTE
        ordered = np.sort(minutes)
        starts: set[int] = set()
        for k in range(1, count):
            # Cut at the edge of the minute holding the k/count quantile that is nearer to it:
            # a minute holding more than a slice's share makes its slice larger (and fewer slices).
            target = len(ordered) * k // count
            first = int(np.searchsorted(ordered, ordered[target], side="left"))
            after = int(np.searchsorted(ordered, ordered[target], side="right"))
            nearer_first = target - first <= after - target or after == len(ordered)
            edge = first if first > 0 and nearer_first else after
            if 0 < edge < len(ordered):
                starts.add(int(ordered[edge]))
        slice_of = np.searchsorted(np.array(sorted(starts), dtype=minutes.dtype), minutes, side="right")
        slices = [np.flatnonzero(slice_of == number) for number in range(len(starts) + 1)]
        return [positions for positions in slices if len(positions)]


# A round in one insert: rounds recorded before slicing existed, and small ones.
ONE_INSERT = Slicing()


@dataclass
class CampaignState:
    """What one campaign already holds: its event keys, its numbered profiles, and each
    profile's deliveries and first engagements (time to engage)."""

    events: KeyMap = field(default_factory=lambda: KeyMap(values=False))
    profiles: KeyMap = field(default_factory=KeyMap)
    engagement: Engagement = field(default_factory=Engagement)

    @property
    def size(self) -> int:
        return self.events.size + self.profiles.size + self.engagement.size

    @property
    def nbytes(self) -> int:
        return self.events.nbytes + self.profiles.nbytes + self.engagement.nbytes


@dataclass
class _Campaign:
    """A campaign's part of a prepared round, applied to its state once stored."""

    state: CampaignState
    event_keys: np.ndarray
    profile_keys: np.ndarray
    profile_numbers: np.ndarray
    engagement: Changes


@dataclass
class Prepared:
    """A round ready to insert: its new events and new profiles, as Arrow tables."""

    token: str
    events: pa.Table
    profiles: pa.Table
    duplicates: int
    campaigns: list[_Campaign]

    @property
    def count(self) -> int:
        rows: int = self.events.num_rows
        return rows

    def event_slices(self, slicing: Slicing) -> list[tuple[pa.Table, str]]:
        """The events as (slice, its deduplication token): the round's token when not split."""
        millis = self.events.column("occurred_at").cast(pa.int64()).to_numpy()
        slices = slicing.positions(millis)
        if len(slices) == 1:
            return [(self.events, self.token)]
        return [(self.events.take(at), f"{self.token}.{number}") for number, at in enumerate(slices)]


@dataclass(frozen=True)
class Decoded:
    """A batch of events (`campaignreports.stream.batch`) and each campaign's rows in it: the
    writer's input, built apart from the insert (no stored state needed), so that decoding the
    next round overlaps storing this one."""

    table: pa.Table
    positions: dict[CampaignKey, np.ndarray]

    def __len__(self) -> int:
        rows: int = self.table.num_rows
        return rows

    @property
    def campaigns(self) -> frozenset[CampaignKey]:
        """What the writer groups by and the aggregator announces once stored."""
        return frozenset(self.positions)

    @classmethod
    def of(cls, table: pa.Table) -> Decoded:
        return cls(table, batch.campaign_positions(table))

    @classmethod
    def concat(cls, parts: Sequence[Decoded]) -> Decoded:
        if len(parts) == 1:
            return parts[0]
        return cls.of(batch.concat([part.table for part in parts]))


def _numpy(table: pa.Table, name: str) -> np.ndarray:
    values: np.ndarray = table.column(name).to_numpy(zero_copy_only=False)
    return values


class Writer:
    """Prepares rounds against what each campaign holds and stores them (see the module doc).
    Blocking: call it from a worker thread. Tables may carry a suffix (the rebuild's)."""

    def __init__(self, clickhouse: ClickHouse, *, suffix: str = "", max_keys: int = 20_000_000) -> None:
        self._clickhouse = clickhouse
        self._events_table = f"events{suffix}"
        self._profiles_table = f"profiles{suffix}"
        self._max_keys = max_keys
        self._states: OrderedDict[CampaignKey, CampaignState] = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, decoded: Decoded, token: str) -> Prepared:
        """The round's events not stored yet (the first of each event_id), with profile numbers."""
        table = decoded.table
        event_keys = table.column("event_key").to_numpy()
        profile_keys = table.column("profile_key").to_numpy()
        types, machine = _numpy(table, "type"), _numpy(table, "is_machine")
        messages, channels = _numpy(table, "message_id"), _numpy(table, "channel")
        millis = table.column("occurred_at").cast(pa.int64()).to_numpy()
        profile_numbers = np.zeros(len(decoded), dtype=np.uint32)
        engaged_after = np.zeros(len(decoded), dtype=np.int64)
        keep = np.zeros(len(decoded), dtype=bool)
        parts, new_profile_rows = [], []
        for campaign, at in decoded.positions.items():
            state = self._state(campaign, token)
            keys = event_keys[at]
            stored, _ = state.events.find(keys)
            _, first = np.unique(keys, return_index=True)
            fresh = np.zeros(len(at), dtype=bool)
            fresh[first] = True
            fresh &= ~stored
            kept = at[fresh]
            keep[kept] = True
            numbers, new_keys, new_numbers, new_at = self._number(state, profile_keys[kept], kept)
            profile_numbers[kept] = numbers
            new_profile_rows.extend(new_at)
            engaged_after[kept], engagement = state.engagement.time(
                types[kept], machine[kept], messages[kept], channels[kept], numbers, millis[kept]
            )
            parts.append(_Campaign(state, keys[fresh], new_keys, new_numbers, engagement))
        kept_at = np.flatnonzero(keep)
        events = table if len(kept_at) == len(decoded) else table.take(kept_at)
        events = events.drop_columns(["profile_key"])
        for name, values in (
            ("profile_no", pa.array(profile_numbers[kept_at], pa.uint32())),
            ("round_token", pa.repeat(token, len(kept_at))),
            ("engaged_after_ms", pa.array(engaged_after[kept_at], pa.int64())),
        ):
            events = events.append_column(name, values)
        new_rows = np.sort(np.asarray(new_profile_rows, dtype=np.int64))
        profiles = table.select(["tenant_id", "campaign_id", "profile_key", "profile_id"]).take(new_rows)
        profiles = profiles.append_column("profile_no", pa.array(profile_numbers[new_rows], pa.uint32()))
        profiles = profiles.append_column("round_token", pa.repeat(token, len(new_rows)))
        return Prepared(token, events, profiles.select(PROFILE_COLUMNS), len(decoded) - len(kept_at), parts)

    @staticmethod
    def _number(
        state: CampaignState, keys: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """Each key's profile number, numbering unknown keys in first-seen order after the
        stored ones: (numbers, new keys, their numbers, the position of each new key's first use)."""
        found, numbers = state.profiles.find(keys)
        unknown = np.flatnonzero(~found)
        new_keys, first, inverse = np.unique(keys[unknown], return_index=True, return_inverse=True)
        # np.unique sorts by key; number by first appearance instead.
        by_appearance = np.argsort(first, kind="stable")
        rank = np.empty(len(new_keys), dtype=np.int64)
        rank[by_appearance] = np.arange(len(new_keys))
        new_numbers = (state.profiles.size + rank).astype(np.uint32)
        numbers[unknown] = new_numbers[inverse]
        return numbers, new_keys, new_numbers, [int(positions[unknown[i]]) for i in first]

    def store(self, prepared: Prepared, slicing: Slicing = ONE_INSERT) -> None:
        """Insert the round with its token (its events in `slicing`'s slices, side by side),
        remembering each part once it is stored.

        Profile numbers are remembered as soon as they are stored, even if the events are then
        refused: a stored number stays taken, so the round retried (or its messages stored one
        by one) numbers every profile exactly as the table does."""
        if prepared.profiles.num_rows:
            self._insert(self._profiles_table, prepared.profiles, prepared.token)
            with self._lock:
                for part in prepared.campaigns:
                    part.state.profiles.add(part.profile_keys, part.profile_numbers)
        if prepared.events.num_rows:
            slices = prepared.event_slices(slicing)
            if len(slices) == 1:
                self._insert(self._events_table, *slices[0])
            else:
                with ThreadPoolExecutor(len(slices), thread_name_prefix="writer-slice") as pool:
                    # list() waits for every slice and raises the first failure.
                    list(pool.map(lambda piece: self._insert(self._events_table, *piece), slices))
        with self._lock:
            for part in prepared.campaigns:
                part.state.events.add(part.event_keys)
                part.state.engagement.apply(part.engagement)
            self._evict()

    def _insert(self, table: str, data: pa.Table, token: str) -> None:
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        self._clickhouse.insert_arrow(table, data, settings)

    def held_bytes(self) -> int:
        """Bytes of the campaigns' states held in memory (bounded through `max_keys`)."""
        with self._lock:
            return sum(state.nbytes for state in self._states.values())

    def _state(self, campaign: CampaignKey, token: str) -> CampaignState:
        with self._lock:
            state = self._states.get(campaign)
            if state is not None:
                self._states.move_to_end(campaign)
                return state
        state = self._load(campaign, token)
        with self._lock:
            self._states[campaign] = state
        return state

    def _load(self, campaign: CampaignKey, token: str) -> CampaignState:
        """A campaign's state from its tables, leaving out events stored under `token` (the
        round being prepared, if it is being completed after a crash)."""
        parameters = {"tenant": campaign[0], "campaign": campaign[1], "token": token}
        scope = "tenant_id = {tenant:String} AND campaign_id = {campaign:String}"
        db = self._clickhouse.database
        events = self._clickhouse.query_arrow(
            f"SELECT event_key FROM {db}.{self._events_table} "
            f"WHERE {scope} AND round_token != {{token:String}}",
            parameters,
        )
        profiles = self._clickhouse.query_arrow(
            f"SELECT profile_key, profile_no FROM {db}.{self._profiles_table} WHERE {scope} "
            "ORDER BY profile_no LIMIT 1 BY profile_no",
            parameters,
        )
        types = ", ".join(f"'{t}'" for t in TIMED_TYPES)
        timings = self._clickhouse.query_rows(
            "SELECT message_id, channel, profile_no,"
            " if(countIf(type = 'delivered') > 0,"
            f" minIf(toUnixTimestamp64Milli(occurred_at), type = 'delivered'), {NOT_TIMED}),"
            " countIf(type = 'opened') > 0, countIf(type = 'clicked') > 0"
            f" FROM {db}.{self._events_table} WHERE {scope} AND round_token != {{token:String}}"
            f" AND type IN ({types}) AND NOT is_machine GROUP BY message_id, channel, profile_no",
            parameters,
        )
        state = CampaignState()
        state.engagement.load(timings)
        event_keys = events.column("event_key").to_numpy().astype(np.uint64)
        state.events.add(event_keys)
        state.profiles.add(
            profiles.column("profile_key").to_numpy().astype(np.uint64),
            profiles.column("profile_no").to_numpy().astype(np.uint32),
        )
        if state.size:
            log.info(
                "campaign %s/%s: %d stored events, %d profiles",
                *campaign,
                state.events.size,
                state.profiles.size,
            )
        return state

    def _evict(self) -> None:
        """Forget the least recently written campaigns beyond `max_keys` keys (reloaded if met again)."""
        total = sum(state.size for state in self._states.values())
        while total > self._max_keys and len(self._states) > 1:
            _, state = self._states.popitem(last=False)
            total -= state.size
