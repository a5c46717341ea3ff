"""What the server pushes: the `data` of each event frame.

Meeting events are composed inside Lua (one frame for all recipients); these Structs are
their documented shape (docs/asyncapi.json is generated from them) and what the server
itself encodes for connection events.
"""

from __future__ import annotations

from msgspec import Struct

from roomful_meetings.protocol.models import LegacyMeeting, Meeting


class MeetingEvent(Struct):
    """meeting:onMeetingCreated and meeting:onMeetingUpdated."""

    meeting: Meeting


class MeetingDeletedEvent(Struct):
    """meeting:onMeetingDeleted, and the deprecated meeting:meetingDeleted."""

    meetingId: str


class LegacyMeetingEvent(Struct):
    """The deprecated meeting:meetingUpdated (legacy=1 connections)."""

    meeting: LegacyMeeting


class Ready(Struct):
    """connection:ready: the newest event id of the user when the connection went live."""

    lastEventId: str


class RecoveryIncomplete(Struct):
    """connection:recoveryIncomplete: `since` is unknown or older than what is kept."""

    since: str
    oldestEventId: str


# endpoint -> (payload, summary), in the order the guide lists them
EVENTS: dict[str, tuple[type[Struct], str]] = {
    "meeting:onMeetingCreated": (MeetingEvent, "A meeting the user takes part in was created"),
    "meeting:onMeetingUpdated": (MeetingEvent, "A meeting the user takes part in changed"),
    "meeting:onMeetingDeleted": (MeetingDeletedEvent, "A meeting the user took part in was deleted"),
    "meeting:meetingUpdated": (LegacyMeetingEvent, "DEPRECATED (legacy=1): a meeting was created or changed"),
    "meeting:meetingDeleted": (MeetingDeletedEvent, "DEPRECATED (legacy=1): a meeting was deleted"),
    "connection:ready": (Ready, "The connection is live; replayed events (since=) follow it, then live ones"),
    "connection:recoveryIncomplete": (
        RecoveryIncomplete,
        "since= could not be honoured in full; the client should reload its state",
    ),
}
