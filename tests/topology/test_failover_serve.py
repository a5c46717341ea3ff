"""A primary failover under load, with two server instances that are never restarted
(contract 12), on a Sentinel group (1 + 2) and on a Redis Cluster (3 + 3); and, on the
cluster, the same load while a tenant's slot is resharded to another primary.

Two tenants; in each an organizer creates meetings without pause and an invitee accepts
every one it is told of, while two receivers (one per instance) collect their events. The
primary that holds the first tenant is SIGKILLed. Checked: every failed reply meanwhile is a
503 (never another code, never a wrong answer); acknowledged creates resume within 15 s of
the kill, with no instance restarted; with --redis-min-replicas 1 every acknowledged create
and accept is still there; and once the load stops every receiver has every event of its
stream exactly once, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest
import trio

from roomful_meetings.app import Running, run_server
from roomful_meetings.client import MeetingsClient, open_client
from roomful_meetings.config import Settings
from roomful_meetings.errors import ApiError
from roomful_meetings.fanout.event import event_order
from roomful_meetings.protocol import payloads as p
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import open_redis, parse_redis_target
from tests.conftest import SECRET, token
from tests.topologies import RedisCluster, SentinelGroup, SlotMove

log = logging.getLogger(__name__)

BEFORE_KILL: Final = 15  # acknowledged creates per tenant before the primary dies
AFTER_KILL: Final = 10  # and after it, before the load stops
RESUME_WITHIN: Final = 15.0  # seconds (contract 12)
START: Final = datetime(2031, 1, 6, 9, tzinfo=UTC)
PACE: Final = 0.02  # seconds between an organizer's creates: within a connection's request rate


@dataclass
class Tenant:
    name: str
    created: list[str] = field(default_factory=list)  # meeting ids, acknowledged
    accepted: set[str] = field(default_factory=set)  # meeting ids, acknowledged accepts
    failures: list[int] = field(default_factory=list)  # the codes of failed replies
    first_after_kill: float | None = None  # trio clock, the first create acknowledged after it
    received: dict[str, list[str]] = field(default_factory=dict)  # receiver -> event ids


@dataclass
class Run:
    tenants: list[Tenant]
    killed_at: float | None = None
    killed: trio.Event = field(default_factory=trio.Event)


async def organize(client: MeetingsClient, tenant: Tenant, run: Run, enough: trio.Event) -> None:
    n = 0
    while True:
        n += 1
        sent_after_kill = run.killed.is_set()
        begin = START + timedelta(hours=n)
        try:
            made = await client.create_meeting(
                p.CreateMeeting(
                    "room",
                    ["lobby"],
                    f"m{n}",
                    begin,
                    begin + timedelta(minutes=30),
                    invitedUserIds=["r1", "r2"],
                )
            )
        except ApiError as exc:
            tenant.failures.append(exc.code)
            await trio.sleep(0.02)  # as a client retrying after a 503
            continue
        tenant.created.append(made.meetingId)
        await trio.sleep(PACE)
        if sent_after_kill and tenant.first_after_kill is None:
            tenant.first_after_kill = trio.current_time()
        if len(tenant.created) >= BEFORE_KILL and all(len(t.created) >= BEFORE_KILL for t in run.tenants):
            enough.set()


async def receive(client: MeetingsClient, tenant: Tenant, name: str, accept: bool) -> None:
    """Collect the events of one receiver; `accept` every meeting it is invited to."""
    ids = tenant.received.setdefault(name, [])
    async for event in client.events():
        if event.name == "connection:ready":
            continue
        ids.append(event.id)
        if accept and event.name == "meeting:onMeetingCreated":
            mid = event.data.meeting.meetingId
            while True:
                try:
                    await client.accept_meeting_request(mid)
                except ApiError as exc:
                    tenant.failures.append(exc.code)
                    await trio.sleep(0.02)
                    continue
                tenant.accepted.add(mid)
                break


async def failover_under_load(
    url: str, prefix: str, tmp_path: Path, names: tuple[str, str], kill: Callable[[], Awaitable[None]]
) -> Run:
    settings = Settings(
        port=0,
        redis_url=url,
        key_prefix=prefix,
        jwt_secret=SECRET,
        data_dir=tmp_path,
        redis_min_replicas=1,
        redis_timeout=2.0,
    )
    run = Run([Tenant(name) for name in names])
    async with trio.open_nursery() as servers:
        stops = [trio.Event(), trio.Event()]
        instances: list[Running] = [await servers.start(run_server, settings, stop) for stop in stops]
        urls = [f"ws://127.0.0.1:{i.port}" for i in instances]
        for tenant in run.tenants:
            async with open_client(
                urls[0], token("root", admin=True, tenant=tenant.name), events=False
            ) as admin:
                await admin.upsert_users([p.UserIn(u) for u in ("org", "r1", "r2")])
                await admin.upsert_rooms([p.RoomIn("lobby")])
        async with trio.open_nursery() as load:
            organizers: list[tuple[MeetingsClient, Tenant]] = []
            for tenant in run.tenants:
                org = await load.start(_client, urls[0], token("org", tenant=tenant.name), False)
                r1 = await load.start(_client, urls[0], token("r1", tenant=tenant.name), True)
                r2 = await load.start(_client, urls[1], token("r2", tenant=tenant.name), True)
                load.start_soon(receive, r1, tenant, "r1", True)
                load.start_soon(receive, r2, tenant, "r2", False)
                organizers.append((org, tenant))
            async with trio.open_nursery() as organizing:
                enough = trio.Event()
                for org, tenant in organizers:
                    organizing.start_soon(organize, org, tenant, run, enough)
                await enough.wait()
                run.killed_at = trio.current_time()
                run.killed.set()
                await kill()
                with trio.fail_after(60):
                    for tenant in run.tenants:
                        while len(tenant.created) < BEFORE_KILL + AFTER_KILL:  # noqa: ASYNC110 - load tasks add
                            await trio.sleep(0.1)
                organizing.cancel_scope.cancel()  # the receivers go on: r1 accepts what it was told of
            await settle(run, url, prefix)
            load.cancel_scope.cancel()
        for stop in stops:
            stop.set()
    return run


async def _client(
    url: str,
    user_token: str,
    events: bool,
    *,
    task_status: trio.TaskStatus[MeetingsClient] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with open_client(url, user_token, events=events) as client:
        task_status.started(client)
        await trio.sleep_forever()


async def settle(run: Run, url: str, prefix: str) -> None:
    """Wait until each receiver's events are its stream's (what the new primary holds)."""
    async with open_redis(parse_redis_target(url)) as redis:
        await redis.wait_connected()

        async def stream(keys: Keys, name: str) -> list[str]:
            return [e[0].decode() for e in await redis.execute("XRANGE", keys.user_events(name), "-", "+")]

        for tenant in run.tenants:
            keys = Keys(prefix, tenant.name)
            for name, ids in tenant.received.items():
                kept: list[str] = []
                with trio.move_on_after(30):
                    # until every retained event is received, twice in a row (r1 may still be
                    # accepting the last meetings it was told of, making events)
                    while not (set(kept) <= set(ids) and kept == await stream(keys, name)):
                        kept = await stream(keys, name)  # the newest ~1000: older ones are trimmed
                        await trio.sleep(0.2)
                order = [event_order(i) for i in ids]
                assert order == sorted(set(order)), f"{tenant.name}/{name}: a duplicate, or out of order"
                missing = sorted(set(kept) - set(ids), key=event_order)
                where = [f"{kept.index(m) + 1} of {len(kept)} in its stream" for m in missing]
                assert not missing, (
                    f"{tenant.name}/{name}: never received {missing} ({where}; {len(ids)} received)"
                )
                since_oldest_kept = [i for i in ids if event_order(i) >= event_order(kept[0])]
                assert since_oldest_kept == kept, f"{tenant.name}/{name}: received what the stream has not"
            for mid in tenant.created:  # every acknowledged create is there
                assert await redis.execute("EXISTS", keys.meeting(mid)) == 1, f"{tenant.name}: lost {mid}"
            for mid in tenant.accepted:  # and every acknowledged accept
                assert await redis.execute("HGET", keys.meeting(mid), "s:r1") == b"accepted", mid


def check(run: Run) -> None:
    assert run.killed_at is not None
    for tenant in run.tenants:
        assert set(tenant.failures) <= {503}, f"{tenant.name}: {sorted(set(tenant.failures))}"
        assert tenant.first_after_kill is not None
        resumed = tenant.first_after_kill - run.killed_at
        log.info(
            "tenant %s: resumed %.1f s after the kill, %d 503s", tenant.name, resumed, len(tenant.failures)
        )
        assert resumed < RESUME_WITHIN, f"{tenant.name}: resumed after {resumed:.1f} s"
    assert any(t.failures for t in run.tenants), "the kill should have been noticed"


@pytest.mark.default_run  # about 11 s: CI sees one failover under load on every change
async def test_a_sentinel_failover_under_load_loses_nothing(
    own_sentinel_group: SentinelGroup, prefix: str, tmp_path: Path
) -> None:
    group = own_sentinel_group
    old = group.primary()
    assert old is not None

    async def kill() -> None:
        group.data_node(old).kill()

    check(await failover_under_load(group.url, prefix, tmp_path, ("acme", "bravo"), kill))


async def test_a_cluster_failover_under_load_loses_nothing(
    own_cluster: RedisCluster, prefix: str, tmp_path: Path
) -> None:
    cluster = own_cluster
    names = (
        "acme",
        next(
            f"t{n}"
            for n in range(200)
            if cluster.owner(Keys(prefix, f"t{n}").scope) != cluster.owner(Keys(prefix, "acme").scope)
        ),
    )
    victim = cluster.owner(Keys(prefix, names[0]).scope)
    heir = cluster.replica_of(victim)

    async def kill() -> None:
        cluster.node(victim).kill()
        # As a supervisor would: the dead node is started again, and rejoins as the heir's
        # replica once the heir has taken over (with one replica per primary, WAIT 1 on
        # the heir's shard needs it back).
        with trio.fail_after(RESUME_WITHIN):
            while cluster.owner(Keys(prefix, names[0]).scope) != heir:  # noqa: ASYNC110 - other processes
                await trio.sleep(0.1)
        cluster.node(victim).start()

    check(await failover_under_load(cluster.url, prefix, tmp_path, names, kill))


async def test_moving_a_tenant_to_another_primary_under_load_loses_nothing(
    own_cluster: RedisCluster, prefix: str, tmp_path: Path
) -> None:
    """Resharding instead of a kill: the first tenant's slot moves to another primary, a
    few keys at a time as `redis-cli --cluster reshard` moves them, while both tenants
    work. Its requests meanwhile are 503 (the scripts' slot guard), and the move completes."""
    cluster = own_cluster
    names = ("acme", "bravo")

    async def move() -> None:
        # In a thread, as redis-cli would be another process: the servers and the load go
        # on while each MIGRATE runs.
        slot = await trio.to_thread.run_sync(SlotMove, cluster, Keys(prefix, names[0]).scope)
        await trio.to_thread.run_sync(slot.begin)
        began, moved = trio.current_time(), 0
        while batch := await trio.to_thread.run_sync(slot.move_keys, 5):
            moved += batch
            await trio.sleep(0.05)
        await trio.to_thread.run_sync(slot.finish)
        log.info("moved %d keys in %.1f s", moved, trio.current_time() - began)
        assert cluster.owner(Keys(prefix, names[0]).scope) == slot.target

    run = await failover_under_load(cluster.url, prefix, tmp_path, names, move)
    assert not run.tenants[1].failures, "a tenant on a slot not moved was refused"
    check(run)
