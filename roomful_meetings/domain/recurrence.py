"""Series and their occurrences (contract 9): expand a rule on a zone's wall clock (pure).

Rules are parsed and validated in domain/rrule.py.

Theory of operation. A series is a rule, a zone, a first start (epoch minute) and a length.
Occurrences are computed on the wall clock of the zone: python-dateutil's `rrule` expands the
rule over naive wall-clock datetimes, and each wall time becomes an instant with stdlib
zoneinfo semantics, fold=0 (pendulum's Timezone is a ZoneInfo): a wall time inside a gap
moves forward by the gap's length, an ambiguous one takes the earlier instant.

CPU is bounded for every query, whatever the rule:
- A window is expanded from the period (day, week, month or year, aligned to the rule's
  INTERVAL) just before it, never from the first start, so a window in 2300 costs what one
  in 2030 does. The parts dateutil would otherwise take from DTSTART are made explicit first
  (BYDAY of a weekly rule, BYMONTHDAY of a monthly one, ...), so a later DTSTART is the
  same rule.
- dateutil stops only on a produced candidate (or at year 9999): a rule whose *limiting*
  parts (RFC 5545 3.3.10's "limit" rows: BYMONTH of DAILY, WEEKLY and MONTHLY, BYMONTHDAY
  and BYDAY of DAILY, BYDAY beside BYMONTHDAY) filter out period after period would scan
  centuries (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO). So dateutil gets only the
  *expanding* parts, which produce candidates every few periods at most, and the limiting
  parts and BYSETPOS are applied here, period by period, over exactly the window.
- COUNT rules are counted from the first start once (at most 1000 occurrences, found within
  MAX_COUNT_SCAN candidates or refused) and cached.

Cost per occurrence: a slot search or a conflict check may expand a year of hundreds of
series. Wall times and instants are whole minutes (ints) from the window on: DAILY rules
and WEEKLY rules without BYSETPOS (most series) are laid out by date arithmetic, without
dateutil (`_day_walls`), and every wall time becomes an instant with the zone's offsets
read once per window (`_instants`, zones.utc_runs), not with a datetime per occurrence.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

from dateutil import rrule as du

from roomful_meetings.domain.rrule import Rule
from roomful_meetings.domain.time import EPOCH
from roomful_meetings.domain.zones import tz_of, utc_runs
from roomful_meetings.errors import BadRequest

# dateutil candidates a COUNT rule may take to reach its COUNT: about 110 years of a daily
# rule, ~0.2 s of CPU at worst, once per series and instance (the result is cached).
MAX_COUNT_SCAN: Final = 40_000
# Occurrences end with December 9999 (dateutil's and datetime's last year).
MAX_MINUTE: Final = (date(9999, 12, 1) - date(1970, 1, 1)).days * 1440
_INSTANCE: Final = re.compile(r"\A(.+)_(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)Z\Z", re.ASCII)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_FREQ_CODE: Final = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}


@dataclass(frozen=True, slots=True)
class Series:
    rule: Rule
    zone: str
    start: int  # epoch minute of the first occurrence
    length: int  # minutes, the same for every occurrence
    # The wall time the rule runs from, when it is not `start`'s own: a series split off at
    # an occurrence that a clock change moved forward (01:30 on the night London skips
    # 01:00-02:00 is at 02:30 BST) goes on at 01:30, not at 02:30 (contract 9).
    wall: datetime | None = None


def first_wall(series: Series) -> datetime:
    """The wall time of the first occurrence, as the rule counts it (RFC 5545's DTSTART)."""
    return series.wall if series.wall is not None else _wall(series.zone, series.start)


def instance_id(series_id: str, original_start: int) -> str:
    return f"{series_id}_{_stamp(original_start)}"


@lru_cache(maxsize=65536)
def _stamp(minute: int) -> str:
    """YYYYMMDDTHHMMZ; cached: slot searches name thousands of instances, mostly the same."""
    t = EPOCH + timedelta(minutes=minute)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}Z"


def parse_instance_id(meeting_id: str) -> tuple[str, int] | None:
    """(series id, original start minute) of an instance id, None for any other id."""
    if not meeting_id.endswith("Z"):  # most ids: settled without the regex's backtracking
        return None
    match = _INSTANCE.match(meeting_id)
    if not match:
        return None
    try:
        year, month, day, hour, minute = map(int, match.groups()[1:])
        t = datetime(year, month, day, hour, minute, tzinfo=EPOCH.tzinfo)
    except ValueError:
        return None
    return match.group(1), int((t - EPOCH).total_seconds()) // 60


def _wall(zone: str, minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz_of(zone)).replace(tzinfo=None)


def _instant(zone: str, wall: datetime) -> int:
    """The epoch minute of a wall time; fold=0: gaps move forward, ambiguity takes the earlier."""
    return int(wall.replace(tzinfo=tz_of(zone)).timestamp()) // 60


def _wall_minute(wall: datetime) -> int:
    """A wall time as minutes since 1970-01-01T00:00 on the same wall clock."""
    return (wall.toordinal() - _EPOCH_ORDINAL) * 1440 + wall.hour * 60 + wall.minute


def _instants(zone: str, walls: Sequence[int]) -> list[int]:
    """The epoch minutes of ascending wall minutes, each as `_instant` reads it (fold=0).

    zoneinfo places a change of offset on the wall clock at the change's instant plus the
    larger of the two offsets, and reads a wall time before that place with the earlier
    offset: so a wall time in a gap moves forward by the gap, and one in a repeated hour
    takes the earlier instant. Done here with the zone's runs of one offset over the
    window (read once), a pointer walking them as the wall times go up."""
    if not walls:
        return []
    margin = 2 * 1440  # offsets are less than a day
    firsts, offsets = utc_runs(zone, walls[0] - margin, walls[-1] + margin)
    places = [at + max(offsets[i - 1], offsets[i]) for i, at in enumerate(firsts) if i]
    out = []
    run, last = 0, len(places)
    for wall in walls:
        while run < last and wall >= places[run]:
            run += 1
        out.append(wall - offsets[run])
    return out


def _explicit(rule: Rule, first: datetime) -> Rule:
    """The rule with the parts RFC 5545 takes from DTSTART written out, so that expanding it
    from a later period start gives the same occurrences."""
    if rule.byday or rule.bymonthday:
        return rule
    if rule.freq == "WEEKLY":
        return replace(rule, byday=((0, first.weekday()),))
    if rule.freq == "MONTHLY":
        return replace(rule, bymonthday=(first.day,))
    if rule.freq == "YEARLY":
        return replace(rule, bymonth=rule.bymonth or (first.month,), bymonthday=(first.day,))
    return rule


def _limits(rule: Rule) -> tuple[bool, bool, bool]:
    """Which of BYMONTH, BYMONTHDAY, BYDAY only limit the candidates (RFC 5545 3.3.10)."""
    daily = rule.freq == "DAILY"
    month = bool(rule.bymonth) and rule.freq != "YEARLY"
    monthday = bool(rule.bymonthday) and daily
    day = bool(rule.byday) and (daily or bool(rule.bymonthday))
    return month, monthday, day


def _period_start(rule: Rule, first: date, wall: date) -> date:
    """The start of the rule's period (aligned to INTERVAL from `first`'s) holding `wall`,
    or `first`'s period start when `wall` is earlier."""
    n = rule.interval
    if rule.freq == "DAILY":
        steps = max(0, (wall - first).days) // n
        return first + timedelta(days=steps * n)
    if rule.freq == "WEEKLY":
        week0 = first - timedelta(days=(first.weekday() - rule.wkst) % 7)
        steps = max(0, (wall - week0).days) // (7 * n)
        return week0 + timedelta(days=steps * 7 * n)
    if rule.freq == "MONTHLY":
        index0 = first.year * 12 + first.month - 1
        steps = max(0, wall.year * 12 + wall.month - 1 - index0) // n
        year, month = divmod(index0 + steps * n, 12)
        return date(year, month + 1, 1)
    steps = max(0, wall.year - first.year) // n
    return date(first.year + steps * n, 1, 1)


def _period_key(rule: Rule, day: date) -> int:
    """Which period (of FREQ, not of INTERVAL) a day lies in, as a comparable number."""
    if rule.freq == "DAILY":
        return day.toordinal()
    if rule.freq == "WEEKLY":
        return (day - timedelta(days=(day.weekday() - rule.wkst) % 7)).toordinal()
    if rule.freq == "MONTHLY":
        return day.year * 12 + day.month
    return day.year


def _nth_weekday_ok(day: date, ordinal: int, in_month: bool) -> bool:
    if in_month:
        position, last = (day.day - 1) // 7 + 1, calendar.monthrange(day.year, day.month)[1]
        from_end = (last - day.day) // 7 + 1
    else:
        yearday = day.timetuple().tm_yday
        position, last = (yearday - 1) // 7 + 1, 366 if calendar.isleap(day.year) else 365
        from_end = (last - yearday) // 7 + 1
    return ordinal == position if ordinal > 0 else -ordinal == from_end


def _passes(rule: Rule, limits: tuple[bool, bool, bool], day: date) -> bool:
    month, monthday, weekday = limits
    if month and day.month not in rule.bymonth:
        return False
    if monthday or (rule.bymonthday and weekday):
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day not in rule.bymonthday and day.day - last - 1 not in rule.bymonthday:
            return False
    if weekday:
        in_month = rule.freq == "MONTHLY" or bool(rule.bymonth)
        return any(
            d == day.weekday() and (n == 0 or _nth_weekday_ok(day, n, in_month)) for n, d in rule.byday
        )
    return True


def _candidates(rule: Rule, limits: tuple[bool, bool, bool], dtstart: datetime) -> Iterator[datetime]:
    """dateutil's expansion of the rule's expanding parts only, from `dtstart` (a period
    start) on: these produce a candidate every few periods at most."""
    month, monthday, weekday = limits
    return iter(
        du.rrule(
            _FREQ_CODE[rule.freq],  # type: ignore[arg-type]  # the stubs want a Literal
            dtstart=dtstart,
            interval=rule.interval,
            wkst=rule.wkst,
            byweekday=[du.weekday(d, n or None) for n, d in rule.byday]
            if rule.byday and not weekday
            else None,
            bymonthday=rule.bymonthday if rule.bymonthday and not monthday else None,
            bymonth=rule.bymonth if rule.bymonth and not month else None,
            byhour=dtstart.hour,
            byminute=dtstart.minute,
            bysecond=0,
            cache=False,
        )
    )


def _walls(series: Series, wall_from: datetime, wall_to: datetime, budget: int) -> Iterator[datetime]:
    """Occurrence wall times in the periods overlapping [wall_from, wall_to] (never before the
    first start), in order; BYSETPOS and the limiting parts applied per period."""
    first = first_wall(series)
    rule = _explicit(series.rule, first)
    limits = _limits(rule)
    dtstart = datetime.combine(_period_start(rule, first.date(), wall_from.date()), first.time())
    last_key = _period_key(rule, wall_to.date())
    # dateutil's first week begins on DTSTART's day (its months and years are whole), so
    # BYSETPOS counts from there in that week: the days before it are no candidates.
    cut_key = _period_key(rule, first.date()) if rule.freq == "WEEKLY" else None
    group: list[datetime] = []
    group_key: int | None = None
    for candidate in _until_the_calendar_ends(_candidates(rule, limits, dtstart)):
        budget -= 1
        key = _period_key(rule, candidate.date())
        if key != group_key:
            yield from _select(rule, group, first)
            group, group_key = [], key
        if key > last_key or budget < 0:
            return
        if key == cut_key and candidate.date() < first.date():
            continue
        if _passes(rule, limits, candidate.date()):
            group.append(candidate)
    yield from _select(rule, group, first)


def _day_walls(series: Series, wall_from: datetime, wall_to: datetime) -> list[int] | None:
    """What `_walls` makes for a DAILY rule, or a WEEKLY one without BYSETPOS, as wall
    minutes, ascending: one wall time a day, on the days of each period (INTERVAL days, or
    the rule's weekdays of every INTERVAL-th week from WKST) that pass the limiting parts,
    from the first start's day on. None for any other rule (dateutil lays those out).

    The same days as dateutil's: a DAILY rule's parts all limit (RFC 5545 3.3.10), and a
    day is its own period, so BYSETPOS keeps every day (1 or -1) or none; a WEEKLY rule's
    BYDAY expands within the week, BYMONTH limits, and BYMONTHDAY is refused with it."""
    first = first_wall(series)
    rule = _explicit(series.rule, first)
    if rule.freq not in ("DAILY", "WEEKLY") or (rule.freq == "WEEKLY" and rule.bysetpos):
        return None
    begin = _period_start(rule, first.date(), wall_from.date()).toordinal()
    last = wall_to.date().toordinal()
    if rule.freq == "DAILY":
        if rule.bysetpos and 1 not in rule.bysetpos and -1 not in rule.bysetpos:
            return []
        days: Sequence[int] = range(begin, last + 1, rule.interval)
    else:
        # `begin` is a week's first day (WKST); a week is made while it starts by `last`.
        shifts = sorted({(weekday - rule.wkst) % 7 for _, weekday in rule.byday})
        since = first.toordinal()  # the first week's days before the start are no occurrences
        days = [
            day
            for week in range(begin, last + 1, 7 * rule.interval)
            for shift in shifts
            if (day := week + shift) >= since
        ]
    limits = _limits(rule)
    if limits == (False, False, True) and rule.freq == "DAILY":  # weekdays alone: no dates needed
        weekdays = {weekday for _, weekday in rule.byday}  # no ordinals with DAILY (rrule.py)
        days = [day for day in days if (day + 6) % 7 in weekdays]  # date.fromordinal(day).weekday()
    elif any(limits):
        days = [day for day in days if _passes(rule, limits, date.fromordinal(day))]
    at = first.hour * 60 + first.minute
    return [(day - _EPOCH_ORDINAL) * 1440 + at for day in days]


def _until_the_calendar_ends(candidates: Iterator[datetime]) -> Iterator[datetime]:
    """dateutil's candidates until it steps past datetime's last year: it looks for the
    next period's candidate to close the last one (a weekly or yearly rule near 9999-12-31)
    and raises there; no occurrence lies beyond, so that is the end of the rule."""
    try:
        yield from candidates
    except (ValueError, OverflowError):
        return


def _select(rule: Rule, group: list[datetime], first: datetime) -> list[datetime]:
    if rule.bysetpos and group:
        picked = {group[p - 1 if p > 0 else p] for p in rule.bysetpos if -len(group) <= p <= len(group)}
        group = sorted(picked)
    return [wall for wall in group if wall >= first]


@lru_cache(maxsize=4096)
def _made_walls(series: Series) -> tuple[datetime, ...]:
    """Every wall time a COUNT rule makes (at most MAX_COUNT), or fewer when the rule runs
    out of candidates (MAX_COUNT_SCAN) first."""
    assert series.rule.count is not None
    out: list[datetime] = []
    far = datetime(9999, 12, 31)
    for wall in _walls(series, first_wall(series), far, MAX_COUNT_SCAN):
        out.append(wall)
        if len(out) == series.rule.count:
            break
    return tuple(out)


@lru_cache(maxsize=4096)
def _counted(series: Series) -> tuple[int, ...]:
    """The occurrences of a COUNT rule: the instants of the wall times it makes, each once
    (RFC 5545 3.8.5.3). Two wall times may be one instant: one on a day its zone skipped
    whole (Apia's 2011-12-30) moves forward onto the next day's."""
    made = [_instant(series.zone, wall) for wall in _made_walls(series)]  # 1000 at most, over years
    return tuple(m for i, m in enumerate(made) if i == 0 or made[i - 1] != m)


@lru_cache(maxsize=16384)
def starts_between(series: Series, low: int, high: int) -> tuple[int, ...]:
    """Start minutes of the occurrences starting in [low, high), ascending.

    Cost is bounded by the window's length in periods, not by its distance from the start.
    """
    if high <= low or (series.rule.until is not None and low > series.rule.until):
        return ()
    if series.rule.count is not None:
        every = _counted(series)
        return every[bisect.bisect_left(every, low) : bisect.bisect_left(every, high)]
    # An UNTIL up to the end of 9999 is accepted; occurrences still end at MAX_MINUTE (a
    # later instant is no wall time of a zone behind UTC: year 10000).
    until = MAX_MINUTE if series.rule.until is None else series.rule.until + 1
    upper = min(high, until, MAX_MINUTE)
    if upper <= max(low, series.start):
        return ()
    margin = timedelta(days=2)  # wall clocks and instants differ by less than a day
    wall_from = _wall(series.zone, max(low, series.start)) - margin
    # MAX_MINUTE is a wall time before 9999-12-02 in every zone, so the margin stays in
    # the calendar (clamping every window in 9999 to 9999-12-31 instead made each of them
    # expand to the end of the year).
    wall_to = _wall(series.zone, upper) + margin
    walls = _day_walls(series, wall_from, wall_to)
    if walls is None:
        budget = 2 * ((upper - low) // 1440 + 800)  # a candidate per day at most, plus slack
        walls = [_wall_minute(wall) for wall in _walls(series, wall_from, wall_to, budget)]
    # Two wall times may land on one instant (a gap's), and a moved one after a later one.
    return tuple(sorted({minute for minute in _instants(series.zone, walls) if low <= minute < upper}))


def is_occurrence(series: Series, minute: int) -> bool:
    return starts_between(series, minute, minute + 1) == (minute,)


def check_series(series: Series, where: str = "data") -> None:
    """The first start must itself be an occurrence (which also proves the rule has one)."""
    if series.rule.until is not None and series.rule.until < series.start:
        raise BadRequest(f"`{where}.recurrence.rule`: UNTIL is before `{where}.startDate`")
    if not is_occurrence(series, series.start):
        why = ""
        unpicked = replace(series, rule=replace(series.rule, bysetpos=()))
        if series.rule.freq == "WEEKLY" and series.rule.bysetpos and is_occurrence(unpicked, series.start):
            why = (
                " (a weekly rule's BYSETPOS counts the days of the first week from the start's own"
                " day on, as python-dateutil does, so only a position that picks the start's day"
                " can begin such a series: BYSETPOS=1 there, or BYDAY alone)"
            )
        raise BadRequest(f"`{where}.startDate` is not an occurrence of `{where}.recurrence.rule`{why}")
    found = _made_walls(series) if series.rule.count is not None else ()
    # Fewer than COUNT before year 9999 is a rule that ends there; fewer before that means
    # the scan budget ran out.
    if series.rule.count is not None and len(found) < series.rule.count and found[-1].year < 9999:
        raise BadRequest(
            f"`{where}.recurrence.rule`: COUNT={series.rule.count} is not reached within"
            f" {MAX_COUNT_SCAN} candidate days; the rule is too sparse"
        )


def occurrences_from(series: Series, minute: int) -> int:
    """The COUNT of the series that goes on from occurrence `minute` with the same rule: the
    wall times the rule makes from that one's on. Counted in wall times, not instants, as
    the new series will count them: a skipped day's wall time after it is made there too,
    one before it is not (Apia's 2011-12-30, which fell on 12-31's instant)."""
    walls = _made_walls(series)
    return len(walls) - bisect.bisect_left(walls, occurrence_wall(series, minute))


def occurrence_wall(series: Series, minute: int) -> datetime:
    """The wall time the rule made for occurrence `minute`: the minute's own, unless a clock
    change moved it (a wall time in a gap; of two landing on one instant, the later)."""
    own = _wall(series.zone, minute)
    near = timedelta(days=2)
    made = [w for w in _walls(series, own - near, own + near, 2000) if _instant(series.zone, w) == minute]
    return made[-1] if made else own


def going_on(old: Series | None, orig: int, rule: Rule, zone: str, start: int, length: int) -> Series:
    """The series a change of `old` from its occurrence `orig` on makes: starting at
    `start`, at the wall time `old` had there when that start and zone stay (a start in a
    clock change's gap keeps its wall time, and the later occurrences theirs)."""
    wall = None
    if old is not None and start == orig and zone == old.zone:
        made = occurrence_wall(old, orig)
        wall = None if made == _wall(zone, orig) else made
    return Series(rule, zone, start, length, wall)


def last_end(series: Series) -> int | None:
    """A bound on the end of the last occurrence (None: the series never ends). Exact for
    COUNT, the UNTIL instant plus the length for UNTIL."""
    if series.rule.count is not None:
        return _counted(series)[-1] + series.length
    if series.rule.until is not None:
        return series.rule.until + series.length
    return None


def overlapping(series: Series, low: int, high: int) -> tuple[int, ...]:
    """Start minutes of the occurrences that overlap [low, high)."""
    return starts_between(series, low - series.length + 1, high)
