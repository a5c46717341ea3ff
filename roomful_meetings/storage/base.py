"""What every store shares: running a script with the common arguments, reading its code."""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

import msgspec

from roomful_meetings.domain.time import format_ms_utc
from roomful_meetings.errors import error_for_code
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Command, Redis, ReplyError, Script

ScriptArg = str | bytes | int | float


def decode_hash(reply: list[bytes]) -> dict[str, str]:
    """An HGETALL reply as a dict of text."""
    return {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply), 2)}


# The safe-retry key of the change being made (set by the dispatcher for requests that
# change something and carry an event.id); changing scripts receive it as their last KEY.
REQUEST_KEY: ContextVar[str | None] = ContextVar("REQUEST_KEY", default=None)
# The busy versions a rejectConflicts check read (user id -> version): changing scripts run
# while this is set refuse with 298 when any moved on (storage/redis/scripts.py).
BUSY_GUARD: ContextVar[dict[str, str] | None] = ContextVar("BUSY_GUARD", default=None)
READ_ONLY_SCRIPTS = frozenset(
    {
        "get_meeting",
        "list_user_meetings",
        "read_availability",
        "get_series",
        "read_series_busy",
        "read_series_states",
    }
)


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

    async def pipeline(self, commands: list[Command]) -> list[Any]:
        """Run reads back to back on one connection; an error reply is raised (the Redis
        layer returns them in place, which no store wants)."""
        replies = await self.redis.pipeline(commands)
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies

    async def run(self, name: str, keys: list[str], args: list[ScriptArg]) -> list[Any]:
        """Run lua/<name>.lua; a non-zero code becomes the matching ApiError.

        Every script gets (prefix, now ms, now RFC 3339) before its own ARGV.
        """
        script = self.scripts[name]
        declared = script.header.keys if script.header else len(keys)
        if len(keys) != declared:  # a caller out of step with the script's header
            raise ValueError(f"lua/{name}.lua takes {declared} KEYS, given {len(keys)}")
        now_ms = int(time.time() * 1000)
        request_key = REQUEST_KEY.get()
        guard = BUSY_GUARD.get()
        if guard is not None and name not in READ_ONLY_SCRIPTS:
            keys = [*keys, self.keys.prefix + "guard:" + msgspec.json.encode(guard).decode()]
        if request_key is not None and name not in READ_ONLY_SCRIPTS:
            keys = [*keys, request_key]
        reply = await self.redis.evalsha(
            script, keys, [self.keys.prefix, now_ms, format_ms_utc(now_ms), *args]
        )
        code = reply[0]
        if code in SIGNALS:
            raise SIGNALS[code](reply[1].decode())
        if code != 0:
            raise error_for_code(int(code), reply[1].decode())
        return list(reply[1:])
