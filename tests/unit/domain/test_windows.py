"""Windows and buckets: local midnights, DST days, +5:30 / +5:45 zones, widening, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaignreports.domain.windows import Granularity, WindowError, live_window, range_window

NOW = datetime(2026, 11, 23, 12, 30, 45, tzinfo=UTC)


def _range(start: datetime, end: datetime, zone: str, granularity: Granularity = Granularity.DAY):
    return range_window(start, end, zone, granularity, now=NOW, retention_days=400)


def test_live_window_is_24_hours_of_whole_minutes() -> None:
    window = live_window(NOW)
    assert window.start == datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 23, 12, 31, tzinfo=UTC)
    assert len(window.bucket_starts) == 24 * 60 + 1


@pytest.mark.parametrize(
    ("granularity", "count"),
    [(Granularity.FIVE_MINUTES, 289), (Granularity.FIFTEEN_MINUTES, 97), (Granularity.HOUR, 25)],
)
def test_live_display_buckets_cover_the_same_window(granularity: Granularity, count: int) -> None:
    now = NOW + timedelta(minutes=7)  # the window starts at 12:37: its first bucket is short
    window = live_window(now, granularity)
    assert (window.start, window.end) == (live_window(now).start, live_window(now).end)
    starts = window.bucket_starts
    assert len(starts) == count and starts[0] == window.start
    step = granularity.value.total_seconds()
    assert all(s.timestamp() % step == 0 for s in starts[1:]), "aligned in UTC after the first"
    assert starts[1] - starts[0] < granularity.value
    assert window.end - starts[-1] <= granularity.value


def test_live_and_range_granularities_do_not_mix() -> None:
    with pytest.raises(WindowError) as error:
        live_window(NOW, Granularity.DAY)
    assert error.value.field == "window.live.granularity"
    with pytest.raises(WindowError) as error:
        _range(NOW - timedelta(days=1), NOW, "UTC", Granularity.FIFTEEN_MINUTES)
    assert error.value.field == "window.range.granularity"


def test_new_york_days_across_the_fall_back_change_have_25_hours() -> None:
    ny = ZoneInfo("America/New_York")
    window = _range(datetime(2026, 10, 31, tzinfo=ny), datetime(2026, 11, 3, tzinfo=ny), "America/New_York")
    starts = window.bucket_starts
    assert [s.astimezone(ny).hour for s in starts] == [0, 0, 0]
    assert [b - a for a, b in zip(starts, [*starts[1:], window.end], strict=True)] == [
        timedelta(hours=24),
        timedelta(hours=25),
        timedelta(hours=24),
    ]


def test_new_york_hours_on_the_fall_back_day_are_25() -> None:
    ny = ZoneInfo("America/New_York")
    window = _range(
        datetime(2026, 11, 1, tzinfo=ny),
        datetime(2026, 11, 2, tzinfo=ny),
        "America/New_York",
        Granularity.HOUR,
    )
    assert len(window.bucket_starts) == 25


def test_spring_forward_day_has_23_hours() -> None:
    paris = ZoneInfo("Europe/Paris")
    window = _range(
        datetime(2026, 3, 29, tzinfo=paris),
        datetime(2026, 3, 30, tzinfo=paris),
        "Europe/Paris",
        Granularity.HOUR,
    )
    assert len(window.bucket_starts) == 23


@pytest.mark.parametrize(("zone", "minute"), [("Asia/Kolkata", 30), ("Asia/Kathmandu", 15)])
def test_fractional_offsets_cut_days_off_the_utc_hour(zone: str, minute: int) -> None:
    window = _range(datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 3, 10, tzinfo=UTC), zone)
    starts = window.bucket_starts
    assert all(s.minute == minute for s in starts)
    assert all(s.astimezone(ZoneInfo(zone)).hour == 0 for s in starts)
    hours = _range(
        datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 1, 13, tzinfo=UTC), zone, Granularity.HOUR
    )
    assert all(s.minute == minute for s in hours.bucket_starts)


def test_a_range_is_widened_to_whole_buckets() -> None:
    window = _range(
        datetime(2026, 11, 4, 10, 7, tzinfo=UTC),
        datetime(2026, 11, 18, 3, tzinfo=UTC),
        "UTC",
        Granularity.WEEK,
    )
    assert window.start == datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    assert window.end == datetime(2026, 11, 23, tzinfo=UTC)
    months = _range(
        datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), "UTC", Granularity.MONTH
    )
    assert [s.month for s in months.bucket_starts] == [1, 2]


@pytest.mark.parametrize(
    ("start", "end", "zone", "granularity", "field"),
    [
        (NOW, NOW, "UTC", Granularity.DAY, "window.range.end"),
        (NOW, NOW - timedelta(days=1), "UTC", Granularity.DAY, "window.range.end"),
        (NOW - timedelta(days=1), NOW, "Mars/Olympus", Granularity.DAY, "window.range.timezone"),
        (NOW - timedelta(days=1), NOW, "../../etc/passwd", Granularity.DAY, "window.range.timezone"),
        (NOW - timedelta(days=401), NOW, "UTC", Granularity.DAY, "window.range.start"),
        (
            NOW - timedelta(days=399),
            NOW + timedelta(days=30),
            "UTC",
            Granularity.HOUR,
            "window.range.granularity",
        ),
    ],
)
def test_bad_ranges_name_the_field(start, end, zone, granularity, field) -> None:
    with pytest.raises(WindowError) as error:
        _range(start, end, zone, granularity)
    assert error.value.field == field


def test_time_zone_defaults_to_utc() -> None:
    assert _range(NOW - timedelta(days=1), NOW, "").timezone == "UTC"
