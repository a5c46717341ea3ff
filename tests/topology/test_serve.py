"""`serve` on each topology: one server instance per URL form answers over a real websocket."""

from __future__ import annotations

from pathlib import Path

import trio

from roomful_meetings.app import Running, run_server
from roomful_meetings.client import connect
from roomful_meetings.config import Settings
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis.cluster import key_slot
from tests.conftest import SECRET, token
from tests.topologies import RedisCluster, SentinelGroup, command


async def get_unknown_meeting(settings: Settings, user: str) -> tuple[int, str]:
    """Start an instance, connect as `user`, ask for a meeting that does not exist."""
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        running: Running = await nursery.start(run_server, settings, stop)
        async with connect(f"ws://127.0.0.1:{running.port}", token(user)) as client:
            ready = await client.next_push()
            assert ready.endpoint == "connection:ready"
            frame = await client.request("meeting:getMeeting", {"meetingId": "nope"})
        stop.set()
    return frame.error.code, frame.error.message


async def test_serve_with_a_sentinel_url_answers(
    sentinel_group: SentinelGroup, prefix: str, tmp_path: Path
) -> None:
    settings = Settings(
        port=0, redis_url=sentinel_group.url, key_prefix=prefix, jwt_secret=SECRET, data_dir=tmp_path
    )
    assert await get_unknown_meeting(settings, "alice") == (404, "meeting nope not found")


def tenants_on_two_nodes(cluster: RedisCluster, prefix: str) -> tuple[str, str]:
    """Two tenant names whose slots are served by different primaries."""
    first = "t0"
    node = cluster.owner(Keys(prefix, first).scope)
    for n in range(1, 200):
        if cluster.owner(Keys(prefix, f"t{n}").scope) != node:
            return first, f"t{n}"
    raise AssertionError("no second tenant on another node")


async def test_two_instances_serve_two_tenants_on_a_cluster(
    cluster: RedisCluster, prefix: str, tmp_path: Path
) -> None:
    """One URL for both instances; each tenant's keys on its own node, its events on
    sharded pub/sub there: a meeting made on one instance reaches its invitee on the other,
    and nothing crosses between the tenants."""
    tenants = tenants_on_two_nodes(cluster, prefix)
    settings = Settings(
        port=0, redis_url=cluster.url, key_prefix=prefix, jwt_secret=SECRET, data_dir=tmp_path
    )
    async with trio.open_nursery() as nursery:
        stops = [trio.Event(), trio.Event()]
        first: Running = await nursery.start(run_server, settings, stops[0])
        second: Running = await nursery.start(run_server, settings, stops[1])
        urls = [f"ws://127.0.0.1:{r.port}" for r in (first, second)]
        for tenant in tenants:
            async with connect(urls[0], token("root", admin=True, tenant=tenant)) as admin:
                await admin.call("admin:upsertUsers", {"users": [{"id": "alice"}, {"id": "bob"}]})
                await admin.call("admin:upsertRooms", {"rooms": [{"id": "lobby"}]})
        for tenant, other in (tenants, tenants[::-1]):
            async with (
                connect(urls[0], token("alice", tenant=tenant)) as alice,
                connect(urls[1], token("bob", tenant=tenant)) as bob,
                connect(urls[1], token("bob", tenant=other)) as other_bob,
            ):
                for client in (alice, bob, other_bob):
                    assert (await client.next_push()).endpoint == "connection:ready"
                made = await alice.call(
                    "meeting:createMeeting",
                    {
                        "sourceType": "room",
                        "sourceIds": ["lobby"],
                        "subject": tenant,
                        "startDate": "2030-03-04T10:00:00Z",
                        "endDate": "2030-03-04T11:00:00Z",
                        "invitedUserIds": ["bob"],
                    },
                )
                pushed = await bob.next_push("meeting:onMeetingCreated")
                assert pushed.data["meeting"]["meetingId"] == made["meeting"]["meetingId"]
                mine = await other_bob.request(
                    "meeting:getMeeting", {"meetingId": made["meeting"]["meetingId"]}
                )
                assert mine.error.code == 404
        for stop in stops:
            stop.set()
    for tenant in tenants:  # every key of a tenant on the node of its slot
        node = cluster.owner(Keys(prefix, tenant).scope)
        found = command(node, "KEYS", f"{Keys(prefix, tenant).scope}*")
        assert found and all(key_slot(k) == key_slot(Keys(prefix, tenant).scope) for k in found)
