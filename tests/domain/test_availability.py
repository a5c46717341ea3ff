from __future__ import annotations

import random
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.availability import (
    AVAILABLE,
    NOT_AVAILABLE,
    DaySetting,
    UserAvailability,
    elapsed_to_wall,
    free_slots,
    set_bits,
    wall_to_elapsed,
    window_bits,
)
from roomful_meetings.domain.bitmaps import merge, runs, span, to_bytes
from roomful_meetings.domain.zones import LocalDay, local_day

ZONES = ["UTC", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "+05:30", "Europe/London"]
walls = st.lists(
    st.tuples(st.integers(0, 1440), st.integers(0, 1440)).map(lambda pair: (min(pair), max(pair))), max_size=6
)
WINDOW_START = local_day("UTC", date(2026, 10, 26)).start  # a week with DST changes in several zones
WINDOW_END = WINDOW_START + 14 * 1440


@st.composite
def users(draw: st.DrawFn) -> UserAvailability:
    pattern = {
        d: set_bits(draw(st.sampled_from([AVAILABLE, NOT_AVAILABLE])), draw(walls), 1440)
        for d in draw(st.sets(st.integers(0, 6)))
    }
    return UserAvailability(zone=draw(st.sampled_from(ZONES)), pattern=pattern, explicit={})


busy_lists = st.lists(
    st.tuples(st.integers(WINDOW_START - 2000, WINDOW_END), st.integers(1, 600)), max_size=8
).map(lambda items: [minute for start, length in items for minute in (start, start + length)])


@given(st.sampled_from([AVAILABLE, NOT_AVAILABLE]), walls)
def test_a_pattern_read_back_on_a_regular_day_is_what_was_set(
    status: str, intervals: list[tuple[int, int]]
) -> None:
    day = local_day("Asia/Tokyo", date(2026, 6, 10))
    got = runs(wall_to_elapsed(set_bits(status, intervals, 1440), day))
    listed = merge(intervals)
    if status == AVAILABLE:
        assert got == listed
    else:
        assert merge(got + listed) == ([(0, 1440)] if got or listed else [])
        assert not any(a < d and c < b for a, b in got for c, d in listed)


@given(st.lists(users(), min_size=1, max_size=4), busy_lists, st.randoms())
def test_intersection_is_commutative(
    group: list[UserAvailability], busy: list[int], rnd: random.Random
) -> None:
    shuffled = group[:]
    rnd.shuffle(shuffled)
    forward = free_slots(group, busy, WINDOW_START, WINDOW_END, now=0)
    assert forward == free_slots(shuffled, busy, WINDOW_START, WINDOW_END, now=0)


@given(
    st.lists(users(), min_size=1, max_size=4),
    busy_lists,
    st.integers(WINDOW_START, WINDOW_END),
    st.integers(0, 120),
)
def test_slots_lie_inside_everyones_availability_and_outside_every_meeting(
    group: list[UserAvailability], busy: list[int], now: int, duration: int
) -> None:
    slots = free_slots(group, busy, WINDOW_START, WINDOW_END, now=now, duration=duration)
    for start, end in slots:
        assert WINDOW_START <= start < end <= WINDOW_END
        assert start >= now and end - start >= max(duration, 1)
        for user in group:
            free = window_bits(user, WINDOW_START, WINDOW_END)
            mask = ((1 << (end - start)) - 1) << (start - WINDOW_START)
            assert free & mask == mask
        assert all(
            end <= b_start or start >= b_end for b_start, b_end in zip(busy[::2], busy[1::2], strict=True)
        )
    assert all(slots[i][1] < slots[i + 1][0] for i in range(len(slots) - 1))  # maximal


def test_an_explicit_day_wins_over_the_pattern() -> None:
    day = local_day("UTC", date(2026, 6, 10))
    user = UserAvailability(
        "UTC",
        {day.weekday: set_bits(AVAILABLE, [(540, 1020)], 1440)},
        {day.date: DaySetting.of_day(set_bits(AVAILABLE, [(600, 660)], 1440), day)},
    )
    assert runs(window_bits(user, day.start, day.end)) == [(600, 660)]
    nobody = UserAvailability("UTC", {}, {})
    assert runs(window_bits(nobody, day.start, day.end)) == [(0, 1440)]


LONDON_AUTUMN = local_day("Europe/London", date(2031, 10, 26))  # 25 hours: 01:00-02:00 twice
LONDON_SPRING = local_day("Europe/London", date(2031, 3, 30))  # 23 hours: no 01:00-02:00


def wall_runs(setting: DaySetting, zone: str = "UTC") -> list[tuple[int, int]]:
    """The setting read on its date in a zone with 24-hour days: wall-clock minutes."""
    return runs(setting.bits(local_day(zone, date(2031, 10, 26))))


def test_a_day_setting_on_a_25_hour_day_keeps_its_wall_clock_times_when_the_zone_changes() -> None:
    # 01:27 on the second pass (GMT, elapsed 2:27) to 09:27 GMT (elapsed 10:27)
    setting = DaySetting.of_day(span(147, 627), LONDON_AUTUMN)
    assert runs(setting.bits(LONDON_AUTUMN)) == [(147, 627)]  # read back as set
    assert wall_runs(setting) == [(87, 567)]  # 01:27-09:27 wall clock, not 02:27-10:27
    assert DaySetting.decode(setting.encode()) == setting
    first_pass = DaySetting.of_day(span(87, 627), LONDON_AUTUMN)  # 01:27 BST to 09:27 GMT
    assert runs(first_pass.bits(LONDON_AUTUMN)) == [(87, 627)]
    assert wall_runs(first_pass) == [(60, 567)]  # it holds all of the second pass, 01:00-02:00
    assert len(first_pass.encode()) == 360 and len(DaySetting.of_day(0, LONDON_AUTUMN).encode()) == 180


def test_the_hour_a_23_hour_day_skips_belongs_to_an_interval_around_it() -> None:
    around = DaySetting.of_day(span(30, 150), LONDON_SPRING)  # 00:30 GMT to 03:30 BST
    assert runs(around.bits(LONDON_SPRING)) == [(30, 150)]
    assert wall_runs(around) == [(30, 210)]
    after = DaySetting.of_day(span(60, 240), LONDON_SPRING)  # 02:00 BST (the change) to 05:00
    assert wall_runs(after) == [(120, 300)]
    before = DaySetting.of_day(span(0, 60), LONDON_SPRING)  # up to the change
    assert wall_runs(before) == [(0, 60)]


def test_a_day_setting_of_the_earlier_format_is_read_as_elapsed_minutes() -> None:
    elapsed = span(147, 627)
    stored = to_bytes(elapsed, LONDON_AUTUMN.length)  # 188 bytes, as format 2 kept it
    assert runs(DaySetting.decode(stored).bits(LONDON_AUTUMN)) == [(147, 627)]


CHANGE_DAYS = [
    local_day(zone, day)
    for zone, day in [
        ("Europe/London", date(2031, 10, 26)),
        ("Europe/London", date(2031, 3, 30)),
        ("Europe/Dublin", date(2031, 10, 26)),
        ("Australia/Lord_Howe", date(2031, 4, 6)),
        ("Australia/Lord_Howe", date(2031, 10, 5)),
        ("Pacific/Chatham", date(2031, 4, 6)),
        ("America/Santiago", date(2031, 9, 7)),  # midnight is skipped
        ("America/St_Johns", date(2031, 11, 2)),
        ("Asia/Tokyo", date(2031, 1, 1)),
    ]
]


@given(st.sampled_from(CHANGE_DAYS), st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 1500))))
def test_a_day_setting_reads_back_as_set_in_its_own_zone(
    day: LocalDay, intervals: list[tuple[int, int]]
) -> None:
    bits = set_bits(AVAILABLE, intervals, day.length)
    setting = DaySetting.of_day(bits, day)
    assert setting.bits(day) == bits
    assert DaySetting.decode(setting.encode()).bits(day) == bits


def test_a_day_whose_clocks_fall_back_across_midnight_passes_its_evening_twice() -> None:
    # St. John's, 2010-11-07: at 00:01 NDT the clocks went back to 23:01 NST of the 6th, so
    # the day is 25 hours: 00:00, then 23:01-23:59, then the whole of 00:00-23:59.
    day = local_day("America/St_Johns", date(2010, 11, 7))
    assert day.length == 1500
    assert list(day.runs()) == [(0, 1, 0), (1, 60, 1381), (60, 1500, 0)]
    assert wall_to_elapsed(span(0, 1440), day) == span(0, 1500)  # available all day: all of it
    assert runs(wall_to_elapsed(span(540, 1020), day)) == [(600, 1080)]  # 09:00-17:00 NST
    assert elapsed_to_wall(span(600, 1080), day)[0] == span(540, 1020)
