from __future__ import annotations

import random
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.availability import (
    AVAILABLE,
    NOT_AVAILABLE,
    UserAvailability,
    free_slots,
    set_bits,
    wall_to_elapsed,
    window_bits,
)
from roomful_meetings.domain.bitmaps import merge, runs
from roomful_meetings.domain.zones import local_day

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
        {day.date: set_bits(AVAILABLE, [(600, 660)], 1440)},
    )
    assert runs(window_bits(user, day.start, day.end)) == [(600, 660)]
    nobody = UserAvailability("UTC", {}, {})
    assert runs(window_bits(nobody, day.start, day.end)) == [(0, 1440)]
