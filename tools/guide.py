"""Write docs/guide.md from a real session: every endpoint called once, frames as sent and
received, pushes as the other participants got them.

    .venv/bin/python tools/guide.py --url ws://127.0.0.1:8765 --secret <jwt secret>

(the server started with `--public-base-url https://meet.example`, for the feed URLs)

tests/test_guide.py runs it against a fresh server and fails when docs/guide.md differs, so
every example in the guide is what the server really answers. Values that change from run
to run (meeting ids, event ids, creation times) are replaced by stable stand-ins.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from roomful_meetings.auth import mint_token
from roomful_meetings.client import Client, Frame, connect
from roomful_meetings.service.endpoints import ENDPOINTS

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
USERS = ("alice", "bob", "carol")
WEEKDAYS = 0b0111110  # Monday to Friday (bit 0 is Sunday)

INTRO = """\
# Roomful Meetings: a guided session

Every example below was recorded from a real server by `tools/guide.py` (a test re-records
it and fails if this file is out of date); only ids and creation times are replaced by
stand-ins. The full machine-readable description is [asyncapi.json](asyncapi.json);
the rules behind the answers (errors, time, limits) are in [protocol.md](protocol.md).

## Connecting

Open a websocket to the server with a JWT, in the `Authorization: Bearer <jwt>` header or
as `?token=<jwt>`. `roomful-meetings token --user alice` prints one for a local server.
The first frame is `connection:ready`; add `since=<event id>` to the URL to get the events
you missed first, and `legacy=1` for the deprecated events.

A request is `{"endpoint", "data", "event"}`; `event.id` is yours to choose, comes back in
the response, and makes a change safe to retry: sending the same id again within 10
minutes returns the first answer without changing anything twice. A response always has
`error`; `error.status` true means `data` is null and `error.code` says why.

In this session alice, bob and carol are users and `root` holds an admin token. Frames
marked `->` are sent, `<-` received, `<= user` pushed to that user.
"""


@dataclass
class Session:
    conns: dict[str, Client]
    received: dict[str, list[str | bytes]]  # user -> frames as the server sent them, in order
    out: list[str] = field(default_factory=list)

    def section(self, title: str, text: str = "") -> None:
        self.out.append(f"\n## {title}\n")
        if text:
            self.out.append(text.strip() + "\n")

    async def call(self, user: str, endpoint: str, data: Any, *, text: str = "") -> Frame:
        self.out.append(f"\n### {endpoint}\n\n{ENDPOINTS[endpoint].summary}.\n")
        if text:
            self.out.append("\n" + text.strip() + "\n")
        event = {"id": f"{user}-{len(self.out)}"}
        frame = {"endpoint": endpoint, "data": data, "event": event}
        reply = await self.conns[user].request(endpoint, data, event_id=event["id"])
        self.frames(f"{user} ->", frame)
        self.frames(f"{user} <-", json.loads(self.sent_to(user, endpoint, event["id"])))
        return reply

    async def pushed(self, user: str, endpoint: str) -> Frame:
        frame = await self.conns[user].next_push(endpoint)
        event_id = frame.event.id if frame.event else None
        self.frames(f"<= {user}", json.loads(self.sent_to(user, endpoint, event_id)))
        return frame

    def sent_to(self, user: str, endpoint: str, event_id: Any) -> str | bytes:
        """The text of the frame as the server sent it (not as the client re-encodes it)."""
        for text in self.received[user]:
            value = json.loads(text)
            if value.get("endpoint") == endpoint and (value.get("event") or {}).get("id") == event_id:
                return text
        raise AssertionError(f"no {endpoint} frame with event id {event_id} for {user}")

    def frames(self, label: str, value: Any) -> None:
        self.out.append(f"\n{label}\n\n```json\n{json.dumps(value, indent=2)}\n```\n")


async def story(s: Session) -> None:
    s.section(
        "Catalog (admin)", "An admin token (`role: admin`) loads users, rooms, props, groups and sessions."
    )
    await s.call(
        "root",
        "admin:upsertUsers",
        {
            "users": [
                {
                    "id": "alice",
                    "email": "alice@example.com",
                    "firstName": "Alice",
                    "timeZone": "Europe/Berlin",
                },
                {"id": "bob", "email": "bob@example.com", "firstName": "Bob", "timeZone": "America/New_York"},
                {"id": "carol", "email": "carol@example.com", "firstName": "Carol", "timeZone": "Asia/Tokyo"},
            ]
        },
    )
    await s.call(
        "root", "admin:upsertRooms", {"rooms": [{"id": "lobby", "networkId": "acme", "title": "Lobby"}]}
    )
    await s.call(
        "root", "admin:upsertProps", {"props": [{"roomId": "lobby", "id": "table", "title": "Table"}]}
    )
    await s.call(
        "root",
        "admin:upsertGroups",
        {"groups": [{"id": "team", "networkId": "acme", "memberIds": ["alice", "bob"]}]},
    )
    await s.call(
        "root",
        "admin:upsertSocialSessions",
        {
            "sessions": [
                {
                    "id": "standup",
                    "roomId": "lobby",
                    "propId": "table",
                    "startDate": "2030-03-04T09:00:00Z",
                    "endDate": "2030-03-04T09:15:00Z",
                }
            ]
        },
    )

    s.section(
        "Meetings", "The organizer is a participant who has accepted; every participant gets the events."
    )
    created = await s.call(
        "alice",
        "meeting:createMeeting",
        {
            "sourceType": "prop",
            "sourceIds": ["lobby", "table"],
            "subject": "Planning",
            "description": "Next quarter",
            "startDate": "2030-03-04T14:00:00+01:00",
            "endDate": "2030-03-04T15:00:00+01:00",
            "invitedUserIds": ["bob", "carol"],
        },
    )
    mid = created.data["meeting"]["meetingId"]
    await s.pushed("bob", "meeting:onMeetingCreated")
    await s.call("bob", "meeting:getMeeting", {"meetingId": mid})
    await s.call(
        "bob",
        "meeting:exportMeeting",
        {"meetingId": mid},
        text="The meeting as an RFC 5546 invitation, for a participant to import into a calendar app.",
    )
    await s.call("bob", "meeting:acceptMeetingRequest", {"meetingId": mid})
    await s.pushed("alice", "meeting:onMeetingUpdated")
    await s.call("carol", "meeting:declineMeetingRequest", {"meetingId": mid})
    await s.pushed("alice", "meeting:onMeetingUpdated")
    await s.call(
        "alice",
        "meeting:updateMeeting",
        {
            "meetingId": mid,
            "subject": "Planning (moved)",
            "startDate": "2030-03-04T16:00:00+01:00",
            "endDate": "2030-03-04T17:00:00+01:00",
        },
        text="A new time resets every invitee's answer to `received`.",
    )
    await s.pushed("bob", "meeting:onMeetingUpdated")
    await s.call(
        "bob",
        "meeting:listUserMeetings",
        {
            "startDate": "2030-03-01T00:00:00Z",
            "endDate": "2030-04-01T00:00:00Z",
            "sourceType": "prop",
            "sourceIds": ["lobby", "table"],
        },
    )
    other = await s.call(
        "alice",
        "meeting:createMeeting",
        {
            "sourceType": "group",
            "sourceIds": ["team"],
            "subject": "Retro",
            "startDate": "2030-03-05T10:00:00Z",
            "endDate": "2030-03-05T10:30:00Z",
            "invitedUserIds": ["bob"],
        },
    )
    await s.pushed("bob", "meeting:onMeetingCreated")
    await s.call("alice", "meeting:deleteMeeting", {"meetingId": other.data["meeting"]["meetingId"]})
    await s.pushed("bob", "meeting:onMeetingDeleted")

    s.section(
        "Availability and time slots",
        "Weekly patterns are wall-clock times in the user's zone (`repetition`: bit 0 = Sunday ... "
        "bit 6 = Saturday); a day without `repetition` sets that one local day. Slots are the time "
        "when everyone asked (and the caller, unless `includeSelf` is false) is available and "
        "not in a meeting, in the caller's zone.",
    )
    for user, start, end in (
        ("alice", "2030-03-04T09:00:00+01:00", "2030-03-04T18:00:00+01:00"),
        ("bob", "2030-03-04T08:00:00-05:00", "2030-03-04T12:00:00-05:00"),
    ):
        weekdays = {
            "status": "Available",
            "repetition": WEEKDAYS,
            "dates": [{"startDate": start, "endDate": end}],
        }
        await s.call(user, "meeting:setUserAvailability", {"availability": weekdays, "localDate": start})
    await s.call(
        "bob",
        "meeting:setUserAvailability",
        {
            "availability": {
                "status": "NotAvailable",
                "dates": [{"startDate": "2030-03-06T08:00:00-05:00", "endDate": "2030-03-06T12:00:00-05:00"}],
            },
            "localDate": "2030-03-06T12:00:00-05:00",
        },
        text="A day off: without `repetition`, the dates set that one local day.",
    )
    await s.call("alice", "meeting:getUserAvailabilityPattern", {"localDate": "2030-03-04T12:00:00+01:00"})
    await s.call("bob", "meeting:getUserAvailabilityForDay", {"localDate": "2030-03-06T12:00:00-05:00"})
    await s.call("bob", "meeting:getUserAvailabilityForWeek", {"localDate": "2030-03-06T12:00:00-05:00"})
    await s.call("alice", "meeting:getUserAvailabilityForMonth", {"localDate": "2030-02-10T12:00:00+01:00"})
    await s.call(
        "alice",
        "meeting:getTimeSlotsForMeeting",
        {"users": [{"roomful": "bob"}], "localDate": "2030-03-04T12:00:00+01:00"},
        text="Bob's 08:00-12:00 in New York is 14:00-18:00 in Berlin; the meeting at 16:00 is busy.",
    )
    await s.call(
        "alice",
        "meeting:getMeetingTimeSlotsForMonth",
        {"users": [{"email": "bob@example.com"}], "localDate": "2030-02-10T12:00:00+01:00", "duration": 180},
    )
    await s.call(
        "bob",
        "meeting:listUserMeetingCounts",
        {"localDateNow": "2030-03-03T12:00:00-05:00", "size": 4},
    )

    s.section(
        "Finding a time",
        "`meeting:findMeetingTimes` ranks the times of a window where the organizer and every "
        "required attendee are free: by how many of the people counted are free, then tentative "
        "(invited, not yet answered), then start. Each person is only ever `free`, `tentative`, "
        "`busy` or `unavailable`. `rejectConflicts` books a time only if nobody is busy then, in "
        "one atomic step with the write.",
    )
    found = await s.call(
        "alice",
        "meeting:findMeetingTimes",
        {
            "attendees": [{"roomful": "bob"}, {"email": "carol@example.com", "type": "optional"}],
            "startDate": "2030-03-04T00:00:00+01:00",
            "endDate": "2030-03-07T00:00:00+01:00",
            "duration": 60,
            "maxCandidates": 3,
        },
        text="Carol (Tokyo) is optional and sets no hours, so she counts as free whenever she has "
        "no meeting; Bob's morning in New York is Alice's afternoon.",
    )
    await s.call(
        "alice",
        "meeting:createMeeting",
        {
            "sourceType": "room",
            "sourceIds": ["lobby"],
            "subject": "Clash",
            "startDate": "2030-03-04T16:00:00+01:00",
            "endDate": "2030-03-04T17:00:00+01:00",
            "invitedUserIds": ["bob"],
            "rejectConflicts": True,
        },
        text="The meeting at 16:00 makes both of them busy then: 409, naming them, and nothing changes.",
    )
    best = found.data["suggestions"][0]
    await s.call(
        "alice",
        "meeting:createMeeting",
        {
            "sourceType": "room",
            "sourceIds": ["lobby"],
            "subject": "Found a time",
            "startDate": best["startDate"],
            "endDate": best["endDate"],
            "invitedUserIds": ["bob", "carol"],
            "rejectConflicts": True,
        },
        text="The best suggestion, booked safely.",
    )

    s.section(
        "Calendar feeds",
        "A secret iCalendar URL per user, for Google Calendar, Outlook or Apple Calendar to "
        "subscribe to (docs/calendar.md). The server here runs with "
        "`--public-base-url https://meet.example`.",
    )
    await s.call("bob", "meeting:getCalendarFeed", {}, text="The same URL every time, from every instance.")
    await s.call(
        "bob", "meeting:resetCalendarFeed", {}, text="A new URL; the old one answers 404 from now on."
    )

    s.section(
        "The deprecated API",
        "Old clients still call these; they read and write the same meetings. Connections with "
        "`legacy=1` also get `meeting:meetingUpdated` and `meeting:meetingDeleted`.",
    )
    old = await s.call(
        "alice",
        "meeting:create",
        {
            "meeting": {
                "roomId": "lobby",
                "propId": "table",
                "subject": "Old style",
                "startDate": "2030-03-07T10:00:00Z",
                "endDate": "2030-03-07T11:00:00Z",
                "invitedUserIds": ["bob"],
            }
        },
    )
    old_id = old.data["meeting"]["id"]
    await s.call(
        "alice", "meeting:update", {"meetingId": old_id, "meeting": {"subject": "Old style, renamed"}}
    )
    await s.call("bob", "meeting:get", {"meetingId": old_id})
    await s.call(
        "bob",
        "meeting:listUserMeetingsInDateRange",
        {"startDate": "2030-03-07T00:00:00Z", "endDate": "2030-03-08T00:00:00Z"},
    )
    await s.call(
        "alice", "meeting:checkPropHasMeetingsOrSocialSessions", {"roomId": "lobby", "propId": "table"}
    )
    await s.call("alice", "meeting:delete", {"meetingId": old_id})

    s.section(
        "Recurring meetings",
        "A series is one meeting with `recurrence` (an RFC 5545 RRULE on the wall clock of its zone);"
        " each occurrence is an instance `<seriesId>_<original start, UTC>` with its own status.",
    )
    series = await s.call(
        "alice",
        "meeting:createMeeting",
        {
            "sourceType": "room",
            "sourceIds": ["lobby"],
            "subject": "Stand-up",
            "startDate": "2030-03-04T08:00:00Z",
            "endDate": "2030-03-04T08:15:00Z",
            "invitedUserIds": ["carol"],
            "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10", "timeZone": "Europe/Berlin"},
        },
    )
    sid = series.data["meeting"]["meetingId"]
    await s.pushed("carol", "meeting:onMeetingCreated")
    await s.call(
        "carol",
        "meeting:listUserMeetings",
        {"startDate": "2030-03-04T00:00:00Z", "endDate": "2030-03-12T00:00:00Z"},
        text="A series shows as its instances in the range, each with the caller's status for it.",
    )
    await s.call("carol", "meeting:declineMeetingRequest", {"meetingId": f"{sid}_20300311T0800Z"})
    await s.pushed("alice", "meeting:onMeetingUpdated")
    await s.call(
        "alice",
        "meeting:updateMeeting",
        {
            "meetingId": f"{sid}_20300318T0800Z",
            "startDate": "2030-03-18T09:00:00Z",
            "endDate": "2030-03-18T09:15:00Z",
        },
        text="An instance id changes that instance only; it keeps its id, and its invitees are asked again.",
    )
    await s.pushed("carol", "meeting:onMeetingUpdated")
    await s.call(
        "alice",
        "meeting:updateMeeting",
        {"meetingId": f"{sid}_20300325T0800Z", "scope": "following", "subject": "Retro"},
        text="`scope: following` ends the series before this instance and starts a new one there.",
    )
    await s.pushed("carol", "meeting:onMeetingUpdated")
    await s.pushed("carol", "meeting:onMeetingCreated")
    await s.call(
        "alice",
        "meeting:deleteMeeting",
        {"meetingId": f"{sid}_20300304T0800Z"},
        text="Deleting an instance cancels it; `scope: following` would end the series there.",
    )
    await s.pushed("carol", "meeting:onMeetingDeleted")

    s.section("Errors", "Bad input changes nothing and says what is wrong and where.")
    await s.call("bob", "meeting:deleteMeeting", {"meetingId": mid}, text="Only the organizer may delete.")
    await s.call(
        "bob",
        "meeting:createMeeting",
        {
            "sourceType": "room",
            "sourceIds": ["lobby"],
            "subject": "Backwards",
            "startDate": "2030-03-04T11:00:00Z",
            "endDate": "2030-03-04T10:00:00Z",
        },
    )

    s.section(
        "Removing things (admin)",
        "Meetings of a deleted source stay, marked invalid, and participants are told.",
    )
    await s.call("root", "admin:deleteSocialSession", {"id": "standup"})
    await s.call("root", "admin:deleteProp", {"roomId": "lobby", "propId": "table"})
    await s.pushed("bob", "meeting:onMeetingUpdated")
    await s.call("root", "admin:deleteGroup", {"groupId": "team"})
    await s.call("root", "admin:deleteRoom", {"roomId": "lobby"})
    await s.call("root", "admin:deleteUser", {"userId": "carol"})


def stand_ins(text: str) -> str:
    """Replace what changes between runs with stable values, consistently."""
    names: dict[str, str] = {}

    def named(prefix: str) -> Callable[[re.Match[str]], str]:
        def name(match: re.Match[str]) -> str:
            value = match.group(0)
            names.setdefault(value, f"{prefix}{sum(1 for v in names.values() if v.startswith(prefix)) + 1}")
            return names[value]

        return name

    text = re.sub(r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])", named("meeting-"), text)
    text = re.sub(r"\b\d{13}-\d+\b", named("event-"), text)
    text = re.sub(r'"(created|updated|date)": "[^"]+"', r'"\1": "2026-11-23T12:00:00Z"', text)
    text = re.sub(r"(?<=/calendar/)[A-Za-z0-9_-]{43}(?=\.ics)", named("token-"), text)
    text = re.sub(r"(DTSTAMP|CREATED|LAST-MODIFIED):\d{8}T\d{6}Z", r"\1:20261123T120000Z", text)
    return re.sub(r"\b(alice|bob|carol|root)-\d+\b", lambda m: m.group(1) + "-req", text)


async def record(url: str, token_for: Callable[[str], str]) -> str:
    received: dict[str, list[str | bytes]] = {user: [] for user in ("root", *USERS)}
    async with (
        connect(url, token_for("root"), received["root"].append) as root,
        connect(url, token_for("alice"), received["alice"].append) as alice,
        connect(url, token_for("bob"), received["bob"].append) as bob,
        connect(url, token_for("carol"), received["carol"].append) as carol,
    ):
        session = Session({"root": root, "alice": alice, "bob": bob, "carol": carol}, received)
        for conn in session.conns.values():
            await conn.next_push("connection:ready")
        session.out.append("\nThe first frame on each connection:\n")
        session.frames("<= alice", json.loads(received["alice"][0]))
        await story(session)
    return stand_ins(INTRO + "".join(session.out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True, help="the server's --jwt-secret")
    args = parser.parse_args()

    def token_for(user: str) -> str:
        return mint_token(args.secret, user, admin=user == "root", ttl_seconds=600)

    GUIDE.write_text(trio.run(record, args.url, token_for))
    print(f"wrote {GUIDE}", file=sys.stderr)


if __name__ == "__main__":
    main()
