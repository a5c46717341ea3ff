"""One busy rule (contract 10), over random calendars: findMeetingTimes' words agree with a
hand-kept model of the meetings and RSVPs; every time it suggests (all required free) is
accepted by rejectConflicts when nothing changed in between, and without buffers every time
it leaves out collides; the day's slot search frees exactly the suggested times.

People in UTC with no availability settings (availability has its own oracle test), single
meetings and daily series, each invitee having accepted, declined or only received each.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.replies import MeetingTimesReply
from roomful_meetings.service import availability, conflicts, findtime
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.meetings import accept_meeting, create_meeting, decline_meeting
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services

PEOPLE = 4
DAY = int(datetime(2031, 5, 5, tzinfo=UTC).timestamp()) // 60  # a Monday, in epoch minutes
STATUSES = ("received", "accepted", "declined")


@dataclass(frozen=True)
class Made:
    organizer: int
    invited: dict[int, str]  # invitee -> status
    start: int
    end: int
    count: int  # daily instances; 0: a single meeting

    def times(self) -> list[tuple[int, int]]:
        if not self.count:
            return [(self.start, self.end)]
        return [(self.start + k * 1440, self.end + k * 1440) for k in range(self.count)]


@st.composite
def made(draw: st.DrawFn) -> Made:
    organizer = draw(st.integers(0, PEOPLE - 1))
    others = [i for i in range(PEOPLE) if i != organizer]
    invited = draw(st.dictionaries(st.sampled_from(others), st.sampled_from(STATUSES)))
    start = DAY - 1440 + 15 * draw(st.integers(0, 4 * 24 * 3))  # from the day before to the day after
    count = draw(st.sampled_from([0, 0, 3]))
    start -= count and 1440 * draw(st.integers(0, 2))  # series from before the day
    return Made(organizer, invited, start, start + 15 * draw(st.integers(1, 16)), count)


def utc(minute: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)


def minute(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp()) // 60


def word(meetings: list[Made], person: int, start: int, end: int) -> str:
    """The model: busy when organizing or accepted, tentative when received."""
    found = "free"
    for m in meetings:
        status = "accepted" if m.organizer == person else m.invited.get(person, "")
        if status in ("accepted", "received") and any(a < end and b > start for a, b in m.times()):
            if status == "accepted":
                return "busy"
            found = "tentative"
    return found


async def apply(services: Services, meetings: list[Made], ids: list[str]) -> None:
    await services.catalog.upsert_rooms([p.RoomIn(id="room")])
    await services.catalog.upsert_users([p.UserIn(id=uid, timeZone="UTC") for uid in ids])
    for m in meetings:
        request = p.CreateMeeting(
            sourceType="room",
            sourceIds=["room"],
            subject="s",
            startDate=utc(m.start),
            endDate=utc(m.end),
            invitedUserIds=[ids[i] for i in m.invited],
            recurrence=p.RecurrenceIn(rule=f"FREQ=DAILY;COUNT={m.count}", timeZone="UTC")
            if m.count
            else None,
        )
        reply = await create_meeting(services, Caller(ids[m.organizer]), request)
        meeting_id = p.MeetingRef(meetingId=str(msgspec.json.decode(reply.meeting)["meetingId"]))
        for i, status in m.invited.items():
            if status == "accepted":
                await accept_meeting(services, Caller(ids[i]), meeting_id)
            elif status == "declined":
                await decline_meeting(services, Caller(ids[i]), meeting_id)


_examples = itertools.count()


@settings(
    max_examples=max(40, settings().max_examples // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(made(), max_size=8), st.sampled_from([30, 60, 90]), st.booleans())
def test_suggestions_conflicts_and_slots_agree(
    redis_server: RedisProcess, prefix: str, meetings: list[Made], duration: int, buffered: bool
) -> None:
    run = next(_examples)
    ids = [f"u{i}-{run}" for i in range(PEOPLE)]
    asker = [f"asker-{run}"]
    before, after = (15, 10) if buffered else (0, 0)

    async def check() -> None:
        async with open_services(redis_server, prefix) as services:
            await apply(services, meetings, ids)
            await services.catalog.upsert_users([p.UserIn(id=uid, timeZone="UTC") for uid in asker])
            # Asked by someone with no meetings, everyone optional, no share required:
            # every candidate comes back, with everyone's word.
            ask = p.FindMeetingTimes(
                attendees=[p.Attendee(roomful=uid, type="optional") for uid in ids],
                startDate=utc(DAY + 8 * 60),
                endDate=utc(DAY + 18 * 60),
                duration=duration,
                minimumAttendeePercentage=0,
                isOrganizerOptional=True,
                bufferBefore=before,
                bufferAfter=after,
                maxCandidates=100,
                timeZone="UTC",
            )
            raw = await findtime.find_meeting_times(services, Caller(f"asker-{run}"), ask)
            reply = msgspec.json.decode(msgspec.json.encode(raw), type=MeetingTimesReply)
            candidates = range(DAY + 8 * 60, DAY + 18 * 60 - duration + 1, 30)
            words = {}
            for s in reply.suggestions:
                start = minute(s.startDate)
                words[start] = got = [a.availability for a in s.attendees]
                assert [a.userId for a in s.attendees] == ids
                assert got == [
                    word(meetings, i, start - before, start + duration + after) for i in range(PEOPLE)
                ]
                free, tentative = got.count("free"), got.count("tentative")
                assert s.confidence == (100 * free + 50 * tentative) // PEOPLE
            assert sorted(words) == list(candidates)
            order = [(-w.count("free"), -w.count("tentative"), start) for start, w in words.items()]
            assert [minute(s.startDate) for s in reply.suggestions] == [start for *_, start in sorted(order)]
            everyone_free = {start for start, w in words.items() if w == ["free"] * PEOPLE}
            for start in candidates:
                busy, _ = await conflicts.conflicting(services, ids, [(start, start + duration)], ())
                if start in everyone_free:
                    assert busy == [], start  # never refused when suggested
                elif not buffered:
                    assert busy, start
            if not buffered:
                query = p.SlotQuery(
                    users=[p.SlotUser(roomful=uid) for uid in ids], localDate=utc(DAY), includeSelf=False
                )
                slots = await availability.slots_for_day(services, Caller(ids[0]), query)
                spans = [(minute(x.startDate), minute(x.endDate)) for x in slots.availableTimeSlots]
                for start in candidates:
                    in_slot = any(a <= start and start + duration <= b for a, b in spans)
                    assert in_slot == (start in everyone_free), start
            if everyone_free:
                first = min(everyone_free)
                booked = p.CreateMeeting(
                    sourceType="room",
                    sourceIds=["room"],
                    subject="booked",
                    startDate=utc(first),
                    endDate=utc(first + duration),
                    invitedUserIds=ids[1:],
                    rejectConflicts=True,
                )
                await create_meeting(services, Caller(ids[0]), booked)

    trio.run(check)
