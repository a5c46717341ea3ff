"""What every store shares: running a script with the common arguments, reading its code."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from roomful_meetings.domain.time import format_ms_utc
from roomful_meetings.errors import error_for_code
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Command, Redis, RedisError, ReplyError, Script

log = logging.getLogger(__name__)

ScriptArg = str | bytes | int | float


def decode_hash(reply: list[bytes]) -> dict[str, str]:
    """An HGETALL reply as a dict of text."""
    return {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply), 2)}


@dataclass(frozen=True, slots=True)
class Write:
    """What a changing request brings to every change script it runs (storage/redis/scripts.py):
    its safe-retry key (contract 6: a repeat gets the first answer) and the busy versions a
    rejectConflicts check read (contract 10: the script refuses with 298 if any moved)."""

    retry_key: str | None = None
    busy_guard: Mapping[str, str] | None = None
    # The request's fingerprint (`fingerprint`): a different request under the same key is
    # refused, not answered with the first one's answer.
    request_print: str = ""
    # False: answered without waiting for --redis-min-replicas, for a change that a failover
    # may lose without harm (the profile claims each connection writes again).
    replicated: bool = True

    def guarded(self, versions: Mapping[str, str]) -> Write:
        return Write(self.retry_key, versions, self.request_print, self.replicated)


NO_WRITE: Final = Write()


class StaleVersion(Exception):
    """Script code 299: the series changed since the change was prepared (nothing written)."""


class SeriesRedirect(Exception):
    """Script code 300: the meeting is a series, which another script changes (nothing written)."""


class BusyMoved(Exception):
    """Script code 298: a busy version read by a rejectConflicts check moved (nothing written)."""


SIGNALS: dict[int, type[Exception]] = {298: BusyMoved, 299: StaleVersion, 300: SeriesRedirect}


class Store:
    def __init__(self, redis: Redis, scripts: dict[str, Script], keys: Keys) -> None:
        self.redis = redis
        self.scripts = scripts
        self.keys = keys
        # Events wait for the replicas (--redis-min-replicas): how the scripts were built.
        self.holds_events = any(script.options.hold_events for script in scripts.values())

    async def pipeline(self, commands: list[Command]) -> list[Any]:
        """Run reads back to back on one connection; an error reply is raised (the Redis
        layer returns them in place, which no store wants)."""
        replies = await self.redis.pipeline(commands)
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies

    async def run(
        self, name: str, keys: list[str], args: list[ScriptArg], *, write: Write = NO_WRITE
    ) -> list[Any]:
        """Run lua/<name>.lua as its header declares; a non-zero code becomes the matching
        ApiError (or signal). Raises ValueError for KEYS other than declared.

        Every script gets the library's arguments before its own (the tenant's key scope,
        now); a change also `write`'s retry key and busy guard, and the client waits for
        --redis-min-replicas after it (never after a read). When events are held until the
        replicas have the change, they are released here once they do.
        """
        script = self.scripts[name]
        change = script.header is not None and script.header.mode == "change"
        wait = None if change and write.replicated else 0
        reply = await self._call(script, keys, args, write, wait_replicas=wait)
        if change and script.options.hold_events:
            held = reply.pop()
            if held:
                await self.release(held.decode())
        return reply

    async def release(self, up_to: str) -> None:
        """Publish the tenant's held events up to `up_to` (lua/release_events.lua), with no
        WAIT: publishing again after a failover repeats nothing a receiver keeps. A failure
        leaves them held for the instance's sweep (service/outbox.py)."""
        script = self.scripts["release_events"]
        keys = [self.keys.outbox(), self.keys.released()]
        try:
            await self._call(script, keys, [up_to], NO_WRITE, wait_replicas=0)
        except RedisError as exc:
            log.warning("held events up to %s not released yet (%s); the sweep will", up_to, exc)

    async def _call(
        self,
        script: Script,
        keys: list[str],
        args: list[ScriptArg],
        write: Write,
        *,
        wait_replicas: int | None,
    ) -> list[Any]:
        header = script.header
        if header is None:
            raise ValueError(f"{script.name} has no header: run it with Redis.evalsha")
        header.check_keys(script.name, len(keys))
        now_ms = int(time.time() * 1000)
        library: list[ScriptArg] = [self.keys.scope, now_ms, format_ms_utc(now_ms)]
        if header.mode == "change":
            guard = write.busy_guard
            request = (write.request_print or "1") if write.retry_key else ""
            library += [request, msgspec.json.encode(guard) if guard else ""]
            if write.retry_key:
                keys = [*keys, write.retry_key]
                if write.request_print:
                    keys.append(self.keys.request_print(write.retry_key))
        try:
            reply = await self.redis.evalsha(script, keys, [*library, *args], wait_replicas=wait_replicas)
        except ReplyError as exc:
            if type(exc) is ReplyError:  # an error in the script: say where, in its files
                raise ReplyError(script.explain(str(exc))) from None
            raise
        code = reply[0]
        if code in SIGNALS:
            raise SIGNALS[code](reply[1].decode())
        if code != 0:
            raise error_for_code(int(code), reply[1].decode())
        return list(reply[1:])
