"""The layout of the data in Redis: its format version, the steps between versions, and the
Redis settings the layout relies on (no eviction).

The key `<prefix>schema` holds the format of the data (docs/architecture.md describes the
layout, docs/operations.md how to move between versions). A server sets it on an empty
database, upgrades an older format in place through MIGRATIONS, and refuses any other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis, RedisError

log = logging.getLogger(__name__)

DATA_FORMAT_VERSION: Final = "3"


class IncompatibleData(RuntimeError):
    """Redis holds data in a format this server does not understand."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from a format to the next: `convert` rewrites what must change (None:
    nothing to rewrite), then the version key is set to `to`. A step must be safe to run
    again if the server stops half-way (the version key is set only after it)."""

    to: str
    note: str
    convert: Callable[[Redis, Keys], Awaitable[None]] | None = None


# Keyed by the format a step starts from; run in a chain until DATA_FORMAT_VERSION.
MIGRATIONS: Final[dict[str, Migration]] = {
    # 1: every stream entry holds its frame; 2 adds entries pointing to a frame stored once,
    # which a format-1 server would misread, and moves events to one pub/sub channel.
    "1": Migration(
        to="2",
        note="nothing to convert, but servers of the earlier release must not run beside this "
        "one (they refuse to start now)",
    ),
    # 3 adds series (a format-2 server's scripts would change one as a single meeting) and
    # keeps explicit day settings as wall-clock minutes of the user's zone (180 bytes, or 360
    # on a day whose clocks go back); a format-2 value (another length) is read as before,
    # but a format-2 server would misread a format-3 value of a clock-change day.
    "2": Migration(
        to="3",
        note="nothing to convert (format-2 day settings are read as they are), but servers of "
        "the earlier release must not run beside this one",
    ),
}


async def check_data_format(redis: Redis, keys: Keys) -> None:
    """Mark a new database with this format, upgrade an older one, refuse any other.

    Raises IncompatibleData for data of a format no migration leads from.
    """
    # SET NX: a new database (or one from before versions existed) becomes this version.
    await redis.execute("SET", keys.schema_version(), DATA_FORMAT_VERSION, "NX")
    found = (await redis.execute("GET", keys.schema_version()) or b"").decode()
    while found != DATA_FORMAT_VERSION and found in MIGRATIONS:
        step = MIGRATIONS[found]
        if step.convert is not None:
            await step.convert(redis, keys)
        await redis.execute("SET", keys.schema_version(), step.to)
        log.warning("data format %s marked %s: %s", found, step.to, step.note)
        found = step.to
    if found != DATA_FORMAT_VERSION:
        raise IncompatibleData(
            f"Redis key {keys.schema_version()!r} says the data is in format {found!r}; this server "
            f"understands format {DATA_FORMAT_VERSION!r}. See docs/operations.md (upgrades)."
        )


async def warn_on_eviction(redis: Redis) -> None:
    """Warn loudly unless Redis is set never to evict keys (which would leave data half-gone)."""
    try:
        reply = await redis.execute("CONFIG", "GET", "maxmemory-policy")
    except RedisError as exc:
        log.warning("could not read Redis maxmemory-policy (%s): make sure it is noeviction", exc)
        return
    policy = reply[1].decode() if len(reply) > 1 else "unknown"
    if policy != "noeviction":
        log.warning(
            "!!! Redis maxmemory-policy is %r: Redis may EVICT meetings, indexes and events under memory "
            "pressure, leaving data half-gone. Set `maxmemory-policy noeviction` for this server. !!!",
            policy,
        )
