"""meeting:* endpoints of the current API (contract section 5, Meetings)."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from functools import partial
from typing import Any

import msgspec

from roomful_meetings.domain import meetings as rules
from roomful_meetings.domain.recurrence import Series, parse_instance_id
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.time import format_utc, to_minute
from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.budget import SHORTER_RANGE, AnswerBudget
from roomful_meetings.protocol.models import DEFAULT_COLOR, RGBA
from roomful_meetings.protocol.replies import RawMeetingList, RawMeetingReply
from roomful_meetings.service import conflicts, series, series_changes
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import Routes
from roomful_meetings.service.updates import field_values, given, new_participants
from roomful_meetings.storage.base import SeriesRedirect
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)

MAX_LIST_DAYS = 366
MAX_LIST_MEETINGS = 1000


def source_key(keys: Keys, source: rules.Source) -> str:
    if source.type == "room":
        return keys.room(source.pk)
    if source.type == "prop":
        return keys.prop(source.room, source.pk)
    if source.type == "group":
        return keys.group(source.pk)
    return keys.user(source.pk)


def now_iso() -> str:
    return format_utc(int(time.time()) // 60)


@routes.endpoint(
    "meeting:createMeeting",
    p.CreateMeeting,
    "Create a meeting (room, prop, group or direct); participants are told",
    changes=True,
    one_round_trip=True,
    not_inline_with="rejectConflicts",  # reads and works out every participant's calendar
)
async def create_meeting(services: Services, caller: Caller, data: p.CreateMeeting) -> RawMeetingReply:
    source = rules.resolve_source(data.sourceType, data.sourceIds)
    if source.type == "direct" and source.pk == caller.user_id:
        raise BadRequest("a direct meeting needs another user in `data.sourceIds`")
    meeting = await create(
        services,
        caller,
        source,
        data.subject,
        data.description or "",
        data.color or DEFAULT_COLOR,
        data.invitedUserIds or [],
        data.startDate,
        data.endDate,
        field_prefix="data",
        recurrence=data.recurrence,
        reject_conflicts=data.rejectConflicts,
    )
    return RawMeetingReply(meeting)


async def create(
    services: Services,
    caller: Caller,
    source: rules.Source,
    subject: str,
    description: str,
    color: RGBA,
    invited: list[str],
    start_value: datetime | int,
    end_value: datetime | int,
    *,
    field_prefix: str,
    recurrence: p.RecurrenceIn | None = None,
    reject_conflicts: bool = False,
) -> msgspec.Raw:
    """Create a meeting or a series (both APIs): check the request, then one script does
    the rest (guarded by the participants' busy versions with `reject_conflicts`)."""
    subject = rules.check_subject(subject, where=field_prefix)
    start = to_minute(start_value, f"{field_prefix}.startDate")
    end = to_minute(end_value, f"{field_prefix}.endDate")
    rules.check_span(start, end, where=field_prefix)
    target = source.pk if source.type == "direct" else None
    participants = rules.participant_ids(caller.user_id, invited, target)
    rules.check_invitee_count(participants, services.settings.max_invitees, where=field_prefix)
    series_fields = None
    if recurrence is not None:
        series_fields = await series.new_series(services, caller, recurrence, start, end, field_prefix)
    meeting_id = secrets.token_hex(16)  # 128 random bits, as the uuid4 hex ids were
    created = now_iso()
    fields = MeetingFields(
        {
            "meetingId": meeting_id,
            "created": created,
            "updated": created,
            "subject": subject,
            "description": description,
            "color": color,
            "organizerId": caller.user_id,
            "sourceString": source.string,
            "sourceType": source.type,
            "sourcePk": source.pk,
            "startDate": format_utc(start),
            "endDate": format_utc(end),
        }
    )

    key = source_key(services.keys, source)

    async def write(caller: Caller) -> msgspec.Raw:
        return await services.meetings.create(
            meeting_id,
            caller.user_id,
            source,
            key,
            start,
            end,
            participants,
            fields,
            series_fields,
            write=caller.write,
        )

    if not reject_conflicts:
        return await write(caller)
    times = [(start, end)]
    if series_fields is not None:
        rule = parse_rule(str(series_fields["rule"]))
        times = conflicts.series_times(Series(rule, str(series_fields["tz"]), start, end - start))

    async def asked() -> conflicts.Target:
        refusals = partial(services.meetings.check_change, caller.user_id, participants[1:], source, key)
        return conflicts.Target(participants, times, refusals)

    return await conflicts.guarded(services, caller, asked, write)


def time_changes(
    start_value: Any, end_value: Any, values: dict[str, object], *, where: str
) -> tuple[int | None, int | None]:
    """The new start and end minutes of an update (None: unchanged), recorded in `values`."""
    start = to_minute(start_value, f"{where}.startDate") if given(start_value) else None
    end = to_minute(end_value, f"{where}.endDate") if given(end_value) else None
    if start is not None and end is not None:
        rules.check_span(start, end, where=where)
    for name, minute in (("startDate", start), ("endDate", end)):
        if minute is not None:
            values[name] = format_utc(minute)
    return start, end


@routes.endpoint(
    "meeting:updateMeeting",
    p.UpdateMeeting,
    "Change a meeting (organizer); a new time resets RSVPs",
    changes=True,
)
async def update_meeting(services: Services, caller: Caller, data: p.UpdateMeeting) -> RawMeetingReply:
    if not data.rejectConflicts:
        return await update_any(services, caller, data)
    return await conflicts.guarded(
        services,
        caller,
        lambda: conflicts.update_target(services, caller, data),
        lambda c: update_any(services, c, data),
        ignore=conflicts.own_entries(data),
    )


async def update_any(services: Services, caller: Caller, data: p.UpdateMeeting) -> RawMeetingReply:
    """A meeting, a series, an instance, or an instance and the following ones."""
    if parse_instance_id(data.meetingId) is not None:
        if data.scope == "following":
            return RawMeetingReply(await series_changes.update_following(services, caller, data))
        return RawMeetingReply(await series_changes.update_instance(services, caller, data))
    if given(data.recurrence):
        return RawMeetingReply(await series_changes.update_series(services, caller, data, data.meetingId))
    try:
        return RawMeetingReply(await update_single(services, caller, data))
    except SeriesRedirect:
        return RawMeetingReply(await series_changes.update_series(services, caller, data, data.meetingId))


async def update_single(services: Services, caller: Caller, data: p.UpdateMeeting) -> msgspec.Raw:
    values = field_values(data)
    start, end = time_changes(data.startDate, data.endDate, values, where="data")
    participants = new_participants(services, caller, data)
    return await services.meetings.update(
        data.meetingId,
        caller.user_id,
        start=start,
        end=end,
        participants=participants,
        fields=MeetingFields(values),
        max_invitees=services.settings.max_invitees,
        write=caller.write,
    )


@routes.endpoint("meeting:deleteMeeting", p.DeleteMeeting, "Delete a meeting (organizer)", changes=True)
async def delete_meeting(services: Services, caller: Caller, data: p.DeleteMeeting) -> None:
    await delete_any(services, caller, data.meetingId, following=data.scope == "following")


@routes.endpoint(
    "meeting:delete", p.MeetingRef, "DEPRECATED: delete a meeting", changes=True
)  # DEPRECATED name, same behaviour
async def legacy_delete(services: Services, caller: Caller, data: p.MeetingRef) -> None:
    await delete_any(services, caller, data.meetingId, following=False)


async def delete_any(services: Services, caller: Caller, meeting_id: str, *, following: bool) -> None:
    """A meeting or whole series; with an instance id, that instance (or it and the later
    ones, `following`)."""
    if parse_instance_id(meeting_id) is None:
        await services.meetings.delete(meeting_id, caller.user_id, write=caller.write)
    elif following:
        await series_changes.delete_following(services, caller, meeting_id)
    else:
        await series_changes.cancel_instance(services, caller, meeting_id)


@routes.endpoint(
    "meeting:getMeeting", p.MeetingRef, "One meeting (organizer or invitee)", one_round_trip=True
)
async def get_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> RawMeetingReply:
    return RawMeetingReply(await series.get_any(services, caller, data.meetingId))


async def rsvp(services: Services, caller: Caller, meeting_id: str, status: str) -> None:
    if parse_instance_id(meeting_id) is None:
        await services.meetings.set_rsvp(meeting_id, caller.user_id, status, write=caller.write)
    else:
        await series_changes.rsvp_instance(services, caller, meeting_id, status)


@routes.endpoint(
    "meeting:acceptMeetingRequest", p.MeetingRef, "Accept an invitation", changes=True, one_round_trip=True
)
async def accept_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> None:
    await rsvp(services, caller, data.meetingId, "accepted")


@routes.endpoint(
    "meeting:declineMeetingRequest", p.MeetingRef, "Decline an invitation", changes=True, one_round_trip=True
)
async def decline_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> None:
    await rsvp(services, caller, data.meetingId, "declined")


def list_range(start_value: Any, end_value: Any) -> tuple[int, int]:
    start, end = to_minute(start_value, "data.startDate"), to_minute(end_value, "data.endDate")
    if end <= start:
        raise BadRequest("`data.endDate` must be after `data.startDate`")
    if end - start > MAX_LIST_DAYS * 1440:
        raise BadRequest(
            f"the range from `data.startDate` to `data.endDate` may span at most {MAX_LIST_DAYS} days"
        )
    return start, end


@routes.endpoint(
    "meeting:listUserMeetings",
    p.ListUserMeetings,
    "The caller's meetings, filtered by time, source and status",
    large_answer=True,
)
async def list_user_meetings(services: Services, caller: Caller, data: p.ListUserMeetings) -> RawMeetingList:
    start, end = list_range(data.startDate, data.endDate)
    filter_type = data.sourceType or ""
    ids = data.sourceIds or []
    if filter_type:
        rules.check_source_ids(filter_type, ids)
        if filter_type != "network" and not all(ids):  # a network id may be "" (direct meetings)
            raise BadRequest(f"`data.sourceIds` for sourceType {filter_type!r} are ids: never empty")
    filter_ids = (ids[0] if ids else "", ids[1] if len(ids) > 1 else "")
    budget = AnswerBudget(services.settings.max_answer_bytes, SHORTER_RANGE)
    return RawMeetingList(
        *await listed(services, caller, start, end, budget, filter_type=filter_type, filter_ids=filter_ids)
    )


async def listed(
    services: Services,
    caller: Caller,
    start: int,
    end: int,
    budget: AnswerBudget,
    *,
    filter_type: str = "",
    filter_ids: tuple[str, str] = ("", ""),
) -> tuple[list[msgspec.Raw], bool]:
    """The listing of both APIs: the caller's first MAX_LIST_MEETINGS meetings and series
    instances overlapping [start, end), within `budget`, and whether more overlap.

    Raises:
        BadRequest: they would pass the budget.
    """
    page = await services.meetings.list_for_user(
        caller.user_id,
        start,
        end,
        filter_type=filter_type,
        filter_ids=filter_ids,
        limit=MAX_LIST_MEETINGS,
        max_bytes=budget.limit,
        window_states=True,  # a series' changes to instances elsewhere are not read
    )
    return series.with_instances(page, caller, start, end, MAX_LIST_MEETINGS, budget)
