"""The `data` of each request, as Structs that validate shape and ranges on decode.

Request payloads forbid unknown fields: a misspelt field is a 400 that names it, not a
silent no-op. `null` for an optional field means the same as leaving it out.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from roomful_meetings.protocol.models import RGBA, Avatar3D, Resource, Timestamp

# Ids become parts of Redis keys and of "prop:<roomId>:<propId>" source strings: no colons,
# no white space, no control characters (NUL included; they would only ever be mistakes or
# attacks, and they break log lines). The end is "no character follows": `$` also matches
# before a final newline in Python, which let "r\n" through, and `\Z` is not JSON Schema
# (ECMA-262) syntax, while this pattern is published in docs/asyncapi.json.
ID_CHARACTER: Final = r"[^:\s\x00-\x1f\x7f-\x9f]"
END_OF_TEXT: Final = r"(?![\s\S])"
ID_PATTERN: Final = rf"^{ID_CHARACTER}+{END_OF_TEXT}"
Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=ID_PATTERN)]
_ID: Final = re.compile(ID_PATTERN)


def is_id(text: str) -> bool:
    """Whether `text` has the form of an `Id`: a lookup by a name that has not (`roomful`
    of a slot search or an attendee) matches no one, and never becomes part of a key."""
    return len(text) <= 128 and _ID.match(text) is not None


# A prop id where "" means "no prop" (the room itself); a room id where "" is what the
# deprecated API shows for a group or direct meeting (sent back unchanged by old clients).
PropIdOrEmpty = Annotated[str, Meta(max_length=128, pattern=rf"^{ID_CHARACTER}*{END_OF_TEXT}")]
RoomIdOrEmpty = PropIdOrEmpty
# The fraction of a timestamp field's value past 6 digits. msgspec rounds it to the
# microsecond, which can carry a time into the next minute (.NET writes 7 digits, and its
# "end of the day" is 23:59:59.9999999): times are kept to the minute with seconds and
# below dropped (contract 4), so `cut_long_fractions` drops those digits before decoding.
# Only a field's own value matches: inside a JSON string, quotes are escaped.
_LONG_FRACTION: Final = re.compile(
    rb'("(?:startDate|endDate|localDate|localDateNow)"\s*:\s*"[0-9tT:+-]*\.[0-9]{6})[0-9]+'
)


def cut_long_fractions(data: bytes) -> bytes:
    """`data` (a request's JSON) with its timestamps' fractions cut to 6 digits."""
    return _LONG_FRACTION.sub(rb"\1", data) if b"." in data else data


Subject = Annotated[str, Meta(max_length=500)]
Description = Annotated[str, Meta(max_length=10_000)]
Text = Annotated[str, Meta(max_length=2_000)]
Batch = Meta(max_length=1_000)
# Platform blobs are bounded by their size as stored (the JSON the server writes, unknown
# fields dropped), not field by field: `customParams` and `animationData` are free-form, and
# a Resource as the platform keeps it may hold longer texts than our 2,000-character fields.
# The deprecated API copies them into every meeting it shows (the room's thumbnail, each
# participant's avatar3D): with 100 invitees (the default) at most ~420 KB a meeting.
MAX_AVATAR3D_BYTES: Final = 4_096
MAX_THUMBNAIL_BYTES: Final = 16_384


def check_blob(value: object, field: str, limit: int) -> None:
    """Raise ValueError (a 400 naming the field, from a Struct's `__post_init__`) when
    `value`, a model given in a request, is larger than `limit` bytes as JSON."""
    if isinstance(value, Struct):
        size = len(msgspec.json.encode(value))
        if size > limit:
            raise ValueError(f"`{field}` may be at most {limit:,} bytes as JSON, got {size:,}")


IdList = Annotated[list[Id], Meta(max_length=10_000)]

SourceType = Literal["room", "prop", "group", "direct"]
FilterType = Literal["", "network", "room", "prop", "group", "direct"]


class Payload(Struct, forbid_unknown_fields=True):
    pass


class Empty(Payload):
    pass


class MeetingRef(Payload):
    meetingId: Id


Zone = Annotated[str, Meta(min_length=1, max_length=64)]
# "following": this instance and every later one (contract 9); "this" (the default): the
# instance, or the whole series when meetingId is a series id.
Scope = Literal["this", "following"]


class RecurrenceIn(Payload):
    """An RFC 5545 RRULE value and the zone whose wall clock it runs on (contract 9)."""

    rule: Annotated[str, Meta(min_length=1, max_length=500)]
    timeZone: Zone | None = None


class DeleteMeeting(Payload):
    meetingId: Id
    scope: Scope | None = None


class CreateMeeting(Payload):
    sourceType: SourceType
    sourceIds: Annotated[list[Id], Meta(max_length=2)]
    subject: Subject
    startDate: Timestamp
    endDate: Timestamp
    description: Description | None = None
    color: RGBA | None = None
    invitedUserIds: IdList | None = None
    recurrence: RecurrenceIn | None = None
    rejectConflicts: bool = False


class UpdateMeeting(Payload):
    meetingId: Id
    subject: Subject | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET
    color: RGBA | UnsetType | None = UNSET
    startDate: Timestamp | UnsetType | None = UNSET
    endDate: Timestamp | UnsetType | None = UNSET
    invitedUserIds: IdList | UnsetType | None = UNSET
    recurrence: RecurrenceIn | UnsetType | None = UNSET
    scope: Scope | None = None
    rejectConflicts: bool = False


class ListUserMeetings(Payload):
    startDate: Timestamp
    endDate: Timestamp
    sourceType: FilterType | None = None
    # Compared with stored fields, never part of a key: a network id is any text, as
    # admin:upsertRooms and admin:upsertGroups take it.
    sourceIds: Annotated[list[Text], Meta(max_length=2)] | None = None


# --- availability, time slots, counts -------------------------------------------------------


class Interval(Payload):
    startDate: Timestamp
    endDate: Timestamp


class AvailabilityIn(Payload):
    status: Literal["Available", "NotAvailable"]
    dates: Annotated[list[Interval], Meta(max_length=1_000)] = []
    repetition: Annotated[int, Meta(ge=0, le=127)] | None = None


class SetAvailability(Payload):
    availability: AvailabilityIn
    localDate: Timestamp
    timeZone: Zone | None = None


class LocalDateQuery(Payload):
    localDate: Timestamp
    timeZone: Zone | None = None


class SlotUser(Payload):
    roomful: Text | None = None  # one no id can have matches no one (is_id): left out
    email: Text | None = None


class SlotQuery(Payload):
    users: Annotated[list[SlotUser], Meta(max_length=10_000)]
    localDate: Timestamp
    timeZone: Zone | None = None
    includeSelf: bool = True
    duration: Annotated[int, Meta(ge=1, le=31 * 1440)] | None = None


class Attendee(Payload):
    """An attendee of findMeetingTimes: by `roomful` id, else by `email` (contract 10)."""

    roomful: Text | None = None  # one no id can have matches no one (is_id): left out
    email: Text | None = None
    type: Literal["required", "optional"] = "required"


Minutes240 = Annotated[int, Meta(ge=0, le=240)]


class FindMeetingTimes(Payload):
    attendees: Annotated[list[Attendee], Meta(max_length=10_000)]
    startDate: Timestamp
    endDate: Timestamp
    duration: Annotated[int, Meta(ge=5, le=1440)]
    step: Annotated[int, Meta(ge=5, le=1440)] = 30
    minimumAttendeePercentage: Annotated[int, Meta(ge=0, le=100)] = 50
    isOrganizerOptional: bool = False
    bufferBefore: Minutes240 = 0
    bufferAfter: Minutes240 = 0
    minimumNotice: Annotated[int, Meta(ge=0, le=43_200)] = 0
    maxCandidates: Annotated[int, Meta(ge=1, le=100)] = 20
    timeZone: Zone | None = None


class CountsQuery(Payload):
    localDateNow: Timestamp
    offset: Annotated[int, Meta(ge=0, le=100_000)] = 0
    size: Annotated[int, Meta(ge=0, le=366)] = 30
    timeZone: Zone | None = None


# --- the deprecated API ----------------------------------------------------------------------


class LegacyMeetingIn(Payload):
    startDate: Timestamp
    endDate: Timestamp
    subject: Subject
    roomId: Id
    propId: PropIdOrEmpty | None = None  # null or absent: the room itself, as ""
    color: RGBA | None = None
    invitedUserIds: IdList | None = None


class LegacyCreate(Payload):
    meeting: LegacyMeetingIn


class LegacyMeetingChange(Payload):
    subject: Subject | None = None
    roomId: RoomIdOrEmpty | None = None
    propId: PropIdOrEmpty | None = None
    color: RGBA | None = None
    startDate: Timestamp | None = None
    endDate: Timestamp | None = None


class LegacyUpdate(Payload):
    meetingId: Id
    meeting: LegacyMeetingChange


class DateRange(Payload):
    startDate: Timestamp
    endDate: Timestamp


class PropCheck(Payload):
    roomId: Id
    propId: Id


# --- admin:* (contract section 7) -----------------------------------------------------------


class UserIn(Payload):
    id: Id
    email: Text | UnsetType | None = UNSET
    firstName: Text | UnsetType | None = UNSET
    lastName: Text | UnsetType | None = UNSET
    avatar: Text | UnsetType | None = UNSET
    avatar3D: (
        Annotated[Avatar3D | None, Meta(description=f"At most {MAX_AVATAR3D_BYTES:,} bytes as JSON.")]
        | UnsetType
    ) = UNSET
    privacyMode: Annotated[int, Meta(ge=0, le=1)] | UnsetType | None = UNSET
    companyName: Text | UnsetType | None = UNSET
    companyTitle: Text | UnsetType | None = UNSET
    timeZone: Text | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        check_blob(self.avatar3D, "avatar3D", MAX_AVATAR3D_BYTES)


class UpsertUsers(Payload):
    users: Annotated[list[UserIn], Batch]


class RoomIn(Payload):
    id: Id
    networkId: Text | UnsetType | None = UNSET
    title: Text | UnsetType | None = UNSET
    thumbnail: (
        Annotated[Resource | None, Meta(description=f"At most {MAX_THUMBNAIL_BYTES:,} bytes as JSON.")]
        | UnsetType
    ) = UNSET

    def __post_init__(self) -> None:
        check_blob(self.thumbnail, "thumbnail", MAX_THUMBNAIL_BYTES)


class UpsertRooms(Payload):
    rooms: Annotated[list[RoomIn], Batch]


class PropIn(Payload):
    roomId: Id
    id: Id
    title: Text | UnsetType | None = UNSET


class UpsertProps(Payload):
    props: Annotated[list[PropIn], Batch]


class GroupIn(Payload):
    id: Id
    networkId: Text | UnsetType | None = UNSET
    title: Text | UnsetType | None = UNSET
    memberIds: IdList | UnsetType | None = UNSET


class UpsertGroups(Payload):
    groups: Annotated[list[GroupIn], Batch]


class SessionIn(Payload):
    id: Id
    roomId: Id
    propId: PropIdOrEmpty | UnsetType = UNSET  # absent: the stored one (in the same room)
    startDate: Timestamp | None = None
    endDate: Timestamp | None = None


class UpsertSocialSessions(Payload):
    sessions: Annotated[list[SessionIn], Batch]


class RoomRef(Payload):
    roomId: Id


class PropRef(Payload):
    roomId: Id
    propId: Id


class GroupRef(Payload):
    groupId: Id


class SessionRef(Payload):
    id: Id


class UserRef(Payload):
    userId: Id


class CatalogFile(Payload):
    """The bulk import file of `roomful-meetings catalog import`: the admin shapes together."""

    users: Annotated[list[UserIn], Meta(max_length=1_000_000)] = []
    rooms: Annotated[list[RoomIn], Meta(max_length=1_000_000)] = []
    props: Annotated[list[PropIn], Meta(max_length=1_000_000)] = []
    groups: Annotated[list[GroupIn], Meta(max_length=1_000_000)] = []
    sessions: Annotated[list[SessionIn], Meta(max_length=1_000_000)] = []
