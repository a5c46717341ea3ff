from __future__ import annotations

import bisect
from collections import Counter
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.availability import wall_to_elapsed
from roomful_meetings.domain.bitmaps import runs, span
from roomful_meetings.domain.zones import (
    _changes,
    _offset_minutes,
    _year_start,
    count_local_days,
    day_date,
    days_between,
    is_valid_zone,
    local_day,
    offset_table,
    stored_zone,
    tz_of,
    utc_runs,
)

# Zones with the closest changes of offset in the database (a week apart), and some that
# change often or jumped across the date line.
CLOSE_CHANGES = [
    ("America/Noronha", 2000),
    ("America/Recife", 2000),
    ("America/Boa_Vista", 2000),
    ("America/Argentina/Tucuman", 2004),
    ("Africa/El_Aaiun", 1976),
    ("Asia/Gaza", 2040),
    ("Asia/Hebron", 2040),
    ("Africa/Casablanca", 2019),
    ("Pacific/Apia", 2011),
    ("Europe/London", 1971),
    ("Australia/Lord_Howe", 2030),
]


def test_new_york_days_are_23_and_25_hours_long_when_clocks_change() -> None:
    assert local_day("America/New_York", date(2026, 3, 8)).length == 23 * 60
    assert local_day("America/New_York", date(2026, 11, 1)).length == 25 * 60
    assert local_day("America/New_York", date(2026, 11, 2)).length == 24 * 60
    assert local_day("Asia/Tokyo", date(2026, 3, 8)).length == 24 * 60


def test_a_pattern_on_a_dst_day_keeps_its_wall_clock_times() -> None:
    nine_to_five = span(9 * 60, 17 * 60)
    spring = local_day("America/New_York", date(2026, 3, 8))  # 02:00 -> 03:00
    assert runs(wall_to_elapsed(nine_to_five, spring)) == [(8 * 60, 16 * 60)]
    autumn = local_day("America/New_York", date(2026, 11, 1))  # 02:00 -> 01:00
    assert runs(wall_to_elapsed(nine_to_five, autumn)) == [(10 * 60, 18 * 60)]
    one_to_two = span(60, 120)  # the repeated hour is available twice
    assert runs(wall_to_elapsed(one_to_two, autumn)) == [(60, 180)]


def test_a_tokyo_day_spans_two_new_york_days() -> None:
    tokyo = local_day("Asia/Tokyo", date(2026, 6, 10))
    new_york = days_between("America/New_York", tokyo.start, tokyo.end)
    assert [d.date for d in new_york] == [date(2026, 6, 9), date(2026, 6, 10)]


def test_local_timestamps_carry_the_offset_of_their_instant() -> None:
    day = local_day("America/New_York", date(2026, 3, 8))
    table = offset_table("America/New_York", day.start, day.end)
    assert table.format(day.start) == "2026-03-08T00:00:00-05:00"
    assert table.format(day.start + 3 * 60) == "2026-03-08T04:00:00-04:00"
    assert table.format(day.end) == "2026-03-09T00:00:00-04:00"
    assert offset_table("+09:30", 0, 10).format(0) == "1970-01-01T09:30:00+09:30"


def test_the_day_after_a_clock_change_carries_its_own_offset() -> None:
    # A change the day before the window was once added again on top of the window's offset.
    day = local_day("Europe/London", date(2031, 3, 31))  # clocks went forward on the 30th
    table = offset_table("Europe/London", day.start, day.end)
    assert (table.format(day.start), table.format(day.end)) == (
        "2031-03-31T00:00:00+01:00",
        "2031-04-01T00:00:00+01:00",
    )
    november = local_day("Europe/London", date(2032, 11, 1))  # back on 31 October
    assert offset_table("Europe/London", november.start, november.start + 1440).format(november.start) == (
        "2032-11-01T00:00:00+00:00"
    )
    chatham = local_day("Pacific/Chatham", date(2031, 4, 7))  # +13:45 -> +12:45 on the 6th
    assert offset_table("Pacific/Chatham", chatham.start, chatham.end).format(chatham.start) == (
        "2031-04-07T00:00:00+12:45"
    )


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Europe/London", True),
        ("US/Eastern", True),  # a backward link is still a name of the database
        ("Etc/GMT+5", True),
        ("+05:30", True),
        ("localtime", False),  # the machine's own: two instances could disagree
        ("Factory", False),
        ("posixrules", False),
        ("right/UTC", False),
        ("posix/Europe/London", False),
        ("Mars/Olympus", False),
    ],
)
def test_only_names_of_the_zone_database_are_zones(name: str, valid: bool) -> None:
    assert is_valid_zone(name) is valid


@pytest.mark.parametrize(
    ("stored", "read_as"),
    [
        ("Europe/London", "Europe/London"),
        ("posix/Europe/London", "Europe/London"),  # what an earlier release let through
        ("right/Europe/London", "Europe/London"),
        ("+05:30", "+05:30"),
        ("localtime", None),  # each machine's own: no zone all instances agree on
        ("Factory", None),
        ("Mars/Olympus", None),
    ],
)
def test_a_stored_zone_name_is_read_as_the_zone_it_stands_for(stored: str, read_as: str | None) -> None:
    assert stored_zone(stored) == read_as


@pytest.mark.parametrize(("zone", "year"), CLOSE_CHANGES)
def test_offset_runs_sampled_daily_are_those_sampled_hourly(zone: str, year: int) -> None:
    start, end = _year_start(year), _year_start(year + 1)
    hourly = _changes(tz_of(zone), start, end)
    firsts, offsets = utc_runs(zone, start, end)
    assert list(zip(firsts, offsets, strict=True)) == [
        run for i, run in enumerate(hourly) if i == 0 or run[1] != hourly[i - 1][1]
    ]


@given(
    st.sampled_from([zone for zone, _ in CLOSE_CHANGES] + ["UTC", "+05:30", "America/Santiago"]),
    st.datetimes(datetime(1969, 6, 1), datetime(9999, 11, 1)),
    st.integers(0, 3 * 366 * 1440),
)
def test_offset_runs_give_the_offset_of_every_instant(zone: str, naive: datetime, length: int) -> None:
    start = int((naive - datetime(1970, 1, 1)).total_seconds()) // 60
    end = min(start + length + 1, _year_start(9999) + 300 * 1440)
    firsts, offsets = utc_runs(zone, start, end)
    assert firsts[0] <= start
    for minute in (start, (start + end) // 2, end - 1, *firsts[1:], *(at - 1 for at in firsts[1:])):
        assert offsets[bisect.bisect_right(firsts, minute) - 1] == _offset_minutes(tz_of(zone), minute)


@given(
    st.sampled_from([zone for zone, _ in CLOSE_CHANGES] + ["UTC", "+05:30", "America/St_Johns"]),
    st.datetimes(datetime(1970, 1, 3), datetime(9996, 1, 1)),
    st.lists(st.tuples(st.integers(0, 3 * 366 * 1440), st.integers(1, 4 * 1440)), min_size=1, max_size=30),
    st.integers(0, 400 * 1440),
    st.integers(1, 4 * 366 * 1440),
)
def test_local_days_counted_in_integers_are_those_days_between_gives(
    zone: str, base: datetime, spans: list[tuple[int, int]], cut_from: int, cut_length: int
) -> None:
    origin = int((base - datetime(1970, 1, 1)).total_seconds()) // 60
    low = origin + cut_from
    high = low + cut_length
    ordered = sorted((origin + a, origin + a + length) for a, length in spans)
    kept = [(a, b) for a, b in ordered if max(a, low) < min(b, high)]
    found: Counter[int] = Counter()
    count_local_days(zone, [a for a, _ in kept], [b for _, b in kept], (low, high), found)
    expected: Counter[date] = Counter()
    for a, b in kept:
        for day in days_between(zone, max(a, low), min(b, high)):
            expected[day.date] += 1
    assert Counter({day_date(number): count for number, count in found.items()}) == expected
