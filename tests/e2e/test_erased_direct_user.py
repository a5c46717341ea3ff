"""The other user of a direct meeting, once erased (admin:deleteUser), is gone from it for
good: the organizer's later invitee edits neither fail on them (404) nor invite them back,
even when a user with their id is created again (the scripts kept "the other user of a
direct meeting stays invited" for a user no longer in it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import NotFound
from roomful_meetings.storage.consistency import check_invariants
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import meeting, redis_of, seed

SERIES: dict[str, Any] = {"recurrence": {"rule": "FREQ=WEEKLY;COUNT=4", "timeZone": "UTC"}}


@pytest.fixture
async def world(start_server: StartServer) -> ServerHandle:
    server: ServerHandle = await start_server()
    await seed(server)
    return server


@asynccontextmanager
async def carol_erased(world: ServerHandle, **extra: Any) -> AsyncIterator[tuple[Client, Client, Redis, str]]:
    """alice's direct meeting (or series) with carol, bob invited; then carol erased.
    Yields alice, the admin, the Redis and the meeting id."""
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as root,
        redis_of(world) as redis,
    ):
        direct = meeting(source=("direct", ["carol"]), invited=["bob"], **extra)
        mid = (await alice.call("meeting:createMeeting", direct))["meeting"]["meetingId"]
        await root.call("admin:deleteUser", {"userId": "carol"})
        yield alice, root, redis, mid


@pytest.mark.parametrize("extra", [{}, SERIES], ids=["single", "series"])
async def test_invitee_edit_after_the_direct_user_is_deleted_is_not_404(
    world: ServerHandle, extra: dict[str, Any]
) -> None:
    # Contract 5: "an unknown invited user id fails the whole request with 404 naming the
    # ids" - alice names only bob and dave, both existing; carol was erased (contract 7:
    # "the user is removed from the others").
    async with carol_erased(world, **extra) as (alice, _, redis, mid):
        got = (await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        assert got["isValid"] is False and "carol" not in got["participantIds"]
        try:
            await alice.call("meeting:updateMeeting", {"meetingId": mid, "invitedUserIds": ["bob", "dave"]})
        except NotFound as e:
            pytest.fail(f"update naming only existing users failed: {e}")
        got = (await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        assert got["participantIds"] == ["alice", "bob", "dave"]
        await check_invariants(redis, Keys(world.settings.key_prefix))


async def test_following_split_after_the_direct_user_is_deleted_is_not_404(world: ServerHandle) -> None:
    # The same through "scope": "following" (lua/split_series.lua).
    async with carol_erased(world, **SERIES) as (alice, _, _redis, sid):
        try:
            new = await alice.call(
                "meeting:updateMeeting",
                {"meetingId": f"{sid}_20300318T1000Z", "scope": "following", "invitedUserIds": ["dave"]},
            )
        except NotFound as e:
            pytest.fail(f"split naming only existing users failed: {e}")
        assert new["meeting"]["participantIds"] == ["alice", "dave"]


@pytest.mark.parametrize("extra", [{}, SERIES], ids=["single", "series"])
async def test_a_recreated_user_is_not_reinvited_to_the_old_direct_meeting(
    world: ServerHandle, extra: dict[str, Any]
) -> None:
    async with carol_erased(world, **extra) as (alice, root, redis, mid):
        await root.call("admin:upsertUsers", {"users": [{"id": "carol", "email": "new-carol@example.com"}]})
        await alice.call("meeting:updateMeeting", {"meetingId": mid, "invitedUserIds": ["bob", "dave"]})
        got = (await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        # The new carol never was invited to this meeting: it must not appear for her.
        assert "carol" not in got["participantIds"], got["participantIds"]
        async with connect(world.url, token("carol")) as carol:
            listed = await carol.call(
                "meeting:listUserMeetings",
                {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-30T00:00:00Z"},
            )
            assert listed["meetings"] == []
        await check_invariants(redis, Keys(world.settings.key_prefix))


async def test_the_direct_filter_no_longer_finds_a_meeting_with_an_erased_user(world: ServerHandle) -> None:
    # Contract 5: "`direct` [X] matches the direct meetings between the caller and X";
    # once carol is erased the old meeting is between no one and her, whoever gets her id.
    month = {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"}
    with_carol = {**month, "sourceType": "direct", "sourceIds": ["carol"]}
    async with carol_erased(world) as (alice, root, _, _mid):
        await root.call("admin:upsertUsers", {"users": [{"id": "carol"}]})
        assert (await alice.call("meeting:listUserMeetings", with_carol))["meetings"] == []
        everything = (await alice.call("meeting:listUserMeetings", month))["meetings"]
        assert [(m["participantIds"], m["isValid"]) for m in everything] == [(["alice", "bob"], False)]
