"""The layout of the data in Redis: its format version, the steps between versions, and the
Redis settings the layout relies on (no eviction).

The key `<prefix>schema` holds the format of the data (docs/architecture.md describes the
layout, docs/operations.md how to move between versions). A server sets it on an empty
database, upgrades an older format in place through MIGRATIONS, and refuses any other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from roomful_meetings.storage.keys import DEFAULT_TENANT, Keys
from roomful_meetings.storage.redis import Command, Redis, RedisError, ReplyError

log = logging.getLogger(__name__)

DATA_FORMAT_VERSION: Final = "4"
MIGRATION_BATCH: Final = 1000  # keys renamed per pipeline


class IncompatibleData(RuntimeError):
    """Redis holds data in a format this server does not understand."""


class UpgradeRefused(RuntimeError):
    """Redis refused a write of a data-format upgrade (READONLY, NOREPLICAS, OOM): the server
    exits saying so rather than retrying for ever; the next start carries on."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from a format to the next: `convert` rewrites what must change (None:
    nothing to rewrite), then the version key is set to `to`. A step must be safe to run
    again if the server stops half-way (the version key is set only after it)."""

    to: str
    note: str
    convert: Callable[[Redis, Keys], Awaitable[None]] | None = None


async def into_default_tenant(redis: Redis, keys: Keys) -> None:
    """Format 3 to 4: every key `<prefix>X` becomes the default tenant's `<prefix>{default}:X`
    (RENAME keeps its value and expiry), and the day indexes, which hold day key names, are
    rewritten to the new names. Safe to run again, and alongside another instance running
    it: a key already moved is not found again, a missing one is skipped.

    Raises IncompatibleData on a cluster holding format-3 data: the old keys of one tenant
    lie in many slots there, which RENAME cannot cross.
    """
    default = Keys(keys.prefix, DEFAULT_TENANT)
    old = [k for k in await redis.scan(f"{keys.prefix}*") if _unmoved(k, keys)]
    if old and redis.sharded:
        raise IncompatibleData(
            f"{len(old)} keys of data format 3 on a Redis Cluster: upgrade them on one Redis "
            "first, then move them to the cluster (docs/operations.md, upgrades)"
        )
    tail = len(keys.prefix)
    for start in range(0, len(old), MIGRATION_BATCH):
        batch = old[start : start + MIGRATION_BATCH]
        renames: list[Command] = [("RENAME", k, default.scope.encode() + k[tail:]) for k in batch]
        for reply in await redis.pipeline(renames):
            # "no such key": moved meanwhile by another instance. Anything else (READONLY
            # after a failover, OOM) stops the upgrade before the version is set: the next
            # start carries on from where this one stopped.
            if isinstance(reply, ReplyError) and not str(reply).startswith("ERR no such key"):
                raise reply
    old_days = keys.prefix.encode() + b"u:"
    for index in await redis.scan(default.user_days("*")):
        flat = await redis.execute("ZRANGE", index, 0, -1, "WITHSCORES")
        moved: list[Command] = []
        for day, score in zip(flat[::2], flat[1::2], strict=True):
            if day.startswith(old_days):
                moved += [("ZADD", index, score, default.scope.encode() + day[tail:]), ("ZREM", index, day)]
        if moved:
            for reply in await redis.pipeline(moved):
                if isinstance(reply, ReplyError):
                    raise reply


# The names of format 3 after the prefix (storage/keys.py as it was): only these move, so
# that a deployment whose prefix extends this one's (`rm:` and `rm:eu:`) keeps its keys.
_FORMAT_3 = re.compile(
    rb"(?:u|ev|email|room|prop|group|ss|m|feed|src|req):|(?:eventseq|versions|busyversions)\Z"
)


def _unmoved(key: bytes, keys: Keys) -> bool:
    """A key of the format-3 layout under this deployment's prefix."""
    return key.startswith(keys.prefix.encode()) and _FORMAT_3.match(key, len(keys.prefix)) is not None


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
    # 4 puts every key of a tenant under `<prefix>{<tenant>}:` (contract 12); the data of
    # format 3 becomes the default tenant's.
    "3": Migration(
        to="4",
        note="every key moved into the default tenant's `{default}` scope; servers of the earlier "
        "release must not run beside this one",
        convert=into_default_tenant,
    ),
}


async def check_data_format(redis: Redis, keys: Keys) -> None:
    """Mark a new database with this format, upgrade an older one, refuse any other.

    Raises IncompatibleData for data of a format no migration leads from, UpgradeRefused
    when Redis refuses a write of an upgrade.
    """
    found = (await redis.execute("GET", keys.schema_version()) or b"").decode()
    if not found:
        # SET NX: a new database becomes this version (every release has written this key on
        # its first start, so data without it is no data of ours).
        await redis.execute("SET", keys.schema_version(), DATA_FORMAT_VERSION, "NX")
        found = (await redis.execute("GET", keys.schema_version()) or b"").decode()
    while found != DATA_FORMAT_VERSION and found in MIGRATIONS:
        step = MIGRATIONS[found]
        try:
            if step.convert is not None:
                await step.convert(redis, keys)
            await redis.execute("SET", keys.schema_version(), step.to)
        except ReplyError as exc:  # a lost link is retried; a refusal would be refused again
            raise UpgradeRefused(
                f"Redis refused a write of the data upgrade from format {found} to {step.to} ({exc});"
                f" the data is still marked {found!r}, the next start carries on"
                " (docs/operations.md, upgrades)"
            ) from None
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
