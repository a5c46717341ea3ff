"""rejectConflicts on createMeeting / updateMeeting (contract 10): 409 naming exactly the
busy participants, nothing changed; atomic with the write across server instances."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import ApiError, Conflict
from roomful_meetings.service import conflicts
from roomful_meetings.storage.consistency import check_invariants
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import meeting, ready, redis_of, seed

DAY = "2030-03-04"


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    return server


def at(hour: int, invited: list[str], **extra: Any) -> dict[str, Any]:
    return meeting(f"{DAY}T{hour:02}:00:00Z", f"{DAY}T{hour + 1:02}:00:00Z", invited=invited, **extra)


async def created(client: Client, data: dict[str, Any]) -> str:
    meeting_id: str = (await client.call("meeting:createMeeting", data))["meeting"]["meetingId"]
    return meeting_id


async def listed(client: Client) -> list[str]:
    reply = await client.call(
        "meeting:listUserMeetings", {"startDate": f"{DAY}T00:00:00Z", "endDate": "2031-03-01T00:00:00Z"}
    )
    return [m["meetingId"] for m in reply["meetings"]]


async def test_busy_tentative_and_declined(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("bob")) as bob,
        connect(world.url, token("carol")) as carol,
    ):
        accepted = await created(alice, at(10, ["bob"]))
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": accepted})
        await created(alice, at(11, ["carol"]))  # carol has only received it
        declined = await created(alice, at(12, ["dave", "bob"]))
        await bob.call("meeting:declineMeetingRequest", {"meetingId": declined})
        before = await listed(carol)
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await carol.call("meeting:createMeeting", at(10, ["bob", "dave"], rejectConflicts=True))
        with pytest.raises(Conflict, match=r"busy at that time: carol$"):
            await bob.call("meeting:createMeeting", at(11, ["carol"], rejectConflicts=True))
        # the organizer counts too, and every busy one is named, in participant order
        with pytest.raises(Conflict, match=r"busy at that time: alice, dave$"):
            await carol.call("meeting:createMeeting", at(12, ["alice", "bob", "dave"], rejectConflicts=True))
        assert await listed(carol) == before
        # bob declined the 12:00 one; without the flag a conflict is fine
        await created(carol, at(12, ["bob"], rejectConflicts=True))
        await created(carol, at(10, ["bob"]))


async def test_updates_and_series(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        busy_hour = await created(bob, at(10, []))
        mine = await created(alice, at(9, ["bob"]))
        # touching its own times is no conflict with itself
        await alice.call(
            "meeting:updateMeeting", {"meetingId": mine, "subject": "x", "rejectConflicts": True}
        )
        move = {"meetingId": mine, "startDate": f"{DAY}T10:30:00Z", "endDate": f"{DAY}T11:30:00Z"}
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call("meeting:updateMeeting", {**move, "rejectConflicts": True})
        await alice.call("meeting:updateMeeting", {**move, "invitedUserIds": [], "rejectConflicts": True})
        # a weekly series whose 20th instance meets bob's meeting 19 weeks on
        later = await created(bob, meeting("2030-07-15T08:00:00Z", "2030-07-15T08:30:00Z", invited=[]))
        weekly = meeting(
            "2030-03-04T08:00:00Z",
            "2030-03-04T09:00:00Z",
            invited=["bob"],
            recurrence={"rule": "FREQ=WEEKLY"},
        )
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call("meeting:createMeeting", {**weekly, "rejectConflicts": True})
        short = {**weekly, "recurrence": {"rule": "FREQ=WEEKLY;COUNT=19"}, "rejectConflicts": True}
        series = await created(alice, short)
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call(
                "meeting:updateMeeting",
                {
                    "meetingId": series,
                    "recurrence": {"rule": "FREQ=WEEKLY;COUNT=20"},
                    "rejectConflicts": True,
                },
            )
        # one instance moved onto bob's hour
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call(
                "meeting:updateMeeting",
                {
                    "meetingId": f"{series}_20300311T0800Z",
                    "startDate": "2030-03-04T10:00:00Z",
                    "endDate": "2030-03-04T10:30:00Z",
                    "rejectConflicts": True,
                },
            )
        assert busy_hour and later


async def test_a_series_is_checked_as_the_change_leaves_it(world: ServerHandle) -> None:
    # Four Mondays at 09:00 with bob; a change keeps the instances' own moves and
    # cancellations (contract 9), so the check looks at those, not at the bare rule.
    weekly = meeting(
        "2030-03-04T09:00:00Z",
        "2030-03-04T09:30:00Z",
        invited=["bob"],
        recurrence={"rule": "FREQ=WEEKLY;COUNT=4", "timeZone": "UTC"},
    )
    rename = {"subject": "Renamed", "rejectConflicts": True}
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        series = await created(alice, weekly)
        # the second Monday cancelled, and bob's own meeting in its place: no conflict
        await alice.call("meeting:deleteMeeting", {"meetingId": f"{series}_20300311T0900Z"})
        await created(bob, meeting("2030-03-11T09:00:00Z", "2030-03-11T09:30:00Z", invited=[]))
        await alice.call("meeting:updateMeeting", {"meetingId": series, **rename})
        # the third Monday moved onto bob's 14:00: a conflict for a rename too
        await created(bob, meeting("2030-03-18T14:00:00Z", "2030-03-18T14:30:00Z", invited=[]))
        third = f"{series}_20300318T0900Z"
        await alice.call(
            "meeting:updateMeeting",
            {"meetingId": third, "startDate": "2030-03-18T14:00:00Z", "endDate": "2030-03-18T14:30:00Z"},
        )
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call("meeting:updateMeeting", {"meetingId": series, **rename})
        # a new time drops the instances' own changes: the cancelled second Monday is back
        await created(bob, meeting("2030-03-11T09:30:00Z", "2030-03-11T10:00:00Z", invited=[]))
        moved = {"meetingId": series, "startDate": "2030-03-04T09:30:00Z", "endDate": "2030-03-04T10:00:00Z"}
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call("meeting:updateMeeting", {**moved, "rejectConflicts": True})
        await alice.call("meeting:updateMeeting", moved)
        # from the fourth Monday on, the new series has what is left of COUNT: one instance,
        # not four (bob is busy on the fifth and later Mondays)
        for week in ("2030-04-01", "2030-04-08"):
            await created(bob, meeting(f"{week}T09:30:00Z", f"{week}T10:00:00Z", invited=[]))
        following = {"meetingId": f"{series}_20300325T0930Z", "scope": "following", **rename}
        split = (await alice.call("meeting:updateMeeting", following))["meeting"]
        assert split["recurrence"]["rule"] == "FREQ=WEEKLY;COUNT=1"


@pytest.mark.parametrize("kind", ["single", "series", "following"])
async def test_the_direct_partner_an_update_keeps_is_checked_too(world: ServerHandle, kind: str) -> None:
    # Alice's direct meeting with bob (carol invited too) moves to 14:00, where bob has a
    # meeting of his own. The new invitee list names only carol, but bob, the other user
    # of a direct meeting, stays invited (docs/protocol.md): he is a participant after the
    # change, so the check names him and nothing moves.
    daily = {"recurrence": {"rule": "FREQ=DAILY;COUNT=3", "timeZone": "UTC"}} if kind != "single" else {}
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        for day in ("2030-03-04", "2030-03-05"):
            await created(bob, meeting(f"{day}T14:00:00Z", f"{day}T15:00:00Z", invited=[]))
        direct = await created(alice, at(9, ["carol"], source=("direct", ["bob"]), **daily))
        target = f"{direct}_20300305T0900Z" if kind == "following" else direct
        day = "2030-03-05" if kind == "following" else DAY
        move = {
            "meetingId": target,
            "startDate": f"{day}T14:00:00Z",
            "endDate": f"{day}T15:00:00Z",
            "invitedUserIds": ["carol"],
            "rejectConflicts": True,
            **({"scope": "following"} if kind == "following" else {}),
        }
        with pytest.raises(Conflict, match=r"busy at that time: bob$"):
            await alice.call("meeting:updateMeeting", move)
        after = (await alice.call("meeting:getMeeting", {"meetingId": target}))["meeting"]
        assert (after["participantIds"], after["startDate"]) == (
            ["alice", "bob", "carol"],
            f"{day}T09:00:00Z",
        )
        # without the check bob stays invited, at the new time
        del move["rejectConflicts"]
        moved = (await alice.call("meeting:updateMeeting", move))["meeting"]
        assert (moved["participantIds"], moved["startDate"]) == (
            ["alice", "bob", "carol"],
            f"{day}T14:00:00Z",
        )


async def test_a_split_collides_with_what_stays_of_its_old_series(world: ServerHandle) -> None:
    # Daily 09:00-10:00 with bob. "This and following" from the 5th, moved to start on the
    # 4th at 09:30: the new series is a meeting of its own (contract 9), and the old series
    # keeps its 4th, 09:00-10:00, which it would overlap. The instances it takes over (the
    # 5th on) are its own: a split that only renames collides with nothing.
    daily = meeting(
        "2030-03-01T09:00:00Z",
        "2030-03-01T10:00:00Z",
        invited=["bob"],
        recurrence={"rule": "FREQ=DAILY;COUNT=10", "timeZone": "UTC"},
    )
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        series = await created(alice, daily)
        split = {"meetingId": f"{series}_20300305T0900Z", "scope": "following", "rejectConflicts": True}
        earlier = {"startDate": "2030-03-04T09:30:00Z", "endDate": "2030-03-04T10:30:00Z"}
        with pytest.raises(Conflict, match=r"busy at that time: alice, bob$"):
            await alice.call("meeting:updateMeeting", {**split, **earlier})
        assert (await listed(bob))[:5] == [f"{series}_2030030{d}T0900Z" for d in range(4, 9)]
        renamed = (await alice.call("meeting:updateMeeting", {**split, "subject": "Renamed"}))["meeting"]
        assert renamed["startDate"] == "2030-03-05T09:00:00Z" and renamed["meetingId"] != series


async def test_an_organizer_erased_while_connected_is_not_booked_twice(world: ServerHandle) -> None:
    # An admin erases alice's directory entry; her open connection goes on (docs/protocol.md)
    # and makes a meeting at 10:00. Her next one at 10:00 with rejectConflicts is refused,
    # naming her: her meetings count although she has no profile (as in the slot search).
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as admin,
    ):
        await ready(alice)
        await admin.call("admin:deleteUser", {"userId": "alice"})
        first = await created(alice, at(10, ["bob"]))
        with pytest.raises(Conflict, match=r"busy at that time: alice$"):
            await alice.call("meeting:createMeeting", at(10, ["carol"], rejectConflicts=True))
        assert await listed(alice) == [first]
        await created(alice, at(11, ["carol"], rejectConflicts=True))


async def test_racing_organizers_on_two_instances_exactly_one_wins(start_server: StartServer) -> None:
    servers = [await start_server(rate_per_second=10_000, rate_burst=10_000) for _ in range(2)]
    await seed(servers[0])
    rounds = 25
    async with (
        connect(servers[0].url, token("alice")) as alice,
        connect(servers[1].url, token("carol")) as carol,
        connect(servers[0].url, token("bob")) as bob,
    ):
        for hour in range(rounds):
            outcomes: list[str] = []

            async def book(client: Client, hour: int = hour, outcomes: list[str] = outcomes) -> None:
                data = meeting(
                    f"2030-04-{1 + hour // 8:02}T{8 + hour % 8:02}:00:00Z",
                    f"2030-04-{1 + hour // 8:02}T{9 + hour % 8:02}:00:00Z",
                    invited=["bob"],
                    rejectConflicts=True,
                )
                try:
                    await client.call("meeting:createMeeting", data)
                    outcomes.append("won")
                except Conflict as exc:
                    assert str(exc).endswith("bob")
                    outcomes.append("409")
                except ApiError as exc:  # pragma: no cover - shown if it ever happens
                    outcomes.append(repr(exc))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(book, alice)
                nursery.start_soon(book, carol)
            assert sorted(outcomes) == ["409", "won"], (hour, outcomes)
        reply = await bob.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-04-01T00:00:00Z", "endDate": "2030-04-05T00:00:00Z"},
        )
        assert len(reply["meetings"]) == rounds
    async with redis_of(servers[0]) as redis:
        assert await check_invariants(redis, Keys(servers[0].settings.key_prefix)) == rounds


async def test_a_retried_request_gets_its_first_answer_not_a_conflict_with_itself(
    world: ServerHandle,
) -> None:
    async with connect(world.url, token("alice")) as alice:
        data = at(10, ["bob"], rejectConflicts=True)
        first = await alice.request("meeting:createMeeting", data, event_id="same")
        again = await alice.request("meeting:createMeeting", data, event_id="same")
        assert first.error is not None and not first.error.status
        assert again.data == first.data
        assert len(await listed(alice)) == 1


async def test_two_racing_checked_updates_of_one_meeting_never_both_book_someone_twice(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A moves the meeting to 14:00 (alice and bob are free then); B adds carol, who is free
    at 10:00 but busy at 14:00. In either order the second must be a 409 naming carol. The
    hook only widens the window between A's check and its write, as two instances or a slow
    Redis link do: B's new invitee moves the organizer's busy version, so A's write is
    refused by its guard and A checks again, now with carol."""
    await seed(server)
    real = conflicts.conflicting
    a_read, b_done = trio.Event(), trio.Event()
    calls: list[str] = []

    async def conflicting(services: Any, participants: Any, times: Any, ignore: Any) -> Any:
        result = await real(services, participants, times, ignore)
        mover = "carol" not in participants
        calls.append("A" if mover else "B")
        if mover and not a_read.is_set():
            a_read.set()
            with trio.move_on_after(5):
                await b_done.wait()  # B writes between A's check and A's write
        return result

    monkeypatch.setattr(conflicts, "conflicting", conflicting)
    async with (
        connect(server.url, token("alice")) as a,
        connect(server.url, token("alice")) as b,
        connect(server.url, token("carol")) as carol,
    ):
        mid = (
            await a.call("meeting:createMeeting", meeting("2030-03-04T10:00:00Z", "2030-03-04T11:00:00Z"))
        )["meeting"]["meetingId"]
        await carol.call(
            "meeting:createMeeting", meeting("2030-03-04T14:00:00Z", "2030-03-04T15:00:00Z", invited=[])
        )
        outcomes: dict[str, str] = {}

        async def move() -> None:
            try:
                await a.call(
                    "meeting:updateMeeting",
                    {
                        "meetingId": mid,
                        "startDate": "2030-03-04T14:00:00Z",
                        "endDate": "2030-03-04T15:00:00Z",
                        "rejectConflicts": True,
                    },
                )
                outcomes["move"] = "ok"
            except Conflict:
                outcomes["move"] = "409"

        async def invite() -> None:
            await a_read.wait()
            try:
                await b.call(
                    "meeting:updateMeeting",
                    {"meetingId": mid, "invitedUserIds": ["bob", "carol"], "rejectConflicts": True},
                )
                outcomes["invite"] = "ok"
            except Conflict:
                outcomes["invite"] = "409"
            finally:
                b_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(move)
            nursery.start_soon(invite)
        final = (await a.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        carols = (
            await carol.call(
                "meeting:listUserMeetings",
                {"startDate": "2030-03-04T00:00:00Z", "endDate": "2030-03-05T00:00:00Z"},
            )
        )["meetings"]
        state = (final["startDate"], final["participantIds"], [m["startDate"] for m in carols])
        # Never both: that leaves carol in two meetings at 14:00, which each check refused.
        assert outcomes == {"invite": "ok", "move": "409"}, (outcomes, calls, state)
        assert len(calls) == 3 and state[0] == "2030-03-04T10:00:00Z"  # A checked again, with carol


@pytest.mark.parametrize(("kind", "scope"), [("single", None), ("series", None), ("instance", "following")])
async def test_an_invitee_moving_a_meeting_with_reject_conflicts_gets_403_not_409(
    server: ServerHandle, kind: str, scope: str | None
) -> None:
    """Only the organizer may update: an invitee moving the meeting with `rejectConflicts`
    to a time at which someone is busy gets 403, never a 409 naming who is busy (others'
    busy times learnt through a change he may not make)."""
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(bob)
        await alice.call(
            "meeting:createMeeting", meeting("2030-03-05T10:00:00Z", "2030-03-05T11:00:00Z", invited=[])
        )
        recurrence = {"rule": "FREQ=DAILY;COUNT=10", "timeZone": "UTC"} if kind != "single" else None
        target = meeting("2030-03-04T09:00:00Z", "2030-03-04T09:30:00Z", invited=["bob"])
        if recurrence:
            target["recurrence"] = recurrence
        created = await alice.call("meeting:createMeeting", target)
        mid = created["meeting"]["meetingId"]
        if kind == "instance":
            mid += "_20300305T0900Z"
        move = {
            "startDate": "2030-03-05T10:00:00Z",
            "endDate": "2030-03-05T10:30:00Z",
            "rejectConflicts": True,
        }
        if scope:
            move["scope"] = scope
        reply = await bob.request("meeting:updateMeeting", {"meetingId": mid, **move})
        assert reply.error.code == 403, reply.error


async def test_an_invitee_naming_an_unknown_invitee_with_reject_conflicts_gets_404_first(
    server: ServerHandle,
) -> None:
    """Contract 3's order holds with `rejectConflicts` too: existence (404) before permission."""
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(bob)
        created = await alice.call("meeting:createMeeting", meeting(invited=["bob"]))
        change = {
            "meetingId": created["meeting"]["meetingId"],
            "invitedUserIds": ["ghost"],
            "rejectConflicts": True,
        }
        reply = await bob.request("meeting:updateMeeting", change)
        assert (reply.error.code, "ghost" in reply.error.message) == (404, True), reply.error


async def clients(stack: AsyncExitStack, server: ServerHandle, *names: str) -> list[Client]:
    return [await ready(await stack.enter_async_context(connect(server.url, token(n)))) for n in names]


async def busy_bob(alice: Client) -> None:
    """bob has a meeting at meeting()'s default time: a rejectConflicts change there collides."""
    await alice.call("meeting:createMeeting", meeting(invited=["bob"]))


@pytest.mark.parametrize(
    ("source", "invited", "code", "named"),
    [
        (("room", ["nowhere"]), ["bob"], 404, "nowhere"),  # the room does not exist
        (("prop", ["lobby", "nothing"]), ["bob"], 404, "nothing"),  # the prop does not exist
        (("direct", ["ghost"]), ["bob"], 404, "ghost"),  # the direct partner does not exist
        (("room", ["lobby"]), ["bob", "ghost"], 404, "ghost"),  # an invitee does not exist
        (("group", ["team"]), ["bob"], 403, "team"),  # carol is no member of the group
    ],
)
async def test_create_with_reject_conflicts_checks_existence_and_permission_before_conflicts(
    world: ServerHandle, source: tuple[str, list[str]], invited: list[str], code: int, named: str
) -> None:
    """Contract 3: existence (404), then permission (403); a request that is refused for
    either must not be answered 409 naming who is busy (as updateMeeting already does)."""
    async with AsyncExitStack() as stack:
        alice, carol = await clients(stack, world, "alice", "carol")
        await busy_bob(alice)
        reply = await carol.request(
            "meeting:createMeeting", meeting(source=source, invited=invited, rejectConflicts=True)
        )
        assert reply.error.code == code, reply.error
        assert named in reply.error.message
        assert "bob" not in reply.error.message  # nobody's busy time is told


async def test_organizer_update_with_reject_conflicts_naming_an_unknown_invitee_is_404(
    world: ServerHandle,
) -> None:
    """The same without rejectConflicts is 404 naming the unknown id (contract 5): adding
    rejectConflicts must not turn it into a 409 about someone else."""
    async with AsyncExitStack() as stack:
        alice, carol = await clients(stack, world, "alice", "carol")
        await busy_bob(alice)
        mine = (
            await carol.call(
                "meeting:createMeeting",
                meeting("2030-03-04T14:00:00Z", "2030-03-04T15:00:00Z", invited=[]),
            )
        )["meeting"]
        change: dict[str, Any] = {
            "meetingId": mine["meetingId"],
            "startDate": "2030-03-04T10:00:00Z",
            "endDate": "2030-03-04T11:00:00Z",
            "invitedUserIds": ["bob", "ghost"],
        }
        plain = await carol.request("meeting:updateMeeting", change)
        assert (plain.error.code, "ghost" in plain.error.message) == (404, True)
        guarded = await carol.request("meeting:updateMeeting", {**change, "rejectConflicts": True})
        assert (guarded.error.code, "ghost" in guarded.error.message) == (404, True), guarded.error


MONDAYS = {"rule": "FREQ=WEEKLY;BYDAY=MO", "timeZone": "UTC"}
TUESDAYS = {"rule": "FREQ=WEEKLY;BYDAY=TU"}


@pytest.mark.parametrize(
    ("busy", "recurrence", "change", "named"),
    [
        # A series whose start (a Monday) is no occurrence of its new rule (contract 9).
        (("bob", "2030-03-05"), MONDAYS, {"recurrence": TUESDAYS}, "startDate"),
        # A single meeting made such a series.
        (("bob", "2030-03-05"), None, {"recurrence": TUESDAYS}, "startDate"),
        # One instance given invitees (docs/protocol.md: change the series): carol, busy
        # then, takes no part in the meeting.
        (
            ("carol", "2030-03-11"),
            MONDAYS,
            {"instance": "_20300311T1000Z", "invitedUserIds": ["carol"]},
            "invitedUserIds",
        ),
    ],
    ids=["series-start-no-occurrence", "single-made-impossible-series", "invitees-on-one-instance"],
)
async def test_an_update_refused_as_malformed_is_400_even_with_reject_conflicts(
    world: ServerHandle,
    busy: tuple[str, str],
    recurrence: dict[str, str] | None,
    change: dict[str, Any],
    named: str,
) -> None:
    """Contract 3: field checks (400) come first; a rejectConflicts update the write would
    refuse as malformed is answered so, not 409 naming whoever is busy at the times it
    would have."""
    who, day = busy
    async with connect(world.url, token("alice")) as alice, connect(world.url, token(who)) as other:
        await other.call("meeting:createMeeting", meeting(f"{day}T10:00:00Z", f"{day}T11:00:00Z", invited=[]))
        extra: dict[str, Any] = {} if recurrence is None else {"recurrence": recurrence}
        made = await alice.call(
            "meeting:createMeeting",
            meeting("2030-03-04T10:00:00Z", "2030-03-04T11:00:00Z", invited=["bob"], **extra),
        )
        fields = {k: v for k, v in change.items() if k != "instance"}
        target = made["meeting"]["meetingId"] + change.get("instance", "")
        plain = await alice.request("meeting:updateMeeting", {"meetingId": target, **fields})
        assert plain.error.code == 400 and named in plain.error.message, plain.error
        guarded = await alice.request(
            "meeting:updateMeeting", {"meetingId": target, **fields, "rejectConflicts": True}
        )
        assert (guarded.error.code, guarded.error.message) == (plain.error.code, plain.error.message)
