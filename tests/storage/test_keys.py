"""Python and Lua build the same key names: every `k_<name>` helper of
lua/includes/keys.lua, run in a real Redis with a tenant's scope, gives what `Keys.<name>`
gives for the same arguments."""

from __future__ import annotations

import inspect
import re

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Script, open_redis
from roomful_meetings.storage.redis.scripts import lua_dir

LIBRARY = (lua_dir() / "includes" / "keys.lua").read_text()
HELPERS = re.findall(r"^local function k_(\w+)\(([^)]*)\)", LIBRARY, re.M)


def test_every_lua_key_helper_has_a_python_twin() -> None:
    assert HELPERS, "no k_ helpers found in lua/includes/keys.lua"
    missing = [name for name, _ in HELPERS if not hasattr(Keys, name)]
    assert missing == []


async def test_lua_and_python_build_the_same_key_names(redis_server: RedisProcess, prefix: str) -> None:
    calls = []
    for name, params in HELPERS:
        args = [f"{name[:3]}{i}" for i, _ in enumerate(p for p in params.split(",") if p.strip())]
        assert len(args) == len(inspect.signature(getattr(Keys, name)).parameters) - 1, name
        calls.append((name, args))
    body = (
        "return {" + ", ".join(f"k_{name}({', '.join(repr(a) for a in args)})" for name, args in calls) + "}"
    )
    script = Script.from_source("keys_probe", ("local PREFIX = ARGV[1]\n" + LIBRARY + "\n" + body).encode())
    keys = Keys(prefix, "acme-2")
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        built = await redis.evalsha(script, [], [keys.scope])
    assert [b.decode() for b in built] == [getattr(keys, name)(*args) for name, args in calls]
