"""One task per instance that keeps every connection honest: pings the silent, drops the
dead, closes those whose token expired.

A timer task per connection did the same, at a cost of a task, a coroutine frame and a
cancel scope for each of tens of thousands of idle connections (memory per connection is
measured in bench/). A sweep over all of them a few times per ping interval costs well
under a microsecond per connection.
"""

from __future__ import annotations

from typing import Final, Protocol

import trio

from roomful_meetings.config import Settings

MIN_TICK: Final = 0.02
MAX_TICK: Final = 1.0


class Checked(Protocol):
    def check_alive(self, now: float) -> None: ...


class Keepalive:
    def __init__(self, settings: Settings) -> None:
        self.connections: set[Checked] = set()
        shortest = min(settings.ping_interval, settings.ping_timeout)
        self.tick = min(MAX_TICK, max(MIN_TICK, shortest / 4))

    async def run(self) -> None:
        while True:
            await trio.sleep(self.tick)
            now = trio.current_time()
            for connection in list(self.connections):
                connection.check_alive(now)
