"""The hub against a real Redis: a tenant's events channel is subscribed while this instance
holds a connection of the tenant (the first one waits for Redis's confirmation), events go
to the connections of their recipients in that tenant only, and a subscription confirmed
again (the link came back) catches that tenant's connections up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import trio

from roomful_meetings.fanout.event import Event
from roomful_meetings.fanout.hub import Hub
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis, open_redis


class Receiver:
    def __init__(self, keys: Keys, user_id: str) -> None:
        self.keys, self.user_id = keys, user_id
        self.events: list[str] = []  # sent
        self.held: list[str] = []  # handed, not yet sent
        self.sends = 0
        self.catch_ups = 0
        self.drained = False

    @property
    def channel(self) -> bytes:
        return self.keys.events_channel()

    def deliver(self, event: Event) -> None:
        self.held.append(event.id)

    def send_held(self) -> None:
        self.events += self.held
        self.held.clear()
        self.sends += 1

    def catch_up(self) -> None:
        self.catch_ups += 1

    def drain(self) -> None:
        self.drained = True


@pytest.fixture
async def hub(redis_server: RedisProcess) -> AsyncIterator[tuple[Hub, Redis]]:
    async with open_redis(redis_server.address) as redis, trio.open_nursery() as nursery:
        await redis.wait_connected()
        hub = Hub(redis)
        await nursery.start(hub.run)
        await hub.wait_listening()
        yield hub, redis
        nursery.cancel_scope.cancel()


async def subscribers(redis: Redis, keys: Keys) -> int:
    count: int = (await redis.execute("PUBSUB", "NUMSUB", keys.events_channel()))[1]
    return count


async def published_to(redis: Redis, keys: Keys, event_id: str, *uids: str) -> int:
    message = f"{event_id}\n{json.dumps(list(uids))}\n{{}}"
    count: int = await redis.execute("PUBLISH", keys.events_channel(), message)
    return count


async def test_a_tenant_is_subscribed_while_a_connection_of_it_is_here(
    hub: tuple[Hub, Redis], prefix: str
) -> None:
    the_hub, redis = hub
    acme, bravo = Keys(prefix, "acme"), Keys(prefix, "bravo")
    ann, ann_again, bob = Receiver(acme, "ann"), Receiver(acme, "ann"), Receiver(bravo, "ann")
    assert await subscribers(redis, acme) == 0
    await the_hub.join(ann)  # returns once Redis confirmed the subscription
    assert await subscribers(redis, acme) == 1 and await subscribers(redis, bravo) == 0
    await the_hub.join(ann_again)
    await the_hub.join(bob)
    assert await published_to(redis, acme, "1-0", "ann") == 1
    assert await published_to(redis, bravo, "2-0", "someone") == 1
    with trio.fail_after(5):
        while not ann_again.events:  # noqa: ASYNC110 - Redis delivers on the hub's link
            await trio.sleep(0.01)
    assert ann.events == ann_again.events == ["1-0"] and bob.events == []  # bravo's ann is another
    the_hub.leave(bob)
    with trio.fail_after(5):
        while await subscribers(redis, bravo):  # noqa: ASYNC110 - Redis state
            await trio.sleep(0.01)
    the_hub.leave(ann)
    assert await subscribers(redis, acme) == 1  # ann_again is still here
    the_hub.leave(ann_again)
    with trio.fail_after(5):
        while await subscribers(redis, acme):  # noqa: ASYNC110 - Redis state
            await trio.sleep(0.01)
    assert the_hub.connections == 0


async def test_a_subscription_confirmed_again_catches_its_tenant_up(
    hub: tuple[Hub, Redis], prefix: str
) -> None:
    the_hub, redis = hub
    acme, bravo = Keys(prefix, "acme"), Keys(prefix, "bravo")
    ann, bob = Receiver(acme, "ann"), Receiver(bravo, "bob")
    await the_hub.join(ann)
    await the_hub.join(bob)
    before = ann.catch_ups, bob.catch_ups
    await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
    with trio.fail_after(10):
        while ann.catch_ups == before[0] or bob.catch_ups == before[1]:  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert await subscribers(redis, acme) == 1 and await subscribers(redis, bravo) == 1


async def test_a_connection_that_joins_once_shutting_down_began_is_drained_too(
    hub: tuple[Hub, Redis], prefix: str
) -> None:
    """Its handshake was under way at SIGTERM: it must close with the others, not hold the
    instance until the shutdown deadline cancels whatever it is answering then."""
    the_hub, _ = hub
    keys = Keys(prefix, "acme")
    before, after = Receiver(keys, "ann"), Receiver(keys, "bob")
    await the_hub.join(before)
    the_hub.drain_all()
    assert before.drained
    await the_hub.join(after)
    assert after.drained
    the_hub.leave(before)
    the_hub.leave(after)


async def test_the_events_of_one_read_are_written_once_per_connection(
    hub: tuple[Hub, Redis], prefix: str
) -> None:
    """A busy user's connection sent three events that came in one read from Redis writes
    them together, after the read, in the order they were published."""
    the_hub, redis = hub
    keys = Keys(prefix, "acme")
    ann, bob = Receiver(keys, "ann"), Receiver(keys, "bob")
    await the_hub.join(ann)
    await the_hub.join(bob)
    messages = [f"{n}-0\n{json.dumps(['ann', 'bob'] if n == 2 else ['ann'])}\n{{}}" for n in (1, 2, 3)]
    # One transaction: Redis writes the three messages to the hub's link at once.
    await redis.pipeline([("MULTI",), *[("PUBLISH", keys.events_channel(), m) for m in messages], ("EXEC",)])
    with trio.fail_after(5):
        while len(ann.events) < 3:  # noqa: ASYNC110 - Redis delivers on the hub's link
            await trio.sleep(0.01)
    assert ann.events == ["1-0", "2-0", "3-0"] and ann.sends == 1
    assert bob.events == ["2-0"] and bob.sends == 1
