"""Safe retries (contract section 6): the same event.id within 10 minutes applies once."""

from __future__ import annotations

import pytest

from roomful_meetings.client import connect
from tests.conftest import ServerHandle, token
from tests.e2e.world import meeting, seed


async def test_a_repeated_create_is_applied_once_and_gets_the_first_answer(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        first = await alice.request("meeting:createMeeting", meeting(), event_id="retry-1")
        again = await alice.request("meeting:createMeeting", meeting(), event_id="retry-1")
        assert again.data == first.data and not again.error.status
        listed = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"},
        )
        assert len(listed["meetings"]) == 1
        other = await alice.request("meeting:createMeeting", meeting(), event_id="retry-2")
        assert other.data["meeting"]["meetingId"] != first.data["meeting"]["meetingId"]


async def test_the_same_id_from_another_user_or_a_read_is_not_a_repeat(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        mine = await alice.request("meeting:createMeeting", meeting(), event_id="shared")
        theirs = await bob.request("meeting:createMeeting", meeting(invited=["alice"]), event_id="shared")
        assert mine.data["meeting"]["meetingId"] != theirs.data["meeting"]["meetingId"]
        mid = mine.data["meeting"]["meetingId"]
        read = await alice.request("meeting:getMeeting", {"meetingId": mid}, event_id="shared")
        assert read.data["meeting"]["meetingId"] == mid  # reads are never answered from the record


async def test_another_request_under_a_used_id_is_refused_not_answered_from_the_record(
    server: ServerHandle,
) -> None:
    # A client that restarts its ids must learn that its change was not made.
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        first = await alice.request("meeting:createMeeting", meeting(subject="One"), event_id="reused")
        mid = first.data["meeting"]["meetingId"]
        for endpoint, data in [
            ("meeting:createMeeting", meeting(subject="Two")),
            ("meeting:deleteMeeting", {"meetingId": mid}),
        ]:
            other = await alice.request(endpoint, data, event_id="reused")
            assert (other.error.code, other.data) == (400, None)
            assert "event.id" in other.error.message
        listed = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"},
        )
        assert [m["subject"] for m in listed["meetings"]] == ["One"]
        # The same request, its fields in another order, is a repeat.
        same = dict(reversed(meeting(subject="One").items()))
        again = await alice.request("meeting:createMeeting", same, event_id="reused")
        assert again.data == first.data and not again.error.status
        # A timestamp's offset is part of it: a localDate's offset is the caller's zone.
        day = {
            "status": "Available",
            "dates": [{"startDate": "2031-03-05T09:00:00+02:00", "endDate": "2031-03-05T17:00:00+02:00"}],
        }
        ask = {"availability": day, "localDate": "2031-03-05T23:30:00+02:00"}
        assert not (await alice.request("meeting:setUserAvailability", ask, event_id="day")).error.status
        same_instant = {**ask, "localDate": "2031-03-05T21:30:00Z"}
        other_zone = await alice.request("meeting:setUserAvailability", same_instant, event_id="day")
        assert other_zone.error.code == 400
        # A change of a series is held to it too (its own path: prepared, then compared).
        series = {**meeting(subject="Daily"), "recurrence": {"rule": "FREQ=DAILY;COUNT=3"}}
        sid = (await alice.call("meeting:createMeeting", series))["meeting"]["meetingId"]
        rename = {"meetingId": sid, "subject": "Renamed"}
        assert not (await alice.request("meeting:updateMeeting", rename, event_id="series")).error.status
        cancel = {"meetingId": f"{sid}_20300305T1000Z"}
        other = await alice.request("meeting:deleteMeeting", cancel, event_id="series")
        assert other.error.code == 400 and "event.id" in other.error.message


async def test_a_retry_whose_free_form_keys_come_in_another_order_is_a_repeat(server: ServerHandle) -> None:
    # A client that rebuilds its request from a map may write an object's keys in any order.
    async with connect(server.url, token("root", admin=True)) as admin:
        params = {"zoom": 2, "angle": {"x": 1, "y": 0}}
        room = {"id": "r1", "networkId": "n", "thumbnail": {"customParams": params}}
        first = await admin.request("admin:upsertRooms", {"rooms": [room]}, event_id="rooms-1")
        params = {"angle": {"y": 0, "x": 1}, "zoom": 2}
        again = {"rooms": [{**room, "thumbnail": {"customParams": params}}]}
        assert (await admin.request("admin:upsertRooms", again, event_id="rooms-1")).error == first.error
        assert not first.error.status


async def test_a_failed_request_is_not_recorded(server: ServerHandle) -> None:
    await seed(server)
    async with (
        connect(server.url, token("alice")) as alice,
        connect(server.url, token("root", admin=True)) as admin,
    ):
        failed = await alice.request("meeting:createMeeting", meeting(invited=["zed"]), event_id="again")
        assert failed.error.code == 404
        await admin.call("admin:upsertUsers", {"users": [{"id": "zed"}]})
        retried = await alice.request("meeting:createMeeting", meeting(invited=["zed"]), event_id="again")
        assert not retried.error.status and retried.data["meeting"]["participantIds"] == ["alice", "zed"]


@pytest.mark.parametrize("endpoint", ["meeting:acceptMeetingRequest", "meeting:declineMeetingRequest"])
async def test_a_repeated_rsvp_after_a_change_of_mind_is_not_reapplied(
    server: ServerHandle, endpoint: str
) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        other = (
            "meeting:declineMeetingRequest"
            if endpoint.endswith("acceptMeetingRequest")
            else "meeting:acceptMeetingRequest"
        )
        await bob.request(endpoint, {"meetingId": mid}, event_id="rsvp-1")
        await bob.request(other, {"meetingId": mid}, event_id="rsvp-2")
        await bob.request(endpoint, {"meetingId": mid}, event_id="rsvp-1")  # a late duplicate of the first
        status = (await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["participants"][1][
            "status"
        ]
        assert status == ("declined" if other.endswith("declineMeetingRequest") else "accepted")
