"""Meetings: one function per Lua script; every change also writes and publishes its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from roomful_meetings.domain.instances import SeriesState
from roomful_meetings.domain.meetings import MAX_MEETING_MINUTES, Source
from roomful_meetings.storage.base import NO_WRITE, ScriptArg, Store, Write
from roomful_meetings.storage.feeds import FeedStore
from roomful_meetings.storage.series import SeriesStore, pairs, parse_state

# The meeting object's fields that are stored as JSON, in the order it shows them
# (MEETING_FIELDS of lua/includes/meeting_json.lua).
MEETING_FIELDS: Final = ("meetingId", "created", "updated", "subject", "description", "color",
    "organizerId", "sourceString", "sourceType", "sourcePk", "startDate", "endDate")  # fmt: skip


@dataclass(frozen=True, slots=True)
class MeetingFields:
    """Stored JSON values of a meeting, each already encoded (None: leave unchanged)."""

    values: dict[str, object]

    def encoded(self) -> dict[str, bytes]:
        return {name: msgspec.json.encode(value) for name, value in self.values.items()}

    def pairs(self) -> list[ScriptArg]:
        return field_pairs(self.encoded())


def field_pairs(encoded: dict[str, bytes]) -> list[ScriptArg]:
    """Hash field/value pairs of encoded JSON values: "j:<name>", value."""
    return [part for name, value in encoded.items() for part in (f"j:{name}", value)]


def json_id(text: str) -> bytes:
    """An id as JSON, byte for byte as the scripts' json_quote (cjson) writes it: msgspec
    writes the same but for "/", which cjson escapes. (Ids hold no control characters.)"""
    return msgspec.json.encode(text).replace(b"/", b"\\/")


_FIELD_KEYS: Final = tuple(
    (b"{" if i == 0 else b",") + b'"%s":' % name.encode() for i, name in enumerate(MEETING_FIELDS)
)


def new_meeting_json(
    encoded: dict[str, bytes], participants: list[str], recurrence: bytes | None
) -> tuple[bytes, bytes]:
    """A new meeting's object as lua/includes/meeting_json.lua builds it from the stored hash,
    in two parts: up to the networkId value, which only the script reads, and after it.
    Built here because Redis is the one part that does not scale out: this was an eighth
    of what a create cost it (6 us of Python here)."""
    head = [
        part for key, name in zip(_FIELD_KEYS, MEETING_FIELDS, strict=True) for part in (key, encoded[name])
    ]
    head.append(b',"isValid":true,"networkId":')
    quoted = [json_id(uid) for uid in participants]
    people = [b'{"userId":%s,"status":"received"}' % uid for uid in quoted]
    people[0] = b'{"userId":%s,"status":"accepted"}' % quoted[0]  # the organizer comes first
    tail = [b',"participantIds":[', b",".join(quoted), b'],"participants":[', b",".join(people), b"]"]
    if recurrence is not None:
        tail += [b',"recurrence":', recurrence]
    tail.append(b"}")
    return b"".join(head), b"".join(tail)


@dataclass(frozen=True, slots=True)
class MeetingPage:
    meetings: list[msgspec.Raw]
    has_more: bool
    # The caller's series that may have instances in the range: (series object, state).
    series: list[tuple[dict[str, Any], SeriesState]] = field(default_factory=list)
    # The single meetings stop where their JSON passed `max_bytes`: later ones were not read.
    cut: bool = False


class MeetingStore(Store):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.series = SeriesStore(self.redis, self.scripts, self.keys)
        self.feeds = FeedStore(self.redis, self.scripts, self.keys)

    async def create(
        self,
        meeting_id: str,
        organizer: str,
        source: Source,
        source_key: str,
        start: int,
        end: int,
        participants: list[str],
        fields: MeetingFields,
        series_fields: dict[str, object] | None = None,
        write: Write = NO_WRITE,
    ) -> msgspec.Raw:
        """Create a meeting, or a series when `series_fields` (rule, tz, len, lo, hi and
        j:recurrence, see lua/create_meeting.lua) are given."""
        if not participants or participants[0] != organizer:
            # The meeting's JSON (new_meeting_json) marks the first participant accepted.
            raise ValueError("the organizer must come first among the participants")
        k, index = self.keys, self.keys.source(source.string)
        network = {"room": k.room(source.room), "prop": k.room(source.room), "group": source_key}
        members = k.group_members(source.pk) if source.type == "group" else index
        encoded = fields.encoded()
        recurrence = None if series_fields is None else msgspec.json.encode(series_fields["j:recurrence"])
        keys = [k.meeting(meeting_id), source_key, index, network.get(source.type, source_key), members]
        args: list[ScriptArg] = [
            meeting_id,
            organizer,
            source.type,
            source.pk,
            source.room,
            source.string,
            start,
            end,
            msgspec.json.encode(participants),
            *new_meeting_json(encoded, participants, recurrence),
            *field_pairs(encoded),
            *pairs(series_fields or {}),
        ]
        (meeting,) = await self.run("create_meeting", keys, args, write=write)
        return msgspec.Raw(meeting)

    async def check_change(
        self, organizer: str, added: list[str], source: Source | None = None, source_key: str = ""
    ) -> None:
        """Raise the 404 or 403 that a change by `organizer`, adding `added` (and made in
        `source`), would get from its script before it writes (lua/check_change.lua)."""
        if source is None:  # no source read: any two keys of the tenant
            keys = [self.keys.user(organizer)] * 2
            args: list[ScriptArg] = [organizer, msgspec.json.encode(added), "", "", ""]
        else:
            members = self.keys.group_members(source.pk) if source.type == "group" else source_key
            keys = [source_key, members]
            args = [organizer, msgspec.json.encode(added), source.type, source.pk, source.room]
        await self.run("check_change", keys, args)

    async def update(
        self,
        meeting_id: str,
        caller: str,
        *,
        start: int | None,
        end: int | None,
        participants: list[str] | None,
        fields: MeetingFields,
        move_to: Source | None = None,
        max_invitees: int,
        write: Write = NO_WRITE,
    ) -> msgspec.Raw:
        args: list[ScriptArg] = [
            meeting_id,
            caller,
            "" if start is None else start,
            "" if end is None else end,
            b"" if participants is None else msgspec.json.encode(participants),
            MAX_MEETING_MINUTES,
            max_invitees,
        ]
        k = self.keys
        keys = [k.meeting(meeting_id)] * 3
        if move_to is None:
            args += ["", "", "", ""]
        else:
            args += [move_to.type, move_to.pk, move_to.room, move_to.string]
            place = k.prop(move_to.room, move_to.pk) if move_to.type == "prop" else k.room(move_to.room)
            keys[1:] = [place, k.room(move_to.room)]
        (meeting,) = await self.run("update_meeting", keys, args + fields.pairs(), write=write)
        return msgspec.Raw(meeting)

    async def delete(self, meeting_id: str, caller: str, *, write: Write = NO_WRITE) -> None:
        await self.run("delete_meeting", [self.keys.meeting(meeting_id)], [meeting_id, caller], write=write)

    async def set_rsvp(self, meeting_id: str, caller: str, status: str, *, write: Write = NO_WRITE) -> bool:
        keys = [self.keys.meeting(meeting_id)]
        (changed,) = await self.run("set_rsvp", keys, [meeting_id, caller, status], write=write)
        return bool(changed)

    async def get(self, meeting_id: str, caller: str) -> msgspec.Raw:
        (meeting,) = await self.run("get_meeting", [self.keys.meeting(meeting_id)], [meeting_id, caller])
        return msgspec.Raw(meeting)

    async def list_for_user(
        self,
        user_id: str,
        start: int,
        end: int,
        *,
        filter_type: str = "",
        filter_ids: tuple[str, str] = ("", ""),
        limit: int = 1000,
        max_bytes: int = 0,
        window_states: bool = False,
    ) -> MeetingPage:
        """The caller's single meetings overlapping [start, end) (at most `limit`, and none
        after the one whose JSON passes `max_bytes` in all, unless 0), and the series that
        may have instances there. With `window_states` their states hold only what their
        instances in [start, end) need (not kept in the cache of whole states): enough to
        list them, not to export a series (a feed needs every EXDATE)."""
        args: list[ScriptArg] = [
            user_id,
            start,
            end,
            MAX_MEETING_MINUTES,
            filter_type,
            *filter_ids,
            limit,
            max_bytes,
            "1" if window_states else "",
        ]
        keys = [self.keys.user_meetings(user_id), self.keys.user_series(user_id)]
        has_more, singles, series, cut = await self.run("list_user_meetings", keys, args)
        return MeetingPage(
            [msgspec.Raw(m) for m in singles],
            bool(has_more),
            [
                (msgspec.json.decode(json), parse_state(self.keys.scope, state, whole=not window_states))
                for json, state in series
            ],
            bool(cut),
        )

    async def series_for_user(
        self, user_id: str, start: int, end: int
    ) -> list[tuple[dict[str, Any], SeriesState]]:
        """The user's series that may have instances in [start, end): the listing without
        its single meetings (a limit of 0 stops their loop at the first; calendar feeds read
        those as hashes, storage/feeds.py)."""
        return (await self.list_for_user(user_id, start, end, limit=0)).series
