"""Report windows and their buckets (pure).

`live` is the last 24 hours ending now, read from the minute rollup, with series in UTC minute
buckets or coarser display buckets (5, 15 or 60 minutes, aligned in UTC; the first bucket starts
with the window). The granularity changes the series only: the window is the same.
A `range` is [start, end) in an IANA time zone, widened to whole buckets of its granularity
(HOUR, DAY, WEEK starting Monday, MONTH), with bucket boundaries at local hour starts or
midnights: a DST day has 23 or 25 hours, and +5:30 / +5:45 zones cut days at :30 / :15 UTC.
Every such boundary falls on a UTC quarter hour, so the 15-minute rollup answers ranges exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LIVE_SPAN = timedelta(hours=24)
# A series may have at most this many points (about a year of hours).
MAX_POINTS = 10_000
# How far ahead of now a range may end (a report of this year, this month): past that it is a mistake.
MAX_AHEAD = timedelta(days=366)


class Granularity(Enum):
    MINUTE = timedelta(minutes=1)
    FIVE_MINUTES = timedelta(minutes=5)
    FIFTEEN_MINUTES = timedelta(minutes=15)
    HOUR = timedelta(hours=1)
    DAY = timedelta(days=1)
    WEEK = timedelta(days=7)
    MONTH = timedelta(days=31)


class WindowError(ValueError):
    """A window a request cannot have; `field` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def floor(moment: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    """The start (UTC) of the bucket holding `moment`."""
    if granularity is Granularity.MINUTE:
        return moment.astimezone(UTC).replace(second=0, microsecond=0)
    local = moment.astimezone(zone)
    if granularity is Granularity.HOUR:
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if granularity is Granularity.WEEK:
        day -= timedelta(days=day.weekday())
    elif granularity is Granularity.MONTH:
        day = day.replace(day=1)
    return _local_midnight(day, zone)


def next_start(bucket: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    """The start of the bucket after the one starting at `bucket`."""
    if granularity in (Granularity.MINUTE, Granularity.HOUR):
        step = granularity.value
        following = floor(bucket + step, granularity, zone)
        while following <= bucket:  # a zone whose offset moved by less than an hour
            step += granularity.value
            following = floor(bucket + step, granularity, zone)
        return following
    day = bucket.astimezone(zone).date()
    if granularity is Granularity.MONTH:
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        day += granularity.value
    return _local_midnight(day, zone)


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC, the first bucket's start
    end: datetime  # UTC, exclusive: the end of the last bucket
    granularity: Granularity
    timezone: str
    live: bool = False

    @property
    def is_live(self) -> bool:
        return self.live

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @functools.cached_property
    def bucket_seconds(self) -> list[int]:
        """`bucket_starts` as unix timestamps."""
        return [int(start.timestamp()) for start in self.bucket_starts]

    @functools.cached_property
    def bucket_starts(self) -> list[datetime]:
        """The start of every bucket of the window, in order."""
        if self.live:  # the window's start, then every UTC multiple of the bucket length
            step = int(self.granularity.value.total_seconds())
            first, end = int(self.start.timestamp()), int(self.end.timestamp())
            aligned = range(first - first % step + step, end, step)
            return [self.start, *(datetime.fromtimestamp(at, UTC) for at in aligned)]
        starts, bucket, zone = [], self.start, self.zone
        while bucket < self.end:
            starts.append(bucket)
            bucket = next_start(bucket, self.granularity, zone)
        return starts


LIVE_GRANULARITIES = (
    Granularity.MINUTE,
    Granularity.FIVE_MINUTES,
    Granularity.FIFTEEN_MINUTES,
    Granularity.HOUR,
)


def live_window(now: datetime, granularity: Granularity = Granularity.MINUTE) -> Window:
    """From the minute holding now - 24 h to the end of the current one, in `granularity` buckets."""
    if granularity not in LIVE_GRANULARITIES:
        raise WindowError(
            "window.live.granularity", "a live window has MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES or HOUR"
        )
    utc = ZoneInfo("UTC")
    start = floor(now - LIVE_SPAN, Granularity.MINUTE, utc)
    end = next_start(floor(now, Granularity.MINUTE, utc), Granularity.MINUTE, utc)
    return Window(start, end, granularity, "UTC", live=True)


def zone_named(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            "window.range.timezone", f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"
        ) from None


def range_window(
    start: datetime,
    end: datetime,
    timezone: str,
    granularity: Granularity,
    *,
    now: datetime,
    retention_days: int,
) -> Window:
    """[start, end) widened to whole buckets; WindowError for a window no report can have."""
    if granularity in LIVE_GRANULARITIES and granularity is not Granularity.HOUR:
        raise WindowError("window.range.granularity", "a range has HOUR, DAY, WEEK or MONTH buckets")
    if end <= start:
        raise WindowError("window.range.end", "window.range.end must be after window.range.start")
    if end > now + MAX_AHEAD:
        raise WindowError(
            "window.range.end",
            f"window.range.end is more than {MAX_AHEAD.days} days ahead; nothing is counted there",
        )
    timezone = timezone or "UTC"
    zone = zone_named(timezone)
    oldest = now - timedelta(days=retention_days)
    if start < oldest:
        raise WindowError(
            "window.range.start",
            f"window.range.start is before the {retention_days}-day retention "
            f"(oldest: {oldest:%Y-%m-%d %H:%M} UTC)",
        )
    if (end - start) / granularity.value > MAX_POINTS:
        raise WindowError(
            "window.range.granularity",
            f"the range has more than {MAX_POINTS} {granularity.name} buckets; choose a coarser granularity",
        )
    first = floor(start, granularity, zone)
    last = floor(end, granularity, zone)
    stop = last if last == end else next_start(last, granularity, zone)
    return Window(first, stop, granularity, timezone)
