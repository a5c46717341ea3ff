"""The DEPRECATED endpoints and events, on the same meetings as the current API.

A legacy meeting is a room or prop meeting seen in the old shape: room, prop, organizer
and invitees are filled in from the directory when the meeting is read (titles and
profiles are current, not copied at creation). Group and direct meetings, which the old
API cannot express, show empty roomId/propId and empty room and prop objects.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import msgspec
import trio

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain import legacy as rules
from roomful_meetings.domain.meetings import check_subject
from roomful_meetings.domain.recurrence import parse_instance_id
from roomful_meetings.errors import BadRequest, NotFound, Unavailable
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.budget import SHORTER_RANGE, AnswerBudget
from roomful_meetings.protocol.envelope import encode_push
from roomful_meetings.protocol.models import (
    DEFAULT_COLOR,
    Avatar3D,
    InvitedUser,
    LegacyMeeting,
    LegacyProp,
    LegacyRoom,
    Meeting,
    UserSimple,
)
from roomful_meetings.protocol.replies import LegacyReply, PropCheckReply, RawLegacyList, RawLegacyReply
from roomful_meetings.service import series
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.meetings import create, list_range, listed, time_changes, update_any
from roomful_meetings.service.registry import Routes
from roomful_meetings.storage.base import SeriesRedirect
from roomful_meetings.storage.directory import DirectorySnapshot, Hash
from roomful_meetings.storage.meetings import MeetingFields
from roomful_meetings.storage.redis import RedisUnavailable
from roomful_meetings.storage.series import compare_and_set, stored_meeting

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)

_meeting_decoder = msgspec.json.Decoder(Meeting)
_encoder = msgspec.json.Encoder()
# A listing in the old shape lets other requests run after each of these many meetings.
LIST_CHUNK: Final = 50
RETRY_SECONDS: Final = 600  # as long as the safe-retry record (storage/redis/scripts.py)
_avatar_decoder = msgspec.json.Decoder(Avatar3D)


def user_simple(user_id: str, profile: Hash | None) -> UserSimple:
    profile = profile or {}
    avatar = profile.get("avatar3D")
    try:
        privacy = int(profile.get("privacyMode") or 0)
    except ValueError:
        privacy = 0
    return UserSimple(
        id=user_id,
        firstName=profile.get("firstName", ""),
        lastName=profile.get("lastName", ""),
        privacyMode=privacy,
        avatar=profile.get("avatar", ""),
        avatar3D=_avatar_decoder.decode(avatar) if avatar else msgspec.UNSET,
        companyName=profile.get("companyName", ""),
        companyTitle=profile.get("companyTitle", ""),
    )


def to_legacy(
    meeting: Meeting, directory: DirectorySnapshot, people: Mapping[str, UserSimple]
) -> LegacyMeeting:
    """The old shape of `meeting`, with its room and prop from `directory` and its
    organizer and invitees from `people` (every participant's, made once per read)."""
    room_id, prop_id = rules.room_and_prop(meeting.sourceType, meeting.sourceString)
    room = directory.rooms.get(room_id, {})
    prop = directory.props.get((room_id, prop_id), {})
    thumbnail = room.get("thumbnail")
    statuses = {p.userId: p.status for p in meeting.participants}
    return LegacyMeeting(
        id=meeting.meetingId,
        created=meeting.created,
        updated=meeting.updated,
        startDate=meeting.startDate,
        endDate=meeting.endDate,
        subject=meeting.subject,
        roomId=room_id,
        propId=prop_id,
        color=meeting.color,
        isValid=meeting.isValid,
        room=LegacyRoom(id=room_id, title=room.get("title", ""), thumbnail=msgspec.Raw(thumbnail or b"null")),
        prop=LegacyProp(id=prop_id, title=prop.get("title", "")),
        organizer=people[meeting.organizerId],
        invitedUsers=[
            InvitedUser(user=people[uid], status=statuses.get(uid, "received"))
            for uid in meeting.participantIds[1:]
        ],
    )


async def converter(services: Services, meetings: list[Meeting]) -> Callable[[Meeting], LegacyMeeting]:
    """`to_legacy` for these meetings, with their directory data read in one round trip.
    Each person is made a UserSimple once: the 100 invitees of a daily series are shown in
    every instance, and making them anew for each was most of the cost of a listing (and
    of its memory: 100,000 Structs for 1000 instances)."""
    users, rooms, props = set(), set(), set()
    for m in meetings:
        users.update(m.participantIds)
        room_id, prop_id = rules.room_and_prop(m.sourceType, m.sourceString)
        if room_id:
            rooms.add(room_id)
        if prop_id:
            props.add((room_id, prop_id))
    directory = await services.directory.snapshot(users, rooms, props)
    people = {uid: user_simple(uid, directory.users.get(uid)) for uid in users}
    return functools.partial(to_legacy, directory=directory, people=people)


async def legacy_meetings(services: Services, raw: list[msgspec.Raw]) -> list[LegacyMeeting]:
    """Decode stored meetings and fill in their directory data with one round trip."""
    meetings = [_meeting_decoder.decode(m) for m in raw]
    legacy = await converter(services, meetings)
    return [legacy(m) for m in meetings]


async def legacy_event_frame(
    services: Services, endpoint_name: str, event_id: str, date: str, data: bytes
) -> bytes | None:
    """The deprecated push for a current-API event frame's data, or None when it has none."""
    if endpoint_name in ("meeting:onMeetingCreated", "meeting:onMeetingUpdated"):
        meeting = msgspec.json.decode(data, type=dict[str, msgspec.Raw])["meeting"]
        (legacy,) = await legacy_meetings(services, [meeting])
        return encode_push("meeting:meetingUpdated", event_id, date, LegacyReply(legacy))
    if endpoint_name == "meeting:onMeetingDeleted":
        return encode_push("meeting:meetingDeleted", event_id, date, msgspec.Raw(data))
    return None


APPLIED_UNANSWERED: Final = (
    "storage unavailable: the change was made, but its answer could not be read;"
    " a retry with the same event.id answers it"
)


@routes.endpoint(
    "meeting:create",
    p.LegacyCreate,
    "DEPRECATED: create a meeting in a room or prop",
    changes=True,
)
async def legacy_create(services: Services, caller: Caller, data: p.LegacyCreate) -> RawLegacyReply:
    m = data.meeting
    raw = await create(
        services,
        caller,
        rules.legacy_source(m.roomId, m.propId or ""),
        m.subject,
        "",
        m.color or DEFAULT_COLOR,
        m.invitedUserIds or [],
        m.startDate,
        m.endDate,
        field_prefix="data.meeting",
    )
    return await answer_made(services, caller, raw)


@routes.endpoint(
    "meeting:update",
    p.LegacyUpdate,
    "DEPRECATED: change a meeting (may move it between rooms and props)",
    changes=True,
)
async def legacy_update(services: Services, caller: Caller, data: p.LegacyUpdate) -> RawLegacyReply:
    # A repeat (same event.id) is answered from what the first stored, before anything is
    # read: the meeting may be gone since (contract 6).
    raw = await compare_and_set(
        services.meetings, caller.write, lambda: _update(services, caller, data), stored_meeting
    )
    return await answer_made(services, caller, raw)


async def answer_made(services: Services, caller: Caller, raw: msgspec.Raw) -> RawLegacyReply:
    """The old shape of the meeting a change made. The directory is read after the change:
    a failure to read it must not be answered "not applied" (a client trusting that would
    make the change twice under a new id)."""
    try:
        (legacy,) = await legacy_meetings(services, [raw])
        return await as_first(services, caller, legacy)
    except RedisUnavailable:
        raise Unavailable(APPLIED_UNANSWERED) from None


async def as_first(services: Services, caller: Caller, legacy: LegacyMeeting) -> RawLegacyReply:
    """The first answer of this request (contract 6). The old shape is read from the
    directory after the change, so a repeat's would show titles and names as they are now:
    the first one is kept beside the retry record for as long (10 minutes) and answered."""
    answer = msgspec.json.encode(legacy)
    key = caller.write.retry_key
    if key is not None:
        kept = services.keys.request_answer(key)
        # Kept as long as the retry record, whose expiry each repeat renews (GETEX: Redis 6.2).
        _, first = await services.meetings.redis.pipeline(
            [("SET", kept, answer, "NX", "EX", RETRY_SECONDS), ("GETEX", kept, "EX", RETRY_SECONDS)]
        )
        answer = first if isinstance(first, bytes) else answer
    return RawLegacyReply(msgspec.Raw(answer))


async def _update(services: Services, caller: Caller, data: p.LegacyUpdate) -> msgspec.Raw:
    change = data.meeting
    # The fields' own checks first: a 400 comes before the read's 404 (contract 3).
    values: dict[str, object] = {}
    if change.subject is not None:
        values["subject"] = check_subject(change.subject, where="data.meeting")
    if change.color is not None:
        values["color"] = change.color
    start, end = time_changes(change.startDate, change.endDate, values, where="data.meeting")
    moving = change.roomId is not None or change.propId is not None
    place = await _place(services, caller, data) if moving else None
    if parse_instance_id(data.meetingId) is not None:
        return await series_update(services, caller, data, place)
    move_to = None
    if place is not None and place.room:
        # Also to where it is: lua/update_meeting.lua then makes a meeting valid again whose
        # room or prop was deleted and made anew, and leaves it be when it is still gone.
        move_to = rules.legacy_source(place.room, place.prop)
        values.update(sourceString=move_to.string, sourceType=move_to.type, sourcePk=move_to.pk)
    try:
        return await services.meetings.update(
            data.meetingId,
            caller.user_id,
            start=start,
            end=end,
            participants=None,
            fields=MeetingFields(values),
            move_to=move_to,
            max_invitees=services.settings.max_invitees,
            write=caller.write,
        )
    except SeriesRedirect:
        return await series_update(services, caller, data, place)


@dataclass(frozen=True, slots=True)
class _Place:
    room: str
    prop: str
    moved: bool  # not where the meeting is now


async def _place(services: Services, caller: Caller, data: p.LegacyUpdate) -> _Place:
    """Where a change with roomId and/or propId puts the meeting. Old clients send back the
    roomId and propId they read, "" included (a group or direct meeting, which stays)."""
    change = data.meeting
    current = _meeting_decoder.decode(await series.get_any(services, caller, data.meetingId))
    room_now, prop_now = rules.room_and_prop(current.sourceType, current.sourceString)
    room = change.roomId if change.roomId is not None else room_now
    prop = change.propId if change.propId is not None else (prop_now if change.roomId is None else "")
    moved = (room, prop) != (room_now, prop_now)
    if moved and not room:
        raise BadRequest("`data.meeting.roomId` is needed to move a group or direct meeting")
    return _Place(room, prop, moved)


async def series_update(
    services: Services, caller: Caller, data: p.LegacyUpdate, place: _Place | None
) -> msgspec.Raw:
    """An instance (the ids this API shows for a series) or a whole series, changed as
    updateMeeting changes it: a meeting made by either API is changeable through both
    (contract 5). Neither moves to another room or prop: the current API cannot move a
    series either, so a series has no rule for what a move of one instance would mean."""
    change = data.meeting
    if place is not None and place.moved:
        raise BadRequest(
            f"meeting {data.meetingId} belongs to a series, which cannot move to another room or prop"
        )
    update = p.UpdateMeeting(
        data.meetingId,
        subject=msgspec.UNSET if change.subject is None else change.subject,
        color=msgspec.UNSET if change.color is None else change.color,
        startDate=msgspec.UNSET if change.startDate is None else change.startDate,
        endDate=msgspec.UNSET if change.endDate is None else change.endDate,
    )
    try:
        return (await update_any(services, caller, update)).meeting
    except BadRequest as exc:  # named as updateMeeting's fields: here they sit in data.meeting
        message = exc.message
        for name in ("subject", "color", "startDate", "endDate"):
            message = message.replace(f"`data.{name}", f"`data.meeting.{name}")
        raise BadRequest(message) from None


@routes.endpoint("meeting:get", p.MeetingRef, "DEPRECATED: one meeting in the old shape")
async def legacy_get(services: Services, caller: Caller, data: p.MeetingRef) -> LegacyReply:
    (legacy,) = await legacy_meetings(services, [await series.get_any(services, caller, data.meetingId)])
    return LegacyReply(legacy)


@routes.endpoint(
    "meeting:listUserMeetingsInDateRange",
    p.DateRange,
    "DEPRECATED: the caller's meetings in a date range, old shape",
    large_answer=True,
)
async def legacy_list(services: Services, caller: Caller, data: p.DateRange) -> RawLegacyList:
    """At most 1000 meetings, as listUserMeetings reads them, and within the answer limit
    both as read and in the old shape: each is encoded as it is made, and other requests
    are answered every LIST_CHUNK meetings (1000 meetings of 100 invitees each are 35 MB)."""
    start, end = list_range(data.startDate, data.endDate)
    limit = services.settings.max_answer_bytes
    read, _ = await listed(services, caller, start, end, AnswerBudget(limit, SHORTER_RANGE))
    meetings = [_meeting_decoder.decode(m) for m in read]
    legacy = await converter(services, meetings)
    budget, answer = AnswerBudget(limit, SHORTER_RANGE), []
    for index, meeting in enumerate(meetings, 1):
        item = msgspec.Raw(_encoder.encode(legacy(meeting)))
        budget.spend(item)
        answer.append(item)
        if index % LIST_CHUNK == 0:
            await trio.lowlevel.checkpoint()
    return RawLegacyList(answer)


@routes.endpoint(
    "meeting:checkPropHasMeetingsOrSocialSessions",
    p.PropCheck,
    "DEPRECATED: has a prop meetings or social sessions?",
)
async def check_prop(services: Services, caller: Caller, data: p.PropCheck) -> PropCheckReply:
    now = int(time.time()) // 60

    async def series_busy(sids: list[str]) -> bool:
        states = await services.meetings.series.states(sids)
        return any(inst.ends_after(state, now) for state in states)

    busy = await services.directory.prop_is_busy(data.roomId, data.propId, now, series_busy)
    if busy is None:
        raise NotFound(f"prop {data.roomId}/{data.propId} not found")
    return PropCheckReply(busy)
