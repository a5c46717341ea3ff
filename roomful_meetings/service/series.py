"""Recurring meetings (contract 9): new series, and reads that show instances.

The endpoints in service/meetings.py and service/legacy.py hand over here (and to
service/series_changes.py) when the id is an instance id (`<seriesId>_<YYYYMMDDTHHMMZ>`),
the request carries `recurrence` or `scope`, or the storage says the meeting is a series.
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import msgspec

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain.recurrence import Series, check_series, instance_id, parse_instance_id
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.zones import (
    FIXED_OFFSET,
    count_local_days,
    day_date,
    is_valid_zone,
    local_date_of,
    stored_zone,
)
from roomful_meetings.errors import BadRequest, NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.budget import AnswerBudget
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.budget import ExpansionBudget
from roomful_meetings.storage.meetings import MeetingPage


async def series_zone(services: Services, caller: Caller, recurrence: p.RecurrenceIn, where: str) -> str:
    """recurrence.timeZone, else the organizer's stored zone, else UTC."""
    if recurrence.timeZone is not None:
        if not is_valid_zone(recurrence.timeZone) or FIXED_OFFSET.match(recurrence.timeZone):
            raise BadRequest(
                f"`{where}.recurrence.timeZone`: unknown time zone {recurrence.timeZone!r}"
                " (an IANA name like Europe/London)"
            )
        return recurrence.timeZone
    stored = (await services.catalog.get_user(caller.user_id) or {}).get("timeZone", "")
    return stored_zone(stored) or "UTC"


def series_fields(series: Series, overrides: dict[int, Any] | None = None) -> dict[str, object]:
    """The hash fields that define a series (lua/create_meeting.lua, update_series.lua)."""
    low, high = inst.bounds(series, overrides or {})
    return {
        "rule": series.rule.text(),
        "tz": series.zone,
        "len": series.length,
        "lo": low,
        "hi": "inf" if high is None else high,
        "wall": "" if series.wall is None else series.wall.isoformat(timespec="minutes"),
        "j:recurrence": {"rule": series.rule.text(), "timeZone": series.zone},
    }


async def new_series(
    services: Services, caller: Caller, recurrence: p.RecurrenceIn, start: int, end: int, where: str
) -> dict[str, object]:
    """Validate a new series (400 naming the part) and return its hash fields."""
    rule = parse_rule(recurrence.rule, f"{where}.recurrence.rule")
    series = Series(rule, await series_zone(services, caller, recurrence, where), start, end - start)
    check_series(series, where)
    return series_fields(series)


# --- reads ------------------------------------------------------------------------------------


async def instance_state(
    services: Services, caller: Caller, meeting_id: str, *, whole: bool = True
) -> tuple[dict[str, Any], inst.SeriesState, int]:
    """The series object, state and original start of an instance id; 404 unless the rule
    produces it and it is not cancelled. Not `whole`: the state holds only this instance's
    own fields (a read of one instance does not grow with the others' changes)."""
    target = parse_instance_id(meeting_id)
    if target is None:
        raise NotFound(f"meeting {meeting_id} not found")
    sid, orig = target
    try:
        obj, state = await services.meetings.series.get(sid, caller.user_id, None if whole else orig)
    except NotFound:
        raise NotFound(f"meeting {meeting_id} not found") from None
    if not inst.exists(state, orig):
        raise NotFound(f"meeting {meeting_id} not found")
    return obj, state, orig


async def get_any(services: Services, caller: Caller, meeting_id: str) -> msgspec.Raw:
    """A meeting, a series or one instance, as its participant sees it."""
    if parse_instance_id(meeting_id) is None:
        return await services.meetings.get(meeting_id, caller.user_id)
    obj, state, orig = await instance_state(services, caller, meeting_id, whole=False)
    return msgspec.Raw(msgspec.json.encode(inst.instance_object(obj, state, orig)))


class _Order(msgspec.Struct):
    """What a listed meeting is ordered by (msgspec skips the other fields unread)."""

    startDate: str
    meetingId: str


_order_decoder = msgspec.json.Decoder(_Order)


def with_instances(
    page: MeetingPage, caller: Caller, start: int, end: int, limit: int, budget: AnswerBudget
) -> tuple[list[msgspec.Raw], bool]:
    """The page's single meetings and its series' instances in [start, end), ordered by
    start, ties by meeting id (as the single meetings are), at most `limit` (hasMore when
    more overlap), within `budget`.

    Only the instances that make the reply become meeting objects: the others are found
    as (start, original start) pairs, in windows that double from a week, until the
    windows hold more than `limit` meetings (later ones cannot come first) or reach `end`.
    A user invited to 2000 daily series lists a year in milliseconds, not seconds.

    Raises:
        BadRequest: the reply would pass the budget; also when the page's single meetings
            were cut there (`page.cut`) and the reply would hold the last one read (it
            holds every one before it too, and they passed the budget).
    """
    if not page.series:
        if page.cut:
            raise budget.refusal()
        for raw in page.meetings:
            budget.spend(raw)
        return page.meetings, page.has_more
    singles = []
    for raw in page.meetings:
        key = _order_decoder.decode(raw)
        # A stored startDate, written by format_utc (a UTC text to the minute); not held to
        # the accepted range: meetings stored before it was bounded may lie beyond it.
        singles.append((int(datetime.fromisoformat(key.startDate).timestamp()) // 60, key.meetingId, raw))
    found: list[tuple[int, int, int]] = []  # (start, which series, original start)
    low, span = start, 7 * 1440
    while True:
        high = min(low + span, end)
        for which, (_, state) in enumerate(page.series):
            # A series' instances after its first limit + 1 cannot make the reply.
            for orig, begins, _ in inst.instances(state, low, high)[: limit + 1]:
                if begins >= low or low == start:  # one that began earlier was found then
                    found.append((begins, which, orig))
        known = len(found) + sum(1 for single in singles if single[0] < high)
        if high >= end or known > limit:
            break
        low, span = high, span * 2
    starts = [single[0] for single in singles] + [item[0] for item in found]
    cut = heapq.nsmallest(limit, starts)[-1] if len(starts) > limit else end
    # Ids only for the meetings up to the last start that can make the reply.
    ranked: list[tuple[int, str, msgspec.Raw | tuple[int, int]]] = [s for s in singles if s[0] <= cut]
    for begins, which, orig in found:
        if begins <= cut:
            ranked.append((begins, instance_id(page.series[which][1].sid, orig), (which, orig)))
    ranked.sort(key=lambda item: item[:2])
    if page.cut and any(made is page.meetings[-1] for _, _, made in ranked[:limit]):
        raise budget.refusal()
    out = []
    for _, _, made in ranked[:limit]:
        if not isinstance(made, msgspec.Raw):
            obj, state = page.series[made[0]]
            item = {"userId": caller.user_id, "status": inst.status(state, made[1], caller.user_id)}
            item.update(inst.instance_object(obj, state, made[1]))
            made = msgspec.Raw(msgspec.json.encode(item))
        budget.spend(made)
        out.append(made)
    return out, page.has_more or len(starts) > limit


async def count_series_days(
    services: Services,
    uid: str,
    zone: str,
    window: tuple[int, int],
    counts: Counter[date],
    wanted: int,
    budget: ExpansionBudget,
) -> None:
    """Add the user's series instances (not declined) in `window` (minutes: the first
    local day's start, the counts' horizon) to per-local-day `counts`, until `wanted` days
    are complete: the first window is `wanted` days long (no shorter one can hold them),
    the next ones double, so a few expansions answer a page of days, and no series is
    expanded past the horizon. Refused once the instances worked out pass the `budget`."""
    first, horizon = window
    by_user, states = await services.meetings.series.busy_states([uid], first, horizon, budget)
    mine = [states[sid] for sid in by_user.get(uid, [])]
    if not mine:
        return
    last = min(horizon, max((inst.bounds(s.series, s.overrides)[1] or horizon) for s in mine))
    own = [inst.own_statuses(state).get(uid, {}) for state in mine]
    spent = len(mine)
    low, span = first, max(wanted, 1) * 1440
    while low < last:
        high = min(low + span, last)
        days: Counter[int] = Counter()  # by local day number
        for state, statuses in zip(mine, own, strict=True):
            found = inst.window(state, low, high)
            spent += len(found) + 1
            budget.require(spent)
            # One that began before `low` was counted in the window before.
            begin = 0 if low == first else bisect.bisect_left(found.starts, low)
            entries = inst.entries(state, found, uid, statuses)
            starts: Sequence[int]
            ends: Sequence[int]
            if entries.own:
                chosen = [i for i, _ in entries.levels() if i >= begin]
                starts, ends = [found.starts[i] for i in chosen], [found.ends[i] for i in chosen]
            elif entries.level:
                starts, ends = found.starts[begin:], found.ends[begin:]
            else:  # declined
                starts = ends = ()
            count_local_days(zone, starts, ends, (first, horizon), days)
            await budget.step(len(found) + 1)
        for number, count in days.items():
            counts[day_date(number)] += count
        # The days before high's are complete: no later instance reaches back into them.
        # Dates compare without a LocalDay each (that cost ~25 us a day, every window).
        complete = local_date_of(zone, high)
        if sum(1 for day in counts if day < complete) >= wanted:
            return
        low, span = high, span * 2
