"""domain/recurrence.py against an independent oracle: plain dateutil, expanded from the
first start with the full rule (no period shifting, no limit filtering), each wall time
turned into an instant with stdlib zoneinfo directly."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du
from hypothesis import assume, given
from hypothesis import strategies as st

from roomful_meetings.domain.recurrence import (
    Series,
    _instant,
    _instants,
    _wall_minute,
    check_series,
    instance_id,
    is_occurrence,
    last_end,
    occurrences_from,
    parse_instance_id,
    starts_between,
)
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.time import EPOCH
from roomful_meetings.domain.zones import utc_runs
from roomful_meetings.errors import BadRequest

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC", "America/Santiago"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def minute(text: str) -> int:
    return int((datetime.fromisoformat(text) - EPOCH).total_seconds()) // 60


def wall_of(zone: str, at: int) -> datetime:
    return datetime.fromtimestamp(at * 60, ZoneInfo(zone)).replace(tzinfo=None)


def oracle(text: str, zone: str, start: int, low: int, high: int) -> list[int]:
    first = wall_of(zone, start)
    rule = du.rrulestr(text, dtstart=first, cache=False)
    walls = rule.between(
        wall_of(zone, low) - timedelta(days=2), wall_of(zone, high) + timedelta(days=2), inc=True
    )
    instants = (int(w.replace(tzinfo=ZoneInfo(zone)).timestamp()) // 60 for w in walls)
    return sorted({m for m in instants if low <= m < high})


@st.composite
def rules(draw: st.DrawFn) -> str:
    """Rules whose occurrences are never years apart (the oracle scans until it finds one)."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
            days = [f"{draw(st.sampled_from([1, 2, 3, 5, -1, -2]))}{d}" for d in days]
        parts.append("BYDAY=" + ",".join(days))
    if freq != "WEEKLY" and draw(st.booleans()):
        monthdays = draw(
            st.lists(
                st.sampled_from([1, 2, 13, 15, 28, 30, 31, -1, -2, -31]), min_size=1, max_size=3, unique=True
            )
        )
        parts.append("BYMONTHDAY=" + ",".join(map(str, monthdays)))
    if draw(st.booleans()):
        months = draw(st.lists(st.integers(1, 12), min_size=3, max_size=6, unique=True))
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if len(parts) > 1 and draw(st.booleans()) and any(p.startswith("BY") for p in parts):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, -1]))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    return ";".join(parts)


@given(
    rules(),
    st.sampled_from(ZONES),
    st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1)),
    st.integers(0, 40 * 365),
    st.integers(1, 60),
)
def test_windows_match_the_oracle(
    text: str, zone: str, naive: datetime, offset_days: int, span_days: int
) -> None:
    try:
        rule = parse_rule(text)
    except BadRequest:  # BYMONTH and BYMONTHDAY that never meet: refused before any expansion
        assume(False)
        raise
    wall = naive.replace(second=0, microsecond=0)
    first_wall = du.rrulestr(text, dtstart=wall, cache=False).after(wall, inc=True)
    assume(first_wall is not None)
    assert first_wall is not None
    start = int(first_wall.replace(tzinfo=ZoneInfo(zone)).timestamp()) // 60
    # The series' wall clock is that of its first instant (a start in a gap moved forward).
    assume(oracle(text, zone, start, start, start + 1) == [start])
    series = Series(rule, zone, start, 30)
    check_series(series)
    low = start + offset_days * 1440 - 720
    high = low + span_days * 1440
    assert list(starts_between(series, low, high)) == oracle(text, zone, start, low, high)


@given(
    st.sampled_from(
        [
            "FREQ=WEEKLY;COUNT=7;BYDAY=MO,TH",
            "FREQ=MONTHLY;COUNT=30;BYDAY=2TU",
            "FREQ=DAILY;COUNT=100;BYMONTHDAY=1,15",
        ]
    ),
    st.integers(0, 600),
)
def test_count_rules_match_the_oracle(text: str, offset_days: int) -> None:
    zone = "Europe/London"
    first_wall = du.rrulestr(text, dtstart=datetime(2026, 1, 1, 9, 0)).after(datetime(2026, 1, 1), inc=True)
    assert first_wall is not None
    start = int(first_wall.replace(tzinfo=ZoneInfo(zone)).timestamp()) // 60
    series = Series(parse_rule(text), zone, start, 60)
    low = start + offset_days * 1440
    assert list(starts_between(series, low, low + 90 * 1440)) == oracle(
        text, zone, start, low, low + 90 * 1440
    )
    every = oracle(text, zone, start, start, start + 20 * 366 * 1440)
    assert last_end(series) == every[-1] + 60


def test_a_weekly_standup_stays_at_nine_local_across_both_clock_changes() -> None:
    series = Series(
        parse_rule("FREQ=WEEKLY;BYDAY=MO"), "Europe/London", minute("2026-03-23T09:00:00+00:00"), 15
    )
    march = starts_between(series, minute("2026-03-20T00:00:00Z"), minute("2026-04-01T00:00:00Z"))
    october = starts_between(series, minute("2026-10-19T00:00:00Z"), minute("2026-10-31T00:00:00Z"))
    local = [datetime.fromtimestamp(m * 60, ZoneInfo("Europe/London")) for m in march + october]
    assert [(t.hour, t.minute) for t in local] == [(9, 0)] * 4
    assert [t.utcoffset() for t in local] == [
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(0),
    ]


def test_gap_moves_forward_and_ambiguity_takes_the_earlier_instant() -> None:
    # Daily at 01:30 London: 2026-03-29 01:30 does not exist (01:00 -> 02:00), 2026-10-25
    # 01:30 happens twice.
    series = Series(parse_rule("FREQ=DAILY"), "Europe/London", minute("2026-03-27T01:30:00+00:00"), 30)
    got = starts_between(series, minute("2026-03-28T00:00:00Z"), minute("2026-03-30T00:00:00Z"))
    assert got == (minute("2026-03-28T01:30:00Z"), minute("2026-03-29T01:30:00Z"))  # = 02:30 BST
    got = starts_between(series, minute("2026-10-25T00:00:00Z"), minute("2026-10-26T00:00:00Z"))
    assert got == (minute("2026-10-25T00:30:00Z"),)  # 01:30 BST, the earlier one


def test_a_count_series_over_a_skipped_day_has_each_instant_once() -> None:
    # Apia skipped 2011-12-30 whole: its 09:00 moves forward a day, onto 12-31's 09:00.
    # The rule makes 6 wall times; the two on one instant are one instance (RFC 5545 3.8.5.3).
    first = minute("2011-12-27T09:00:00-10:00")
    series = Series(parse_rule("FREQ=DAILY;COUNT=6"), "Pacific/Apia", first, 60)
    check_series(series)  # COUNT is reached: it counts the wall times
    got = starts_between(series, first, first + 30 * 1440)
    days = ["2011-12-27T09:00:00-10:00", "2011-12-28T09:00:00-10:00", "2011-12-29T09:00:00-10:00"]
    days += ["2011-12-31T09:00:00+14:00", "2012-01-01T09:00:00+14:00"]
    assert got == tuple(minute(day) for day in days)
    assert last_end(series) == minute("2012-01-01T10:00:00+14:00")


def test_a_never_ending_series_reaches_far_ahead_cheaply() -> None:
    series = Series(parse_rule("FREQ=WEEKLY;BYDAY=MO"), "Europe/London", minute("2026-03-02T09:00:00Z"), 60)
    monday_2035 = minute("2035-03-05T09:00:00Z")
    assert is_occurrence(series, monday_2035)
    assert not is_occurrence(series, monday_2035 + 1440)
    assert last_end(series) is None


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", "2044-02-29T10:00:00Z"),  # every 28-40 years
        ("FREQ=YEARLY;BYMONTH=2;BYDAY=5MO", "2044-02-29T10:00:00Z"),
        ("FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=13;BYSETPOS=1", "2026-04-13T10:00:00Z"),
    ],
)
def test_sparse_rules_never_scan_centuries(text: str, start: str) -> None:
    series = Series(parse_rule(text), "UTC", minute(start), 60)
    began = time.process_time()
    check_series(series)
    for year in (2300, 5000, 9000):
        starts_between(series, minute(f"{year}-01-01T00:00:00Z"), minute(f"{year}-02-01T00:00:00Z"))
    assert time.process_time() - began < 0.5  # unbounded scans take seconds


def test_a_start_that_is_not_an_occurrence_is_refused() -> None:
    monday = minute("2026-03-02T09:00:00Z")
    with pytest.raises(BadRequest, match="startDate"):
        check_series(Series(parse_rule("FREQ=WEEKLY;BYDAY=TU"), "UTC", monday, 30))
    with pytest.raises(BadRequest, match="UNTIL"):
        check_series(Series(parse_rule("FREQ=WEEKLY;UNTIL=20260101T000000Z"), "UTC", monday, 30))


@given(st.integers(0, 60_000_000))
def test_instance_ids_round_trip(at: int) -> None:
    assert parse_instance_id(instance_id("abc", at)) == ("abc", at)
    assert instance_id("3f2a", minute("2031-01-06T09:00:00Z")) == "3f2a_20310106T0900Z"
    assert parse_instance_id("3f2a") is None
    assert parse_instance_id("3f2a_20310231T0900Z") is None
    assert datetime.fromtimestamp(at * 60, UTC)  # in range


def test_a_count_too_sparse_to_reach_is_refused_in_bounded_time() -> None:
    # Mondays that are 29 February: about four a century, so COUNT=10 lies centuries away.
    series = Series(
        parse_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;COUNT=10"),
        "UTC",
        minute("2044-02-29T10:00:00Z"),
        60,
    )
    began = time.process_time()
    with pytest.raises(BadRequest, match="COUNT=10"):
        check_series(series)
    assert time.process_time() - began < 1.0
    ok = Series(
        parse_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;COUNT=2"),
        "UTC",
        minute("2044-02-29T10:00:00Z"),
        60,
    )
    check_series(ok)
    assert last_end(ok) == minute("2072-02-29T11:00:00Z")


def test_bysetpos_in_the_first_week_counts_from_the_start_as_dateutil_does() -> None:
    # Wednesday 2020-01-01: dateutil's first week holds Wednesday on only, so the first
    # occurrence of "the first of Monday and Wednesday in each week" is that Wednesday.
    series = Series(
        parse_rule("FREQ=WEEKLY;BYDAY=MO,WE;BYSETPOS=1"), "UTC", minute("2020-01-01T09:00:00Z"), 30
    )
    check_series(series)
    assert starts_between(series, series.start, series.start + 14 * 1440) == (
        minute("2020-01-01T09:00:00Z"),
        minute("2020-01-06T09:00:00Z"),
        minute("2020-01-13T09:00:00Z"),
    )


def test_a_weekly_bysetpos_that_cannot_pick_the_start_says_why() -> None:
    # "The second working day": in dateutil's first week the start's day is always first.
    for day in ("2031-03-03", "2031-03-04", "2031-03-05"):
        series = Series(
            parse_rule("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2;COUNT=4"),
            "Europe/London",
            minute(f"{day}T09:00:00Z"),
            30,
        )
        with pytest.raises(BadRequest, match="counts the days of the first week from the start's own day"):
            check_series(series)


def test_a_series_going_on_from_an_instance_has_the_instances_left() -> None:
    # A split's new series counts wall times from its own start, as the old one did: over
    # Apia's skipped day (its 09:00 fell on 12-31's) it keeps exactly the instances left.
    first = minute("2011-12-27T09:00:00-10:00")
    series = Series(parse_rule("FREQ=DAILY;COUNT=6"), "Pacific/Apia", first, 60)
    every = starts_between(series, first, first + 30 * 1440)
    for orig in every:
        going_on = replace(series.rule, count=occurrences_from(series, orig))
        rest = Series(going_on, "Pacific/Apia", orig, 60)
        assert starts_between(rest, orig, orig + 30 * 1440) == tuple(m for m in every if m >= orig), orig
    assert occurrences_from(series, first) == 6


def test_the_bysetpos_hint_is_given_only_where_bysetpos_is_the_reason() -> None:
    # Mondays, started on a Wednesday: the start is simply not a Monday.
    series = Series(parse_rule("FREQ=WEEKLY;BYDAY=MO;BYSETPOS=1"), "UTC", minute("2031-03-05T09:00:00Z"), 30)
    with pytest.raises(BadRequest) as refused:
        check_series(series)
    assert "is not an occurrence" in refused.value.message and "BYSETPOS" not in refused.value.message


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=1,-1", "UTC"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=1,-1;COUNT=1000", "Etc/GMT+12"),
        ("FREQ=DAILY;UNTIL=99991231T235959Z", "UTC"),
        ("FREQ=DAILY;UNTIL=99991231T235959Z", "Etc/GMT+12"),
        ("FREQ=YEARLY", "Pacific/Kiritimati"),
    ],
)
def test_a_series_starting_on_the_last_accepted_day_expands_to_the_end_of_the_calendar(
    text: str, zone: str
) -> None:
    """A series may start on 9998-12-31 (the last accepted day): it is valid, and every
    window over it, up to any instant, lists its occurrences up to the end of the calendar
    instead of failing where python-dateutil steps into year 10000."""
    start = minute("9998-12-31T09:00:00+00:00")
    series = Series(parse_rule(text, "r"), zone, start, 60)
    check_series(series)
    everything = starts_between(series, start, 2**40)
    assert everything[0] == start and everything == tuple(sorted(everything))
    assert starts_between(series, start + 300 * 1440, start + 400 * 1440) == tuple(
        m for m in everything if start + 300 * 1440 <= m < start + 400 * 1440
    )


@given(
    st.sampled_from([*ZONES, "Pacific/Apia", "Australia/Lord_Howe", "Africa/Casablanca", "+05:30"]),
    st.datetimes(datetime(1970, 1, 3), datetime(9997, 11, 1)),
    st.lists(st.integers(0, 2 * 366 * 1440), min_size=1, max_size=20),
    st.sampled_from([0, 1, 59, 60, 61, 120]),
)
def test_wall_times_become_the_instants_zoneinfo_gives(
    zone: str, base: datetime, minutes: list[int], near: int
) -> None:
    """Wall times within two years, on either side of each change of offset there (gaps,
    repeated hours) and anywhere else: the integer reading is fold=0's, as zoneinfo reads
    each wall time."""
    base = base.replace(second=0, microsecond=0)
    walls = [base + timedelta(minutes=m + d) for m in minutes for d in (0, near, -near)]
    at = _instant(zone, base)
    firsts, _ = utc_runs(zone, at, at + 2 * 366 * 1440)
    for change in firsts[1:]:  # each change's instant read as a wall time, and around it
        wall = datetime(1970, 1, 1) + timedelta(minutes=change)
        walls += [wall + timedelta(minutes=d) for d in range(-180, 181, 30)]
    walls.sort()
    assert _instants(zone, [_wall_minute(w) for w in walls]) == [_instant(zone, w) for w in walls]


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/London", "2031-03-30"),
        ("Europe/London", "2031-10-26"),
        ("America/Santiago", "2031-09-07"),
        ("Australia/Lord_Howe", "2031-10-05"),
        ("Australia/Lord_Howe", "2031-04-06"),
        ("Pacific/Apia", "2011-12-29"),
    ],
)
def test_every_wall_minute_of_a_day_with_a_change_becomes_zoneinfos_instant(zone: str, day: str) -> None:
    midnight = datetime.fromisoformat(day)
    walls = [midnight + timedelta(minutes=m) for m in range(0, 3 * 1440)]
    assert _instants(zone, [_wall_minute(w) for w in walls]) == [_instant(zone, w) for w in walls]
