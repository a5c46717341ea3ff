"""Scripts as a cluster runs them: each first asks for the two slot guards (Redis 7 only:
a cluster needs sharded pub/sub, so these are not rerun on 6.2)."""

from __future__ import annotations

from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis, load_scripts
from roomful_meetings.storage.redis.scripts import SLOT_GUARD_KEYS, LoadOptions
from tests.storage.world import create, seed, stores


async def test_cluster_scripts_first_ask_for_the_slot_guards_and_work_as_before(
    redis: Redis, prefix: str
) -> None:
    """On a settled node the guard finds nothing and changes nothing; what it does during a
    slot move is tests/topology/test_resharding.py's."""
    clustered = load_scripts(options=LoadOptions(cluster=True))
    guard = f"redis.pcall('EXISTS', PREFIX .. '{SLOT_GUARD_KEYS[0]}', PREFIX .. '{SLOT_GUARD_KEYS[1]}')"
    for script in clustered.values():
        text = script.source.decode()
        first_call = min(i for i in (text.find("redis.call("), text.find("redis.pcall(")) if i >= 0)
        assert text[first_call:].startswith(guard), script.name
    assert all(guard not in s.source.decode() for s in load_scripts().values())
    keys = Keys(prefix, "acme")
    world = stores(redis, keys, clustered)
    await seed(world)
    made = await create(world, "m1")
    assert await world.meetings.get("m1", "bob") == made
    assert await redis.execute("EXISTS", *(keys.scope + name for name in SLOT_GUARD_KEYS)) == 0
