"""meeting:findMeetingTimes (contract 10): ranked times for a meeting, revealing no one's
meetings, only one of four words per person and candidate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from roomful_meetings.domain import findtime as rules
from roomful_meetings.domain.availability import window_bits
from roomful_meetings.domain.time import to_minute
from roomful_meetings.domain.zones import days_between, offset_table
from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.replies import AttendeeAvailability, MeetingTimesReply, TimeSuggestion
from roomful_meetings.service.availability import caller_zone
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import Routes

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)

MAX_WINDOW_DAYS = 62


def window(data: p.FindMeetingTimes) -> tuple[int, int]:
    start, end = to_minute(data.startDate, "data.startDate"), to_minute(data.endDate, "data.endDate")
    if end <= start:
        raise BadRequest("`data.endDate` must be after `data.startDate`")
    if end - start > MAX_WINDOW_DAYS * 1440:
        raise BadRequest(
            f"the window from `data.startDate` to `data.endDate` may span at most {MAX_WINDOW_DAYS} days"
        )
    return start, end


async def attendee_ids(
    services: Services, caller: Caller, data: p.FindMeetingTimes
) -> list[tuple[str, bool]]:
    """(user id, required) of each attendee entry, in request order, by `roomful` id else
    `email`; entries matching no email, repeats and the organizer are left out (ids of no
    user drop out when their profiles are read)."""
    limit = services.settings.max_slot_users
    if len(data.attendees) > limit:
        raise BadRequest(f"`data.attendees` may name at most {limit} users, got {len(data.attendees)}")
    emails = [a.email for a in data.attendees if not a.roomful and a.email]
    by_email = iter(await services.catalog.user_ids_by_email(emails) if emails else [])
    out: list[tuple[str, bool]] = []
    seen = {caller.user_id}
    for attendee in data.attendees:
        uid = attendee.roomful or (next(by_email) if not attendee.roomful and attendee.email else None)
        if uid and uid not in seen:
            seen.add(uid)
            out.append((uid, attendee.type == "required"))
    return out


def now_minute() -> int:
    return int(time.time()) // 60


@routes.endpoint(
    "meeting:findMeetingTimes",
    p.FindMeetingTimes,
    "Ranked times for a meeting with required and optional attendees",
)
async def find_meeting_times(
    services: Services, caller: Caller, data: p.FindMeetingTimes
) -> MeetingTimesReply:
    start, end = window(data)
    zone = await caller_zone(services, caller, data.timeZone, data.startDate, store=False)
    attendees = await attendee_ids(services, caller, data)
    organizer = caller.user_id
    low, high = start - data.bufferBefore, end + data.bufferAfter
    users, entries = await services.availability.entries(
        [organizer] + [uid for uid, _ in attendees], low, high, default_zone=zone
    )
    matched = [(uid, required) for uid, required in attendees if uid in users]
    if data.attendees and not matched:
        return MeetingTimesReply([], rules.NOT_FOUND)
    counted = ([] if data.isOrganizerOptional else [(organizer, True)]) + matched
    if not counted:
        return MeetingTimesReply([], rules.ATTENDEES_UNAVAILABLE)
    grid = rules.candidate_starts(
        days_between(zone, start, end),
        start,
        end,
        data.duration,
        data.step,
        now_minute() + data.minimumNotice,
    )
    states = [
        rules.person_states(
            rules.Person(
                uid,
                required,
                entries[uid][1] if uid in entries else [],
                window_bits(users[uid], start, end),
                start,
                end - start,
            ),
            grid,
            data.duration,
            data.bufferBefore,
            data.bufferAfter,
        )
        for uid, required in counted
    ]
    return answer(
        zone,
        Search(start, end, data.duration, data.minimumAttendeePercentage, data.maxCandidates),
        grid,
        tuple(counted),
        tuple(states),
        len(data.attendees),
        len(matched),
        data.isOrganizerOptional,
    )


@dataclass(frozen=True, slots=True)
class Search:
    start: int
    end: int
    duration: int
    percentage: int
    limit: int


@lru_cache(maxsize=1024)
def answer(
    zone: str,
    search: Search,
    grid: rules.Grid,
    counted: tuple[tuple[str, bool], ...],
    states: tuple[rules.States, ...],
    given: int,
    matched: int,
    organizer_optional: bool,
) -> MeetingTimesReply:
    """The reply, from each counted person's states (pure, so cached: searches repeat, and
    ranking and the 20 x 51 words were most of a repeated search's time). Callers must
    not change the reply."""
    required = [r for _, r in counted]
    chosen = rules.rank(states, required, len(grid.starts), search.percentage, search.limit)
    if not chosen:
        organizer_states = None if organizer_optional else states[0]
        return MeetingTimesReply([], rules.empty_reason(given, matched, organizer_states))
    table = offset_table(zone, search.start, search.end)
    # words[person][k]: that person's word at the k-th chosen candidate
    words = [person.words_at([s.index for s in chosen]) for person in states]
    suggestions = [
        TimeSuggestion(
            startDate=table.format(grid.starts[s.index]),
            endDate=table.format(grid.starts[s.index] + search.duration),
            confidence=rules.confidence(s.free, s.tentative, len(counted)),
            attendees=[AttendeeAvailability(uid, words[p][k]) for p, (uid, _) in enumerate(counted)],
        )
        for k, s in enumerate(chosen)
    ]
    return MeetingTimesReply(suggestions, "")
