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
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from campaignreports.aggregator.engagement import NOT_TIMED, TIMED_TYPES, Changes, Engagement
from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.events import RAW_COLUMNS, Column, to_columns
from campaignreports.schema import INSERT_SETTINGS
from campaignreports.v1 import event_pb2

log = logging.getLogger(__name__)

# Arrow types of the columns that are not strings.
_ARROW_TYPES = {
    "occurred_at": pa.timestamp("ms", tz="UTC"),
    "is_machine": pa.bool_(),
    "profile_no": pa.uint32(),
    "event_key": pa.uint64(),
    "profile_key": pa.uint64(),
    "engaged_after_ms": pa.int64(),
}
_DECIMAL = pa.decimal128(38, 9)
# Merging sorted runs costs a copy of the whole set: do it once this many have piled up.
_MAX_RUNS = 8

CampaignKey = tuple[str, str]  # (tenant_id, campaign_id)


def keys_of(ids: Column) -> np.ndarray:
    """64-bit keys of ids (XXH3): stable across processes and releases, unlike hash()."""
    return np.fromiter(map(xxhash.xxh3_64_intdigest, map(str.encode, ids)), dtype=np.uint64, count=len(ids))


def _take(values: Column, at: np.ndarray) -> Column:
    if isinstance(values, np.ndarray):
        taken: Column = values[at]
        return taken
    return [values[i] for i in at]


def _join(parts: Sequence[Column]) -> Column:
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return [value for part in parts for value in part]


class KeyMap:
    """uint64 key -> uint32 value, as a few sorted runs (no Python object per key: 12 bytes)."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.size = 0

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], values[order]))
        self.size += len(keys)
        if len(self._runs) > _MAX_RUNS:
            merged_keys = np.concatenate([k for k, _ in self._runs])
            merged_values = np.concatenate([v for _, v in self._runs])
            order = np.argsort(merged_keys, kind="stable")
            self._runs = [(merged_keys[order], merged_values[order])]

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, values): whether each key is present, and its value where it is."""
        found = np.zeros(len(keys), dtype=bool)
        values = np.zeros(len(keys), dtype=np.uint32)
        for run_keys, run_values in self._runs:
            at = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[at] == keys
            found |= hit
            values[hit] = run_values[at[hit]]
        return found, values


@dataclass
class CampaignState:
    """What one campaign already holds: its event keys, its numbered profiles, and each
    profile's deliveries and first engagements (time to engage)."""

    events: KeyMap = field(default_factory=KeyMap)
    profiles: KeyMap = field(default_factory=KeyMap)
    engagement: Engagement = field(default_factory=Engagement)

    @property
    def size(self) -> int:
        return self.events.size + self.profiles.size + self.engagement.size


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


def _array(name: str, values: Column) -> pa.Array:
    if name == "conversion_value":  # exact: decimal text to Decimal(38, 9), '' (no value) to 0
        text = pa.array(values, pa.string())
        return pc.if_else(pc.equal(text, ""), "0", text).cast(_DECIMAL)
    return pa.array(values, _ARROW_TYPES.get(name, pa.string()))


def _table(columns: dict[str, Column]) -> pa.Table:
    return pa.table({name: _array(name, values) for name, values in columns.items()})


@dataclass(frozen=True)
class Decoded:
    """Events as raw-table columns with their keys: the writer's input, built apart from the
    insert (no stored state needed), so that decoding the next round overlaps storing this one."""

    columns: dict[str, Column]
    event_keys: np.ndarray
    profile_keys: np.ndarray
    # The (tenant, campaign) pairs of the events: what the writer groups by and the aggregator
    # announces once stored.
    campaigns: frozenset[CampaignKey]

    def __len__(self) -> int:
        return len(self.event_keys)

    @classmethod
    def of(cls, events: Sequence[event_pb2.Event]) -> Decoded:
        columns = to_columns(events)
        return cls(
            columns,
            keys_of(columns["event_id"]),
            keys_of(columns["profile_id"]),
            frozenset(zip(columns["tenant_id"], columns["campaign_id"], strict=True)),
        )

    @classmethod
    def concat(cls, parts: Sequence[Decoded]) -> Decoded:
        if not parts:
            return cls.of([])
        if len(parts) == 1:
            return parts[0]
        return cls(
            {name: _join([part.columns[name] for part in parts]) for name in RAW_COLUMNS},
            np.concatenate([part.event_keys for part in parts]),
            np.concatenate([part.profile_keys for part in parts]),
            frozenset().union(*(part.campaigns for part in parts)),
        )


def _campaign_positions(decoded: Decoded) -> dict[CampaignKey, np.ndarray]:
    """Each campaign's event positions, in order."""
    if len(decoded.campaigns) == 1:
        (only,) = decoded.campaigns
        return {only: np.arange(len(decoded))}
    tenants, campaigns = decoded.columns["tenant_id"], decoded.columns["campaign_id"]
    positions: dict[CampaignKey, list[int]] = {}
    for index, campaign in enumerate(zip(tenants, campaigns, strict=True)):
        positions.setdefault(campaign, []).append(index)
    return {campaign: np.asarray(at) for campaign, at in positions.items()}


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
        columns, event_keys, profile_keys = decoded.columns, decoded.event_keys, decoded.profile_keys
        profile_numbers = np.zeros(len(decoded), dtype=np.uint32)
        engaged_after = np.zeros(len(decoded), dtype=np.int64)
        keep = np.zeros(len(decoded), dtype=bool)
        parts, new_profile_rows = [], []
        for campaign, at in _campaign_positions(decoded).items():
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
                _take(columns["type"], kept),
                _take(columns["is_machine"], kept),
                _take(columns["message_id"], kept),
                _take(columns["channel"], kept),
                numbers,
                _take(columns["occurred_at"], kept),
            )
            parts.append(_Campaign(state, keys[fresh], new_keys, new_numbers, engagement))
        kept_at = np.flatnonzero(keep)
        event_columns: dict[str, Column] = (
            dict(columns)
            if len(kept_at) == len(decoded)
            else {name: _take(columns[name], kept_at) for name in RAW_COLUMNS}
        )
        event_columns["profile_no"] = profile_numbers[kept_at]
        event_columns["event_key"] = event_keys[kept_at]
        event_columns["round_token"] = [token] * len(kept_at)
        event_columns["engaged_after_ms"] = engaged_after[kept_at]
        new_rows = np.asarray(new_profile_rows, dtype=np.int64)
        tenants, campaigns = columns["tenant_id"], columns["campaign_id"]
        profiles = _table(
            {
                "tenant_id": [tenants[i] for i in new_rows],
                "campaign_id": [campaigns[i] for i in new_rows],
                "profile_key": profile_keys[new_rows],
                "profile_no": profile_numbers[new_rows],
                "profile_id": _take(columns["profile_id"], new_rows),
                "round_token": [token] * len(new_rows),
            }
        )
        return Prepared(token, _table(event_columns), profiles, len(decoded) - len(kept_at), parts)

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

    def store(self, prepared: Prepared) -> None:
        """Insert the round with its token, remembering each part once it is stored.

        Profile numbers are remembered as soon as they are stored, even if the events are then
        refused: a stored number stays taken, so the round retried (or its messages stored one
        by one) numbers every profile exactly as the table does."""
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": prepared.token}
        if prepared.profiles.num_rows:
            self._clickhouse.insert_arrow(self._profiles_table, prepared.profiles, settings)
            with self._lock:
                for part in prepared.campaigns:
                    part.state.profiles.add(part.profile_keys, part.profile_numbers)
        if prepared.events.num_rows:
            self._clickhouse.insert_arrow(self._events_table, prepared.events, settings)
        with self._lock:
            for part in prepared.campaigns:
                part.state.events.add(part.event_keys, np.zeros(len(part.event_keys), dtype=np.uint32))
                part.state.engagement.apply(part.engagement)
            self._evict()

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
        state.events.add(event_keys, np.zeros(len(event_keys), dtype=np.uint32))
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
