"""meeting:* endpoints of the current API (contract section 5, Meetings)."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET

from roomful_meetings.domain import meetings as rules
from roomful_meetings.domain.time import format_utc, to_minute
from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.models import DEFAULT_COLOR, RGBA
from roomful_meetings.protocol.replies import RawMeetingList, RawMeetingReply
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import endpoint
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields

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


@endpoint("meeting:createMeeting", p.CreateMeeting, changes=True, one_round_trip=True)
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
) -> msgspec.Raw:
    """Create a meeting (both APIs): check the request, then one script does the rest."""
    subject = rules.check_subject(subject)
    start = to_minute(start_value, f"{field_prefix}.startDate")
    end = to_minute(end_value, f"{field_prefix}.endDate")
    rules.check_span(start, end, where=field_prefix)
    target = source.pk if source.type == "direct" else None
    participants = rules.participant_ids(caller.user_id, invited, target)
    rules.check_invitee_count(participants, services.settings.max_invitees)
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
    return await services.meetings.create(
        meeting_id,
        caller.user_id,
        source,
        source_key(services.keys, source),
        start,
        end,
        participants,
        fields,
    )


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


def given(value: Any) -> bool:
    return value is not UNSET and value is not None


@endpoint("meeting:updateMeeting", p.UpdateMeeting, changes=True)
async def update_meeting(services: Services, caller: Caller, data: p.UpdateMeeting) -> RawMeetingReply:
    values: dict[str, object] = {}
    if given(data.subject):
        values["subject"] = rules.check_subject(data.subject)  # type: ignore[arg-type]
    if given(data.description):
        values["description"] = data.description
    if given(data.color):
        values["color"] = data.color
    start, end = time_changes(data.startDate, data.endDate, values, where="data")
    participants = None
    if given(data.invitedUserIds):
        participants = rules.participant_ids(caller.user_id, data.invitedUserIds)  # type: ignore[arg-type]
        rules.check_invitee_count(participants, services.settings.max_invitees)
    meeting = await services.meetings.update(
        data.meetingId,
        caller.user_id,
        start=start,
        end=end,
        participants=participants,
        fields=MeetingFields(values),
    )
    return RawMeetingReply(meeting)


@endpoint("meeting:deleteMeeting", p.MeetingRef, changes=True)
@endpoint("meeting:delete", p.MeetingRef, changes=True)  # DEPRECATED name, same behaviour
async def delete_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> None:
    await services.meetings.delete(data.meetingId, caller.user_id)


@endpoint("meeting:getMeeting", p.MeetingRef, one_round_trip=True)
async def get_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> RawMeetingReply:
    return RawMeetingReply(await services.meetings.get(data.meetingId, caller.user_id))


@endpoint("meeting:acceptMeetingRequest", p.MeetingRef, changes=True, one_round_trip=True)
async def accept_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> None:
    await services.meetings.set_rsvp(data.meetingId, caller.user_id, "accepted")


@endpoint("meeting:declineMeetingRequest", p.MeetingRef, changes=True, one_round_trip=True)
async def decline_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> None:
    await services.meetings.set_rsvp(data.meetingId, caller.user_id, "declined")


def list_range(start_value: Any, end_value: Any) -> tuple[int, int]:
    start, end = to_minute(start_value, "data.startDate"), to_minute(end_value, "data.endDate")
    if end <= start:
        raise BadRequest("`data.endDate` must be after `data.startDate`")
    if end - start > MAX_LIST_DAYS * 1440:
        raise BadRequest(
            f"the range from `data.startDate` to `data.endDate` may span at most {MAX_LIST_DAYS} days"
        )
    return start, end


@endpoint("meeting:listUserMeetings", p.ListUserMeetings)
async def list_user_meetings(services: Services, caller: Caller, data: p.ListUserMeetings) -> RawMeetingList:
    start, end = list_range(data.startDate, data.endDate)
    filter_type = data.sourceType or ""
    ids = data.sourceIds or []
    if filter_type:
        rules.check_source_ids(filter_type, ids)
    filter_ids = (ids[0] if ids else "", ids[1] if len(ids) > 1 else "")
    page = await services.meetings.list_for_user(
        caller.user_id, start, end, filter_type=filter_type, filter_ids=filter_ids, limit=MAX_LIST_MEETINGS
    )
    return RawMeetingList(page.meetings, page.has_more)
