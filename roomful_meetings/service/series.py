"""Recurring meetings (contract 9): new series, and reads that show instances.

The endpoints in service/meetings.py and service/legacy.py hand over here (and to
service/series_changes.py) when the id is an instance id (`<seriesId>_<YYYYMMDDTHHMMZ>`),
the request carries `recurrence` or `scope`, or the storage says the meeting is a series.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import msgspec

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain.recurrence import (
    Series,
    check_series,
    parse_instance_id,
)
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.zones import (
    FIXED_OFFSET,
    days_between,
    is_valid_zone,
    local_date_of,
    stored_zone,
)
from roomful_meetings.errors import BadRequest, NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service.context import Caller, Services
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
    services: Services, caller: Caller, meeting_id: str
) -> tuple[dict[str, Any], inst.SeriesState, int]:
    """The series object, state and original start of an instance id; 404 unless the rule
    produces it and it is not cancelled."""
    target = parse_instance_id(meeting_id)
    if target is None:
        raise NotFound(f"meeting {meeting_id} not found")
    sid, orig = target
    try:
        obj, state = await services.meetings.series.get(sid, caller.user_id)
    except NotFound:
        raise NotFound(f"meeting {meeting_id} not found") from None
    if not inst.exists(state, orig):
        raise NotFound(f"meeting {meeting_id} not found")
    return obj, state, orig


async def get_any(services: Services, caller: Caller, meeting_id: str) -> msgspec.Raw:
    """A meeting, a series or one instance, as its participant sees it."""
    if parse_instance_id(meeting_id) is None:
        return await services.meetings.get(meeting_id, caller.user_id)
    obj, state, orig = await instance_state(services, caller, meeting_id)
    return msgspec.Raw(msgspec.json.encode(inst.instance_object(obj, state, orig)))


class _Order(msgspec.Struct):
    """What a listed meeting is ordered by (msgspec skips the other fields unread)."""

    startDate: str
    meetingId: str


_order_decoder = msgspec.json.Decoder(_Order)


def with_instances(
    page: MeetingPage, caller: Caller, start: int, end: int, limit: int
) -> tuple[list[msgspec.Raw], bool]:
    """The page's single meetings and its series' instances in [start, end), ordered by
    start, at most `limit` (hasMore when more overlap)."""
    if not page.series:
        return page.meetings, page.has_more
    # Ordered as the single meetings are: by start, ties by meeting id. Every startDate is
    # written by format_utc, so the texts order as the instants do.
    items: list[tuple[tuple[str, str], msgspec.Raw]] = []
    for raw in page.meetings:
        key = _order_decoder.decode(raw)
        items.append(((key.startDate, key.meetingId), raw))
    for obj, state in page.series:
        for orig, _, _ in inst.instances(state, start, end)[: limit + 1]:
            item = {"userId": caller.user_id, "status": inst.status(state, orig, caller.user_id)}
            item.update(inst.instance_object(obj, state, orig))
            items.append(((item["startDate"], item["meetingId"]), msgspec.Raw(msgspec.json.encode(item))))
    items.sort(key=lambda pair: pair[0])
    return [m for _, m in items[:limit]], page.has_more or len(items) > limit


async def count_series_days(
    services: Services, uid: str, zone: str, window: tuple[int, int], counts: Counter[date], wanted: int
) -> None:
    """Add the user's series instances (not declined) in `window` (minutes: the first
    local day's start, the counts' horizon) to per-local-day `counts`, until `wanted` days
    are complete: windows double in length from a month, so a few expansions answer a
    page of days, and no series is expanded past the horizon."""
    first, horizon = window
    by_user, states = await services.meetings.series.busy_states([uid], first, horizon)
    mine = [states[sid] for sid in by_user.get(uid, [])]
    if not mine:
        return
    last = min(horizon, max((inst.bounds(s.series, s.overrides)[1] or horizon) for s in mine))
    low, span = first, 31 * 1440
    while low < last:
        high = min(low + span, last)
        for state in mine:
            for _, begins, ends in inst.busy(state, uid, low, high):
                if begins >= low or low == first:
                    for day in days_between(zone, max(begins, first), min(ends, horizon)):
                        counts[day.date] += 1
        # The days before high's are complete: no later instance reaches back into them.
        # Dates compare without a LocalDay each (that cost ~25 us a day, every window).
        complete = local_date_of(zone, high)
        if sum(1 for day in counts if day < complete) >= wanted:
            return
        low, span = high, span * 2
