"""Time to engage: how long after a message's delivery each profile first opened or clicked it.

The writer keeps, per campaign, for each (message, channel) and profile: when the message was
first delivered to it, and whether a human open and a human click of it are stored yet. An event
is timed when it is the profile's first human open (or click) of the message and a delivery of
that message to the profile was stored before it (in stream order): its `engaged_after_ms` is
the time since that delivery (0 if the engine's clocks put it earlier). Every other event gets
-1. The rollups keep quantile states of the timed values.

So the timing depends only on what was stored before, like deduplication: a round prepared again
after a crash, against the state loaded without its own events, times exactly the same events.
An open whose delivery receipt arrives after it is not timed; machine opens and clicks never are
(a privacy proxy opening every message at delivery would otherwise pull the median to zero).
State older than the raw retention is gone with the raw events it is loaded from; an open that
late has no stored delivery to be timed against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NOT_TIMED = -1
_OPENED, _CLICKED = 1, 2
_BITS = {"opened": _OPENED, "clicked": _CLICKED}
# The event types the state follows.
TIMED_TYPES = ("delivered", "opened", "clicked")

MessageKey = tuple[str, str]  # (message_id, channel)
Values = Sequence[Any] | np.ndarray  # a column of the round, as the writer holds it


@dataclass
class _Profiles:
    """Per profile number: first delivery (epoch ms, NOT_TIMED if none) and engagement bits."""

    delivered: np.ndarray = field(default_factory=lambda: np.full(0, NOT_TIMED, dtype=np.int64))
    engaged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))

    def reserve(self, size: int) -> None:
        if size <= len(self.delivered):
            return
        # A quarter more than asked: few copies as a wave is delivered, little unused room after.
        grown = max(size, len(self.delivered) + len(self.delivered) // 4, 1024)
        delivered = np.full(grown, NOT_TIMED, dtype=np.int64)
        delivered[: len(self.delivered)] = self.delivered
        engaged = np.zeros(grown, dtype=np.uint8)
        engaged[: len(self.engaged)] = self.engaged
        self.delivered, self.engaged = delivered, engaged

    def get(self, number: int) -> tuple[int, int]:
        if number >= len(self.delivered):
            return NOT_TIMED, 0
        return int(self.delivered[number]), int(self.engaged[number])


# What a round changes: (message, profile number) -> (first delivery, engagement bits).
Changes = dict[tuple[MessageKey, int], tuple[int, int]]


@dataclass
class Engagement:
    """One campaign's delivery and first-engagement state (see the module docstring)."""

    messages: dict[MessageKey, _Profiles] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Profiles followed, summed over messages (what memory grows with)."""
        return sum(len(p.delivered) for p in self.messages.values())

    @property
    def nbytes(self) -> int:
        return sum(p.delivered.nbytes + p.engaged.nbytes for p in self.messages.values())

    def load(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows (message_id, channel, profile_no, first delivery in epoch ms or NOT_TIMED, human
        open stored, human click stored), as the writer reads them from the raw events."""
        grouped: dict[MessageKey, list[Sequence[Any]]] = {}
        for row in rows:
            grouped.setdefault((row[0], row[1]), []).append(row)
        for key, found in grouped.items():
            numbers = np.fromiter((r[2] for r in found), dtype=np.int64, count=len(found))
            profiles = self.messages.setdefault(key, _Profiles())
            profiles.reserve(int(numbers.max()) + 1)
            profiles.delivered[numbers] = [r[3] for r in found]
            profiles.engaged[numbers] = [(_OPENED if r[4] else 0) | (_CLICKED if r[5] else 0) for r in found]

    def time(
        self,
        types: Values,
        machine: Values,
        messages: Values,
        channels: Values,
        numbers: Values,
        millis: Values,
    ) -> tuple[np.ndarray, Changes]:
        """Each event's engaged_after_ms, in order, and the state changes to apply once the
        events are stored (nothing changes before: a round that fails is prepared again)."""
        after = np.full(len(types), NOT_TIMED, dtype=np.int64)
        changes: Changes = {}
        followed = np.isin(np.asarray(types, dtype=object), TIMED_TYPES) & ~np.asarray(machine, dtype=bool)
        for i in np.flatnonzero(followed).tolist():
            event_type = types[i]
            key, number = (messages[i], channels[i]), int(numbers[i])
            change_key = (key, number)
            if change_key in changes:
                delivered, engaged = changes[change_key]
            else:
                profiles = self.messages.get(key)
                delivered, engaged = profiles.get(number) if profiles else (NOT_TIMED, 0)
            at = int(millis[i])
            if event_type == "delivered":
                if delivered != NOT_TIMED and delivered <= at:
                    continue
                delivered = at
            else:
                bit = _BITS[event_type]
                if engaged & bit:
                    continue
                engaged |= bit
                if delivered != NOT_TIMED:
                    after[i] = max(at - delivered, 0)
            changes[change_key] = (delivered, engaged)
        return after, changes

    def apply(self, changes: Changes) -> None:
        for (key, number), (delivered, engaged) in changes.items():
            profiles = self.messages.setdefault(key, _Profiles())
            profiles.reserve(number + 1)
            profiles.delivered[number] = delivered
            profiles.engaged[number] = engaged
