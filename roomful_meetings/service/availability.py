"""Availability, free time slots and meeting counts (contract sections 4 and 5)."""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Final, Protocol, TypeVar

from roomful_meetings.domain import availability as rules
from roomful_meetings.domain.bitmaps import runs, to_bytes
from roomful_meetings.domain.calendar import month_bounds, request_intervals, wall_interval, week_start
from roomful_meetings.domain.time import END_MINUTE, to_minute
from roomful_meetings.domain.zones import (
    FIXED_OFFSET,
    LocalDay,
    days_between,
    is_valid_zone,
    local_date_of,
    local_day,
    offset_table,
    offset_zone,
    stored_zone,
)
from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.payloads import UserIn
from roomful_meetings.protocol.replies import (
    Availability,
    AvailabilityReply,
    CountsReply,
    DayCount,
    Pattern,
    PatternReply,
    SlotsReply,
    Span,
)
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import Routes
from roomful_meetings.service.series import count_series_days
from roomful_meetings.storage.availability import ZoneRecord
from roomful_meetings.storage.budget import ExpansionBudget

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)

# How far ahead listUserMeetingCounts looks for series instances: the local days from
# localDateNow's on, ten years' worth (3653 days hold any ten years). Counting a series
# means expanding its rule day by day up to the days asked for; without a bound a sparse
# rule (29 February on a Monday) or a large `offset` made one request expand centuries,
# seconds of CPU during which the instance served no one else. Within the horizon a
# series costs a few milliseconds at worst. docs/protocol.md says so.
COUNTS_HORIZON_DAYS: Final = 3653
_LAST_DATE: Final = date(9999, 1, 1)  # END_MINUTE's date: the last local day any zone starts


def now_minute() -> int:
    """The first whole minute not before now: what starts there does not start in the past
    (contract 5: slots never start before now; contract 10: nor candidates)."""
    return math.ceil(time.time() / 60)


async def caller_zone(
    services: Services, caller: Caller, time_zone: str | None, local: datetime | int
) -> str:
    """The request's timeZone, else the stored one, else the offset that the local
    timestamp carries. Storing the request's is the caller's part (`keeps_zone`, or in
    the change's own script)."""
    if time_zone is not None:
        if not is_valid_zone(time_zone) or FIXED_OFFSET.match(time_zone):
            raise BadRequest(
                f"`data.timeZone`: unknown time zone {time_zone!r} (an IANA name like Europe/Berlin)"
            )
        return time_zone
    profile = await services.catalog.get_user(caller.user_id) or {}
    stored = stored_zone(profile.get("timeZone", ""))
    if stored:
        return stored
    return offset_zone(local) if isinstance(local, datetime) else "+00:00"


class ZoneQuery(Protocol):
    @property
    def timeZone(self) -> str | None: ...


Query = TypeVar("Query", bound=ZoneQuery)
Reply = TypeVar("Reply")


def keeps_zone(
    read: Callable[[Services, Caller, Query], Awaitable[Reply]],
) -> Callable[[Services, Caller, Query], Awaitable[Reply]]:
    """A read whose `timeZone` goes on the caller's profile (contract 4) once it has its
    answer: a request refused on the way (a 400, a 503) changes nothing (contract 3)."""

    @functools.wraps(read)
    async def answered_then_kept(services: Services, caller: Caller, data: Query) -> Reply:
        reply = await read(services, caller, data)
        if data.timeZone is not None:
            await services.catalog.upsert_users([UserIn(id=caller.user_id, timeZone=data.timeZone)])
        return reply

    return answered_then_kept


def day_of(zone: str, local: datetime | int, field: str) -> LocalDay:
    return local_day(zone, local_date_of(zone, to_minute(local, field)))


def spans(zone: str, intervals: list[tuple[int, int]], start: int, end: int) -> list[Span]:
    table = offset_table(zone, start, end)
    return [Span(table.format(a), table.format(b)) for a, b in intervals]


def available(zone: str, intervals: list[tuple[int, int]], start: int, end: int) -> Availability:
    return Availability(rules.AVAILABLE, spans(zone, intervals, start, end))


@routes.endpoint(
    "meeting:setUserAvailability",
    p.SetAvailability,
    "Set the weekly pattern or one local day of the caller's availability",
    changes=True,
)
async def set_availability(services: Services, caller: Caller, data: p.SetAvailability) -> None:
    intervals = request_intervals([(i.startDate, i.endDate) for i in data.availability.dates])
    to_minute(data.localDate, "data.localDate")  # checked even where only its offset is used
    # The zone is stored by the same script as the availability: one change, one retry record.
    zone = await caller_zone(services, caller, data.timeZone, data.localDate)
    record = ZoneRecord(time_zone=data.timeZone or "", offset_zone=zone if FIXED_OFFSET.match(zone) else "")
    status = data.availability.status
    repetition = data.availability.repetition or 0
    if repetition:
        walls = [wall_interval(zone, a, b) for a, b in intervals]
        bitmap = to_bytes(rules.set_bits(status, walls, rules.DAY_WALL_MINUTES), rules.DAY_WALL_MINUTES)
        weekdays = {d: bitmap for d in range(7) if repetition >> d & 1}
        await services.availability.set_pattern(caller.user_id, record, weekdays, write=caller.write)
        return
    day = day_of(zone, data.localDate, "data.localDate")
    clipped = [(a - day.start, b - day.start) for a, b in intervals]
    bitmap = rules.DaySetting.of_day(rules.set_bits(status, clipped, day.length), day).encode()
    await services.availability.set_day(
        caller.user_id, record, day.date, day.start, day.end, bitmap, write=caller.write
    )


def callers_own(
    users: dict[str, rules.UserAvailability], caller_id: str, zone: str
) -> rules.UserAvailability:
    """The caller's settings in the request's zone; with no profile (erased while still
    connected) nothing is set: available all day (contract 5)."""
    own = users.get(caller_id)
    if own is None:
        return rules.UserAvailability(zone, {}, {})
    return own if own.zone == zone else dataclasses.replace(own, zone=zone)


async def own_availability(
    services: Services, caller: Caller, zone: str, first: date, last: date
) -> AvailabilityReply:
    start, end = local_day(zone, first).start, local_day(zone, last).start
    users, _busy = await services.availability.inputs([caller.user_id], start, end, default_zone=zone)
    bits = rules.window_bits(callers_own(users, caller.user_id, zone), start, end)
    return AvailabilityReply(available(zone, [(start + a, start + b) for a, b in runs(bits)], start, end))


async def zone_and_date(
    services: Services, caller: Caller, data: p.LocalDateQuery | p.SlotQuery
) -> tuple[str, date]:
    """The caller's zone for this request, and the local date of its `localDate` there."""
    minute = to_minute(data.localDate, "data.localDate")
    zone = await caller_zone(services, caller, data.timeZone, data.localDate)
    return zone, local_date_of(zone, minute)


@routes.endpoint(
    "meeting:getUserAvailabilityForDay",
    p.LocalDateQuery,
    "The caller's availability on one local day",
)
@keeps_zone
async def availability_for_day(
    services: Services, caller: Caller, data: p.LocalDateQuery
) -> AvailabilityReply:
    zone, day = await zone_and_date(services, caller, data)
    return await own_availability(services, caller, zone, day, day + timedelta(days=1))


@routes.endpoint(
    "meeting:getUserAvailabilityForWeek",
    p.LocalDateQuery,
    "The caller's availability in one local week (Sunday first)",
)
@keeps_zone
async def availability_for_week(
    services: Services, caller: Caller, data: p.LocalDateQuery
) -> AvailabilityReply:
    zone, day = await zone_and_date(services, caller, data)
    sunday = week_start(day)
    return await own_availability(services, caller, zone, sunday, sunday + timedelta(days=7))


@routes.endpoint(
    "meeting:getUserAvailabilityForMonth",
    p.LocalDateQuery,
    "The caller's availability in one local month",
)
@keeps_zone
async def availability_for_month(
    services: Services, caller: Caller, data: p.LocalDateQuery
) -> AvailabilityReply:
    zone, day = await zone_and_date(services, caller, data)
    return await own_availability(services, caller, zone, *month_bounds(day))


@routes.endpoint("meeting:getUserAvailabilityPattern", p.LocalDateQuery, "The caller's weekly pattern")
@keeps_zone
async def availability_pattern(services: Services, caller: Caller, data: p.LocalDateQuery) -> PatternReply:
    zone, day = await zone_and_date(services, caller, data)
    sunday = week_start(day)
    week = [local_day(zone, sunday + timedelta(days=d)) for d in range(7)]
    users, _busy = await services.availability.inputs(
        [caller.user_id], week[0].start, week[0].start, default_zone=zone
    )
    user = callers_own(users, caller.user_id, zone)
    entries = []
    for weekday, local in enumerate(week):
        weekly = user.pattern.get(weekday)
        bits = rules.wall_to_elapsed(weekly, local) if weekly is not None else (1 << local.length) - 1
        intervals = [(local.start + a, local.start + b) for a, b in runs(bits)]
        entries.append(available(zone, intervals, local.start, local.end))
    return PatternReply(Pattern(entries))


async def slot_users(services: Services, caller: Caller, data: p.SlotQuery) -> list[str]:
    """The ids to search for: each entry by `roomful` id, else by `email` (unknown emails,
    and `roomful` names that no id can have, are left out), and the caller unless
    `includeSelf` is false."""
    if len(data.users) > services.settings.max_slot_users:
        raise BadRequest(
            f"`data.users` may name at most {services.settings.max_slot_users} users, got {len(data.users)}"
        )
    ids = [u.roomful for u in data.users if u.roomful and p.is_id(u.roomful)]
    emails = [u.email for u in data.users if not u.roomful and u.email]
    if emails:
        ids += [uid for uid in await services.catalog.user_ids_by_email(emails) if uid]
    if data.includeSelf:
        ids.append(caller.user_id)
    return ids


async def time_slots(
    services: Services, caller: Caller, data: p.SlotQuery, first: date, last: date, zone: str
) -> SlotsReply:
    start, end = local_day(zone, first).start, local_day(zone, last).start
    user_ids = await slot_users(services, caller, data)
    budget = ExpansionBudget(
        services.settings.max_expanded_instances, "ask for fewer users, or for a day instead of a month"
    )
    users, busy = await services.availability.inputs(
        user_ids, start, end, default_zone=zone, keep=caller.user_id, budget=budget
    )
    if caller.user_id in user_ids:  # in the request's zone; erased while connected: all day
        users[caller.user_id] = callers_own(users, caller.user_id, zone)
    if not users:
        return SlotsReply([])
    slots = rules.free_slots(
        list(users.values()),
        busy,
        start,
        end,
        now=now_minute(),
        duration=data.duration or 0,
    )
    return SlotsReply(spans(zone, slots, start, end))


@routes.endpoint(
    "meeting:getTimeSlotsForMeeting",
    p.SlotQuery,
    "Free time slots common to several users on one local day",
)
@keeps_zone
async def slots_for_day(services: Services, caller: Caller, data: p.SlotQuery) -> SlotsReply:
    zone, day = await zone_and_date(services, caller, data)
    return await time_slots(services, caller, data, day, day + timedelta(days=1), zone)


@routes.endpoint(
    "meeting:getMeetingTimeSlotsForMonth",
    p.SlotQuery,
    "Free time slots common to several users in one local month",
)
@keeps_zone
async def slots_for_month(services: Services, caller: Caller, data: p.SlotQuery) -> SlotsReply:
    zone, day = await zone_and_date(services, caller, data)
    return await time_slots(services, caller, data, *month_bounds(day), zone)


def counts_horizon(zone: str, first: LocalDay) -> int:
    """The end of the days counts look at: COUNTS_HORIZON_DAYS local days from `first`, and
    never past END_MINUTE (after it a zone's local days are no longer dates)."""
    if (_LAST_DATE - first.date).days <= COUNTS_HORIZON_DAYS:
        return END_MINUTE
    return min(local_day(zone, first.date + timedelta(days=COUNTS_HORIZON_DAYS)).start, END_MINUTE)


@routes.endpoint(
    "meeting:listUserMeetingCounts",
    p.CountsQuery,
    "The caller's meeting count per local day from a date on",
)
@keeps_zone
async def meeting_counts(services: Services, caller: Caller, data: p.CountsQuery) -> CountsReply:
    minute = to_minute(data.localDateNow, "data.localDateNow")
    zone = await caller_zone(services, caller, data.timeZone, data.localDateNow)
    first = local_day(zone, local_date_of(zone, minute))
    horizon = counts_horizon(zone, first)
    _users, busy = await services.availability.inputs(
        [caller.user_id], first.start, None, default_zone=zone, keep=caller.user_id
    )
    counts: Counter[date] = Counter()
    for start, end in zip(busy[::2], busy[1::2], strict=True):
        # Single meetings count at any distance (their cost is their number, read anyway).
        # Meetings stored before timestamps were bounded may end after END_MINUTE, where
        # the local days of a zone ahead of UTC are no longer dates: they count up to it.
        low, high = max(start, first.start), min(end, END_MINUTE)
        for day in days_between(zone, low, high) if low < high else ():
            counts[day.date] += 1
    wanted = data.offset + data.size
    budget = ExpansionBudget(services.settings.max_expanded_instances, "ask for a smaller offset")
    await count_series_days(services, caller.user_id, zone, (first.start, horizon), counts, wanted, budget)
    chosen = sorted(counts)[data.offset : data.offset + data.size]
    out = []
    for day_date in chosen:
        day = local_day(zone, day_date)
        table = offset_table(zone, day.start, day.end)
        out.append(DayCount(counts[day_date], table.format(day.start), table.format(day.end)))
    return CountsReply(out)
