"""Tenants (contract 12), tried as an attacker would: a token of tenant `acme` names what it
knows of tenant `bravo` (meeting ids, user ids, room and group ids, emails, event ids of a
bravo stream, a bravo feed URL) and gets 404, nothing, or an unknown `since`: never bravo's
data. The same user id in two tenants is two users; an admin acts in its own tenant only;
a malformed tenant claim is 401."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from roomful_meetings.client import Client, connect
from roomful_meetings.storage.embedded import free_port
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.test_feed_e2e import http_get
from tests.e2e.world import assert_no_other_push, meeting, ready, redis_of
from tests.wsraw import handshake_status

SLOTS_DAY = "2030-03-04T00:00:00Z"


def of(tenant: str, user: str, **claims: Any) -> str:
    return token(user, tenant=tenant, **claims)


async def seed_tenant(server: ServerHandle, tenant: str, users: list[str]) -> None:
    async with connect(server.url, of(tenant, "root", admin=True)) as admin:
        await admin.call(
            "admin:upsertUsers",
            {"users": [{"id": u, "email": f"{u}@{tenant}.test", "firstName": u.title()} for u in users]},
        )
        rooms = [{"id": f"{tenant}-room", "title": "Room"}, {"id": "lobby"}]  # lobby: for markers
        await admin.call("admin:upsertRooms", {"rooms": rooms})
        await admin.call("admin:upsertProps", {"props": [{"roomId": f"{tenant}-room", "id": "table"}]})
        await admin.call("admin:upsertGroups", {"groups": [{"id": f"{tenant}-team", "memberIds": users}]})


@pytest.fixture
async def world(start_server: StartServer) -> ServerHandle:
    port = free_port()
    server = await start_server(http_port=port, public_base_url=f"http://127.0.0.1:{port}")
    await seed_tenant(server, "bravo", ["bob", "carol"])
    await seed_tenant(server, "acme", ["mallory", "bob"])  # acme has a bob of its own
    return server


@asynccontextmanager
async def people(server: ServerHandle, *who: tuple[str, str]) -> AsyncIterator[list[Client]]:
    """Each (tenant, user) connected and past connection:ready."""
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(server.url, of(*one))) for one in who]
        for client in clients:
            await ready(client)
        yield clients


async def code_of(client: Client, endpoint: str, data: dict[str, Any]) -> int:
    return (await client.request(endpoint, data)).error.code


async def test_another_tenants_ids_are_404_or_nothing(world: ServerHandle) -> None:
    async with people(world, ("bravo", "bob"), ("acme", "mallory")) as (bob, mallory):
        target = await bob.call(
            "meeting:createMeeting", meeting(source=("room", ["bravo-room"]), invited=["carol"])
        )
        mid = target["meeting"]["meetingId"]
        for endpoint, data in [
            ("meeting:getMeeting", {"meetingId": mid}),
            ("meeting:get", {"meetingId": mid}),
            ("meeting:exportMeeting", {"meetingId": mid}),
            ("meeting:acceptMeetingRequest", {"meetingId": mid}),
            ("meeting:declineMeetingRequest", {"meetingId": mid}),
            ("meeting:updateMeeting", {"meetingId": mid, "subject": "mine"}),
            ("meeting:deleteMeeting", {"meetingId": mid}),
            ("meeting:delete", {"meetingId": mid}),
            ("meeting:createMeeting", meeting(source=("room", ["bravo-room"]), invited=[])),
            ("meeting:createMeeting", meeting(source=("prop", ["bravo-room", "table"]), invited=[])),
            ("meeting:createMeeting", meeting(source=("group", ["bravo-team"]), invited=[])),
            ("meeting:createMeeting", meeting(source=("direct", ["carol"]), invited=[])),
            ("meeting:createMeeting", meeting(source=("room", ["acme-room"]), invited=["carol"])),
        ]:
            assert await code_of(mallory, endpoint, data) == 404, endpoint
        everything = {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-12-31T00:00:00Z"}
        assert (await mallory.call("meeting:listUserMeetings", everything))["meetings"] == []
        users = {"users": [{"roomful": "carol"}, {"email": "carol@bravo.test"}], "localDate": SLOTS_DAY}
        alone = {"users": [], "localDate": SLOTS_DAY}
        assert await mallory.call("meeting:getTimeSlotsForMeeting", users) == await mallory.call(
            "meeting:getTimeSlotsForMeeting", alone
        )  # carol, by id or email, is nobody here
        found = await mallory.call(
            "meeting:findMeetingTimes",
            {
                "attendees": [{"roomful": "carol"}, {"email": "carol@bravo.test"}],
                "startDate": "2030-03-04T09:00:00Z",
                "endDate": "2030-03-04T12:00:00Z",
                "duration": 60,
            },
        )
        assert found == {"suggestions": [], "emptySuggestionsReason": "attendeesNotFound"}
        # bob's meeting is untouched by all of that
        assert (await bob.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["subject"] == "Planning"


async def test_the_same_user_id_in_two_tenants_is_two_users(world: ServerHandle) -> None:
    async with people(world, ("bravo", "bob"), ("acme", "bob"), ("bravo", "carol")) as (
        bravo_bob,
        acme_bob,
        carol,
    ):
        created = await carol.call(
            "meeting:createMeeting", meeting(source=("room", ["bravo-room"]), invited=["bob"])
        )
        mid = created["meeting"]["meetingId"]
        assert (await bravo_bob.next_push("meeting:onMeetingCreated")).data["meeting"]["meetingId"] == mid
        await assert_no_other_push(acme_bob)  # acme's bob is not bravo's bob
        assert await code_of(acme_bob, "meeting:getMeeting", {"meetingId": mid}) == 404
        # each bob's availability is his own
        await acme_bob.call(
            "meeting:setUserAvailability",
            {
                "availability": {"status": "Available", "dates": []},
                "localDate": SLOTS_DAY,
                "timeZone": "UTC",
            },
        )
        day = {"localDate": SLOTS_DAY, "timeZone": "UTC"}
        got = (await acme_bob.call("meeting:getUserAvailabilityForDay", day))["availability"]["dates"]
        assert got == [], got
        assert (await bravo_bob.call("meeting:getUserAvailabilityForDay", day))["availability"]["dates"] != []


async def test_an_admin_acts_in_its_own_tenant_only(world: ServerHandle) -> None:
    async with connect(world.url, of("bravo", "carol")) as carol:
        await ready(carol)
        mid = (
            await carol.call(
                "meeting:createMeeting", meeting(source=("room", ["bravo-room"]), invited=["bob"])
            )
        )["meeting"]["meetingId"]
        await carol.next_push("meeting:onMeetingCreated")
        async with connect(world.url, of("acme", "root", admin=True)) as acme_admin:
            changes: list[tuple[str, dict[str, Any]]] = [
                ("admin:deleteUser", {"userId": "bob"}),
                ("admin:deleteUser", {"userId": "carol"}),
                ("admin:deleteRoom", {"roomId": "bravo-room"}),
                ("admin:deleteGroup", {"groupId": "bravo-team"}),
                ("admin:upsertRooms", {"rooms": [{"id": "bravo-room", "title": "Taken over"}]}),
            ]
            for endpoint, data in changes:
                assert await code_of(acme_admin, endpoint, data) == 0, endpoint  # in acme: fine
        after = (await carol.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        assert after["isValid"] is True and after["participantIds"] == ["carol", "bob"]
        await assert_no_other_push(carol)  # no invalidation, no removal reached bravo
        async with connect(world.url, of("bravo", "bob")) as bob:
            await ready(bob)  # bravo's bob still exists and still sees his invitation
            assert (await bob.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["meetingId"] == mid


async def test_an_event_id_of_another_tenant_is_an_unknown_since(world: ServerHandle) -> None:
    async with connect(world.url, of("bravo", "carol")) as carol:
        ready_push = await carol.next_push("connection:ready")
        await carol.call("meeting:createMeeting", meeting(source=("room", ["bravo-room"]), invited=["bob"]))
        event = await carol.next_push("meeting:onMeetingCreated")
    stolen = str(event.event.id) if event.event else ""
    assert stolen and ready_push is not None
    async with connect(world.url, of("acme", "mallory"), None, since=stolen) as mallory:
        first = await mallory.next_push()
        assert first.endpoint == "connection:recoveryIncomplete"
        assert (await mallory.next_push()).endpoint == "connection:ready"
        await assert_no_other_push(mallory)  # and no replay of anything of bravo's


async def test_an_id_another_tenant_hands_out_in_the_same_millisecond_is_unknown(world: ServerHandle) -> None:
    async with connect(world.url, of("acme", "mallory")) as mallory:
        await ready(mallory)
        await mallory.call("meeting:createMeeting", meeting(source=("room", ["acme-room"])))
        event = await mallory.next_push("meeting:onMeetingCreated")
    own = str(event.event.id) if event.event else ""
    ms, _, seq = own.partition("-")
    assert int(seq) >> 20 == Keys(tenant="acme").event_code != 0  # the id carries acme's code
    # What the default tenant and bravo hand out first in that millisecond: not acme's ids.
    for foreign in (f"{ms}-0", f"{ms}-{Keys(tenant='bravo').event_code << 20}"):
        async with connect(world.url, of("acme", "mallory"), None, since=foreign) as mallory:
            assert (await mallory.next_push()).endpoint == "connection:recoveryIncomplete", foreign
            assert (await mallory.next_push()).endpoint == "connection:ready"
            replayed = (await mallory.next_push()).event  # acme's own events follow
            assert replayed is not None and replayed.id == own
    async with connect(world.url, of("acme", "mallory"), None, since=own) as mallory:
        assert (await mallory.next_push()).endpoint == "connection:ready"  # its own id: known
        await assert_no_other_push(mallory)


async def test_a_feed_url_opens_its_own_tenants_feed_only(world: ServerHandle) -> None:
    async with people(world, ("bravo", "bob"), ("acme", "bob")) as (bravo_bob, acme_bob):
        soon = int(time.time() // 3600 + 24) * 3_600_000  # tomorrow, inside the feed's range
        secret_meeting = meeting(soon, soon + 3_600_000, ("room", ["bravo-room"]), [], subject="Secret")
        await bravo_bob.call("meeting:createMeeting", secret_meeting)
        bravo_url = (await bravo_bob.call("meeting:getCalendarFeed", {}))["url"]
        acme_url = (await acme_bob.call("meeting:getCalendarFeed", {}))["url"]
    assert "/calendar/bravo." in bravo_url and "/calendar/acme." in acme_url
    status, body = await http_get(bravo_url)
    assert status == 200 and b"SUMMARY:Secret" in body
    status, body = await http_get(acme_url)
    assert status == 200 and b"Secret" not in body
    # bravo's token under another tenant's name, or under none: nobody's feed
    secret = bravo_url.rsplit(".", 2)[-2]
    base = bravo_url.split("/calendar/")[0]
    for forged in (f"{base}/calendar/acme.{secret}.ics", f"{base}/calendar/{secret}.ics"):
        assert (await http_get(forged))[0] == 404, forged


@pytest.mark.parametrize("claim", ["", "has space", "a.b", "x" * 65, 5, None, ["acme"], "ümlaut", "a{b}"])
async def test_a_malformed_tenant_claim_is_refused_with_401(server: ServerHandle, claim: object) -> None:
    status, body = await handshake_status(f"{server.url}/?token={token('bob', tenant=claim)}")
    assert status == 401 and b"`tenant` must be a tenant name" in body


async def test_no_tenant_claim_is_the_default_tenant(server: ServerHandle) -> None:
    await seed_tenant(server, "default", ["dana"])
    async with connect(server.url, of("default", "dana")) as named:
        mid = (
            await named.call("meeting:createMeeting", meeting(source=("room", ["default-room"]), invited=[]))
        )["meeting"]["meetingId"]
    async with connect(server.url, token("dana")) as dana:  # no claim: the same tenant, the same dana
        await ready(dana)
        assert (await dana.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["organizerId"] == "dana"
    async with connect(server.url, of("other", "dana")) as stranger:  # and not any tenant's dana
        assert (await stranger.request("meeting:getMeeting", {"meetingId": mid})).error.code == 404


async def test_every_key_a_tenant_writes_is_in_its_own_slot(world: ServerHandle) -> None:
    async with connect(world.url, of("bravo", "bob")) as bob:
        await ready(bob)
        await bob.call("meeting:createMeeting", meeting(source=("room", ["bravo-room"]), invited=["carol"]))
        await bob.call("meeting:getCalendarFeed", {})
    prefix = world.settings.key_prefix
    scopes = {Keys(prefix, t).scope.encode() for t in ("acme", "bravo")}
    async with redis_of(world) as redis:
        found = await redis.scan(prefix + "*")
    strays = [k for k in found if not k.startswith(tuple(scopes)) and k != f"{prefix}schema".encode()]
    assert found and strays == []


async def test_a_connection_cap_counts_the_user_of_each_tenant_apart(start_server: StartServer) -> None:
    server = await start_server(max_connections_per_user=1)
    for tenant in ("acme", "bravo"):
        async with connect(server.url, of(tenant, "root", admin=True)) as admin:
            await admin.call("admin:upsertUsers", {"users": [{"id": "bob"}]})
    async with connect(server.url, of("acme", "bob")) as first:
        await ready(first)
        async with connect(server.url, of("bravo", "bob")) as second:  # another user: admitted
            await ready(second)
        assert (await handshake_status(f"{server.url}/?token={of('acme', 'bob')}"))[0] == 429


async def test_caches_shared_by_tenants_never_mix_them_up(start_server: StartServer) -> None:
    """Two fresh tenants go through the same changes, so their version counters agree;
    only the availability set differs. The instance's caches (availability, busy indexes,
    findMeetingTimes) are shared by every tenant, keyed with the tenant: each answer is
    its own tenant's."""
    server = await start_server()
    day = {"localDate": SLOTS_DAY, "timeZone": "UTC"}
    hours = {"Available": [{"startDate": "2030-03-04T09:00:00Z", "endDate": "2030-03-04T12:00:00Z"}]}
    answers = {}
    for tenant, status in (("same-a", "Available"), ("same-b", "NotAvailable")):
        async with connect(server.url, of(tenant, "root", admin=True)) as admin:
            await admin.call("admin:upsertUsers", {"users": [{"id": "org"}, {"id": "bob"}]})
        async with connect(server.url, of(tenant, "bob")) as bob:
            await ready(bob)
            availability = {"status": status, "dates": hours["Available"]}
            await bob.call("meeting:setUserAvailability", {"availability": availability, **day})
        async with connect(server.url, of(tenant, "org")) as org:
            await ready(org)
            slots = await org.call("meeting:getTimeSlotsForMeeting", {"users": [{"roomful": "bob"}], **day})
            found = await org.call(
                "meeting:findMeetingTimes",
                {
                    "attendees": [{"roomful": "bob"}],
                    "startDate": "2030-03-04T08:00:00Z",
                    "endDate": "2030-03-04T13:00:00Z",
                    "duration": 60,
                    "timeZone": "UTC",
                },
            )
            answers[tenant] = (slots["availableTimeSlots"], [s["startDate"] for s in found["suggestions"]])
    a, b = answers["same-a"], answers["same-b"]
    assert a[0] == [{"startDate": "2030-03-04T09:00:00+00:00", "endDate": "2030-03-04T12:00:00+00:00"}]
    assert b[0] == [
        {"startDate": "2030-03-04T00:00:00+00:00", "endDate": "2030-03-04T09:00:00+00:00"},
        {"startDate": "2030-03-04T12:00:00+00:00", "endDate": "2030-03-05T00:00:00+00:00"},
    ]
    assert a[1] and b[1] and not set(a[1]) & set(b[1])
