"""VTIMEZONE components in the RRULE form calendar apps write themselves (pure).

icalendar writes a zone as one RDATE per clock change. Some readers misread that form:
vobject (so Radicale) gave a London series the winter offset on the first days after the
March change. Zones whose changes follow a yearly weekday rule over the span (every zone
with DST today: "last Sunday of March", "second Sunday of March"...) are written as one
STANDARD and one DAYLIGHT block with a yearly RRULE, as Outlook, Google and Apple do;
a zone that does not (rules that moved inside the span, no DST) keeps icalendar's form.
"""

from __future__ import annotations

import functools
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

from roomful_meetings.domain.zones import zone_info


def _changes(zone: ZoneInfo, first: date, last: date) -> list[tuple[datetime, timedelta, timedelta]]:
    """(local wall time of the change, offset before, offset after): day by day, then
    by the half hour inside a day whose offset changes (changes fall on the half hour)."""
    return [
        ((at + before).replace(tzinfo=None), before, after)
        for at, before, after in change_instants(zone.key, first, last)
    ]


@functools.lru_cache(maxsize=256)
def change_instants(name: str, first: date, last: date) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """(UTC instant of the change, offset before, offset after) from `first` to `last`."""
    zone = zone_info(name)
    out = []
    day = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC)
    before = day.astimezone(zone).utcoffset()
    while day < end:
        nxt = day + timedelta(days=1)
        if nxt.astimezone(zone).utcoffset() != before:
            at = day
            while at < nxt:
                at += timedelta(minutes=30)
                after = at.astimezone(zone).utcoffset()
                if after != before and before is not None and after is not None:
                    out.append((at, before, after))
                    before = after
        day = nxt
    return tuple(out)


def _weekday_rule(moment: datetime) -> str:
    """BYMONTH and BYDAY of a change: the nth weekday of the month, -1 for the last one."""
    nth = (moment.day - 1) // 7 + 1
    if (moment + timedelta(days=7)).month != moment.month:
        nth = -1
    return f"{nth}{['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'][moment.weekday()]}"


def _same_rule_in(year: int, moment: datetime) -> datetime:
    """The day of `year` that the weekday rule of `moment` names, at its wall time."""
    rule = _weekday_rule(moment)
    days = range(1, monthrange(year, moment.month)[1] + 1)
    return next(
        d
        for d in (datetime.combine(date(year, moment.month, day), moment.time()) for day in days)
        if _weekday_rule(d) == rule
    )


def vtimezone(name: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE of `name`, right for every instant from `first` to `last` (and, in
    the RRULE form, for as long as the zone keeps its current rule)."""
    zone = zone_info(name)
    changes = _changes(zone, first, last)
    groups: dict[tuple[timedelta, timedelta], list[datetime]] = {}
    for moment, before, after in changes:
        groups.setdefault((before, after), []).append(moment)
    regular = len(groups) == 2 and all(
        len({(m.month, _weekday_rule(m), m.time()) for m in moments}) == 1 for moments in groups.values()
    )
    if not regular:
        return Timezone.from_tzinfo(zone, tzid=name, first_date=first, last_date=last)
    tz = Timezone()
    tz.add("tzid", name)
    for (before, after), moments in sorted(groups.items(), key=lambda item: item[1][0]):
        block = TimezoneDaylight() if after > before else TimezoneStandard()
        start = moments[0]
        # The first onset is put in 1970, as Outlook puts it in 1601: the block states the
        # zone's current rule, and dateutil (vobject, so Radicale) reads a block that starts
        # inside the feed's range wrongly for the days after it.
        block.add("dtstart", _same_rule_in(1970, start))
        block.add("rrule", {"freq": "yearly", "bymonth": start.month, "byday": _weekday_rule(start)})
        block.add("tzoffsetfrom", before)
        block.add("tzoffsetto", after)
        abbreviation = (
            (datetime.combine(start.date(), start.time(), UTC) + timedelta(days=1)).astimezone(zone).tzname()
        )
        if abbreviation:
            block.add("tzname", abbreviation)
        tz.add_component(block)
    return tz
