"""The `data` of successful responses, one Struct per kind of reply.

Meetings travel as the JSON that Lua composed (the service hands it on as msgspec.Raw,
see RawMeetingReply); MeetingReply and MeetingList are their typed shape, used by the
client and the AsyncAPI document. Likewise findMeetingTimes answers RawMeetingTimesReply,
encoded once and cached, typed as MeetingTimesReply.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from roomful_meetings.protocol.models import LegacyMeeting, Meeting


class MeetingReply(Struct):
    meeting: Meeting


class ListedMeeting(Meeting, kw_only=True):
    """A meeting as listUserMeetings shows it: with the caller's own id and status."""

    userId: str
    status: str


class MeetingList(Struct):
    meetings: list[ListedMeeting]
    hasMore: bool


class RawMeetingReply(Struct):
    meeting: msgspec.Raw


class RawMeetingList(Struct):
    meetings: list[msgspec.Raw]
    hasMore: bool


class Span(Struct):
    startDate: str
    endDate: str


class Availability(Struct):
    status: str
    dates: list[Span]


class AvailabilityReply(Struct):
    availability: Availability


class Pattern(Struct):
    availabilities: list[Availability]


class PatternReply(Struct):
    pattern: Pattern


class SlotsReply(Struct):
    availableTimeSlots: list[Span]


class AttendeeAvailability(Struct):
    userId: str
    availability: str  # "free" | "tentative" | "busy" | "unavailable"


class TimeSuggestion(Struct):
    startDate: str
    endDate: str
    confidence: int
    attendees: list[AttendeeAvailability]


class MeetingTimesReply(Struct):
    suggestions: list[TimeSuggestion]
    emptySuggestionsReason: str


class RawTimeSuggestion(Struct):
    """A TimeSuggestion whose attendees are already encoded (a JSON array)."""

    startDate: str
    endDate: str
    confidence: int
    attendees: msgspec.Raw


class RawMeetingTimesReply(Struct):
    """A MeetingTimesReply whose suggestions are already encoded (a JSON array): what the
    service answers and caches (service/findtime.py)."""

    suggestions: msgspec.Raw
    emptySuggestionsReason: str


class DayCount(Struct):
    count: int
    startDate: str
    endDate: str


class CountsReply(Struct):
    meetingCounts: list[DayCount]


class LegacyReply(Struct):
    meeting: LegacyMeeting


class RawLegacyReply(Struct):
    """A deprecated create or update's answer as first encoded (a repeat gets it again)."""

    meeting: msgspec.Raw


class LegacyList(Struct):
    meetings: list[LegacyMeeting]


class RawLegacyList(Struct):
    """A LegacyList whose meetings are already encoded, each as it was made (the answer's
    size is counted as it grows: protocol/budget.py)."""

    meetings: list[msgspec.Raw]


class PropCheckReply(Struct):
    hasMeetingsOrSocialSessions: bool


class FeedUrlReply(Struct):
    """meeting:getCalendarFeed / resetCalendarFeed: the caller's secret feed URL."""

    url: str


class IcsReply(Struct):
    """meeting:exportMeeting: one meeting as an RFC 5546 METHOD:REQUEST invitation."""

    ics: str
