"""How many values the dimensions of a report had when last read: whether a top-N widget should
first read which of its dimension's values it shows, or read the dimension whole.

A top-N widget (the top 10 links) ranks the values it reads itself, so both ways give the same
rows; they differ in cost only. The read that chooses the values (`cut_query`) costs 11-16 ms at
10M events whatever the dimension holds, and pays where the dimension holds far more values
than the widget shows (100,000 links). A campaign's six recipient domains are cheaper read
whole: its live top-domains widget at 10M events took 52 ms with the choosing read, 31 ms
without.

What a dimension holds is what the last read of it found, for the same campaign, message and
window: a dashboard reads the same report again and again, so each read tells the next. A first
read chooses first, and so does any read after one that found more values than it could keep.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class DimensionSizes:
    """Values last found per (place, dimension), for at most `remembered` of them (the least
    recently used go first). A place is whatever names the campaign, message and window read."""

    def __init__(self, most_values: int, *, remembered: int = 4096) -> None:
        self._most_values = most_values
        self._remembered = remembered
        # None: more values than the last read could keep.
        self._found: OrderedDict[tuple[Hashable, str], int | None] = OrderedDict()

    def read_whole(self, place: Hashable, dimension: str) -> bool:
        """Whether the dimension is read whole here: it had at most `most_values` values."""
        key = (place, dimension)
        if key not in self._found:
            return False
        self._found.move_to_end(key)
        found = self._found[key]
        return self._most_values > 0 and found is not None and found <= self._most_values

    def choosing(self, limit: int) -> int:
        """How many values a read choosing `limit` of them reads: enough to tell whether the
        dimension is small (the widget keeps its first `limit`; sorting a few more costs nothing)."""
        return max(limit, self._most_values + 1)

    def whole(self, place: Hashable, dimension: str, values: int) -> None:
        """A read of the dimension whole found `values` values."""
        self._remember((place, dimension), values)

    def chosen(self, place: Hashable, dimension: str, values: int, limit: int) -> None:
        """A read choosing at most `limit` values found `values`. It counts only the values the
        widget can show, so below its limit it is a first guess, not a correction: the dimension
        may hold many more values that are not shown (a read whole finds them, and then stays)."""
        key = (place, dimension)
        if values >= limit:
            self._remember(key, None)
        elif key not in self._found:
            self._remember(key, values)

    def _remember(self, key: tuple[Hashable, str], values: int | None) -> None:
        self._found[key] = values
        self._found.move_to_end(key)
        while len(self._found) > self._remembered:
            self._found.popitem(last=False)
