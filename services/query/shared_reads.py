"""Reads shared between the WatchReport streams that show the same report.

A campaign's live report is typically open on many screens at once. Each stream reads after
every stored-round notice of its campaign, each minute and every CR_QUERY_WATCH_INTERVAL_SECONDS;
without sharing, N viewers cost N reads each time. Here a
read of a report is shared by every stream asking for the same report while it runs (single
flight) and for `max_age` seconds after it finished, so N viewers cost about one read per
`max_age`, whatever N is. `max_age` is kept below the watch interval, so no stream sees data
older than it would have read itself, give or take that fraction of an interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    """Single-flight reads with a short reuse window, per key."""

    def __init__(self, max_age_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age_seconds
        self._clock = clock
        self._reads: dict[Hashable, tuple[float, asyncio.Future[T]]] = {}
        self.hits = 0  # gets answered by a read already running or just finished
        self.misses = 0  # gets that started a read

    def __len__(self) -> int:
        return len(self._reads)

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """The result of a read of `key` that is running or finished within `max_age` seconds,
        else of a new `read()`. A failed read is not reused: the next caller reads again."""
        now = self._clock()
        self._forget_stale(now)
        entry = self._reads.get(key)
        if entry is not None:
            self.hits += 1
        else:
            self.misses += 1
            future: asyncio.Future[T] = asyncio.ensure_future(read())
            entry = self._reads[key] = (now, future)
            future.add_done_callback(lambda done: self._on_done(key, done))
        # Shielded: a stream that goes away must not cancel the read the others wait for.
        return await asyncio.shield(entry[1])

    def _on_done(self, key: Hashable, future: asyncio.Future[T]) -> None:
        """Restart the reuse window when the read finishes; drop a failed read at once."""
        entry = self._reads.get(key)
        if entry is None or entry[1] is not future:
            return
        if future.cancelled() or future.exception() is not None:
            del self._reads[key]
        else:
            self._reads[key] = (self._clock(), future)

    def _forget_stale(self, now: float) -> None:
        stale = [
            key
            for key, (finished, future) in self._reads.items()
            if future.done() and now - finished > self._max_age
        ]
        for key in stale:
            del self._reads[key]
