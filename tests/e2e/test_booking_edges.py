"""findMeetingTimes and rejectConflicts at their edges (contract 10, docs/protocol.md): an
organizer listing themself, a `roomful` no id can have, `null` for optional fields with a
default, and a retry racing its own first request (it gets the first answer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.service import conflicts
from roomful_meetings.service.context import Services
from tests.conftest import ServerHandle, token
from tests.e2e.test_findtime import DAY
from tests.e2e.test_findtime import ask as findtime_ask
from tests.e2e.world import meeting, ready, seed


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    return server


def ask(attendees: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """test_findtime's morning search, in whole hours."""
    return findtime_ask(attendees, **{"step": 60, **extra})


def held_once(
    real: Callable[..., Awaitable[Any]],
) -> tuple[Callable[..., Awaitable[Any]], trio.Event, trio.Event]:
    """`real`, whose first call waits (at most 5 s) for `release` once it has set `held`."""
    held, release = trio.Event(), trio.Event()
    calls = 0

    async def first_held(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            held.set()
            with trio.move_on_after(5):
                await release.wait()
        return await real(*args, **kwargs)

    return first_held, held, release


async def retry_held_past_its_first(
    first: Client,
    retry: Client,
    request: tuple[str, dict[str, Any], str],
    held: trio.Event,
    release: trio.Event,
) -> None:
    """`retry` sends `request` (endpoint, data, event.id) and is held (`held_once`) while
    `first` sends the same and is answered: the retry then gets the very same answer."""
    endpoint, data, event_id = request
    answers: dict[str, Any] = {}

    async def send_retry() -> None:
        answers["retry"] = await retry.request(endpoint, data, event_id=event_id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_retry)
        await held.wait()
        answers["first"] = await first.request(endpoint, data, event_id=event_id)
        release.set()
    assert answers["first"].error.code == 0
    assert (answers["retry"].error.code, answers["retry"].error.message) == (0, "")
    assert answers["retry"].data == answers["first"].data


async def test_an_organizer_who_lists_themself_gets_their_own_free_times_not_attendees_not_found(
    world: ServerHandle,
) -> None:
    # Contract 10: attendeesNotFound "when attendees were given and none matched a user";
    # alice's own entry matches a user (her), it is only left out as the organizer.
    async with connect(world.url, token("alice")) as alice:
        for me in ({"roomful": "alice"}, {"email": "ALICE@example.com"}):
            reply = await alice.call("meeting:findMeetingTimes", ask([me]))
            assert reply["emptySuggestionsReason"] == ""
            assert [s["startDate"] for s in reply["suggestions"]] == [
                f"{DAY}T09:00:00+00:00",
                f"{DAY}T10:00:00+00:00",
                f"{DAY}T11:00:00+00:00",
            ]


async def test_a_roomful_longer_than_any_id_is_left_out_not_refused(world: ServerHandle) -> None:
    # docs/protocol.md: a findMeetingTimes `roomful` that no id can have ("over 128
    # characters") "matches no user and is left out, like any unknown id".
    async with connect(world.url, token("alice")) as alice:
        reply = await alice.request(
            "meeting:findMeetingTimes", ask([{"roomful": "x" * 129}, {"roomful": "bob"}], maxCandidates=1)
        )
        assert reply.error.code == 0, reply.error.message
        assert [a["userId"] for a in reply.data["suggestions"][0]["attendees"]] == ["alice", "bob"]


@pytest.mark.parametrize(
    "field",
    [
        "step",
        "minimumAttendeePercentage",
        "isOrganizerOptional",
        "bufferBefore",
        "bufferAfter",
        "minimumNotice",
        "maxCandidates",
    ],
)
async def test_null_for_an_optional_search_field_means_its_default(world: ServerHandle, field: str) -> None:
    # docs/protocol.md, Frames: "`null` for an optional field means "not given"."
    async with connect(world.url, token("alice")) as alice:
        data = ask([{"roomful": "bob"}])
        del data["step"]
        reply = await alice.request("meeting:findMeetingTimes", {**data, field: None})
        assert reply.error.code == 0, reply.error.message
        assert reply.data == await alice.call("meeting:findMeetingTimes", data)


async def test_null_attendee_type_means_required(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        reply = await alice.request("meeting:findMeetingTimes", ask([{"roomful": "bob", "type": None}]))
        assert reply.error.code == 0, reply.error.message


async def test_null_reject_conflicts_means_not_given(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        reply = await alice.request("meeting:createMeeting", {**meeting(), "rejectConflicts": None})
        assert reply.error.code == 0, reply.error.message
        mid = reply.data["meeting"]["meetingId"]
        reply = await alice.request(
            "meeting:updateMeeting", {"meetingId": mid, "subject": "x", "rejectConflicts": None}
        )
        assert reply.error.code == 0, reply.error.message


async def test_a_retry_racing_its_first_request_gets_the_first_answer_not_a_409_about_itself(
    world: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client whose connection dropped resends its createMeeting (same event.id) from a new
    # connection while the first is still being applied. docs/protocol.md: "A repeat with
    # the same id within 10 minutes changes nothing and gets the first answer". The retry
    # passes the record check before the first request's script runs and reads the
    # calendars after it: it finds its own meeting there, and must not answer a 409 about it.
    # the retry's: past its record check, before its read
    hold_first_read, held, release = held_once(conflicts.conflicting)
    monkeypatch.setattr(conflicts, "conflicting", hold_first_read)
    # Answer createMeeting in a task rather than inline (an optimisation only), so that the
    # hook may wait: two server instances open the same window without any hook.
    monkeypatch.setattr(Services, "drivable", property(lambda self: False))
    data = {**meeting(f"{DAY}T10:00:00Z", f"{DAY}T11:00:00Z", invited=["bob"]), "rejectConflicts": True}
    async with connect(world.url, token("alice")) as first, connect(world.url, token("alice")) as retry:
        await ready(first)
        await ready(retry)
        await retry_held_past_its_first(
            first, retry, ("meeting:createMeeting", data, "create-1"), held, release
        )


async def test_a_retried_split_racing_its_first_request_gets_the_first_answer(
    world: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same race for "this and the following" with rejectConflicts: the retry's read of
    # the target comes after the first request split the series, so the instance id it
    # names is no longer produced by the old series.
    hold_first_read, held, release = held_once(conflicts.update_target)

    async with connect(world.url, token("alice")) as first, connect(world.url, token("alice")) as retry:
        await ready(first)
        await ready(retry)
        daily = meeting(
            f"{DAY}T10:00:00Z",
            f"{DAY}T11:00:00Z",
            invited=["bob"],
            recurrence={"rule": "FREQ=DAILY;COUNT=10", "timeZone": "UTC"},
        )
        sid = (await first.call("meeting:createMeeting", daily))["meeting"]["meetingId"]
        monkeypatch.setattr(conflicts, "update_target", hold_first_read)
        split = {
            "meetingId": f"{sid}_20300307T1000Z",
            "scope": "following",
            "startDate": "2030-03-07T10:30:00Z",
            "endDate": "2030-03-07T11:30:00Z",
            "rejectConflicts": True,
        }
        await retry_held_past_its_first(
            first, retry, ("meeting:updateMeeting", split, "split-1"), held, release
        )
