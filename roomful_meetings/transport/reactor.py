"""One epoll for the reads of every connection of an instance.

Theory of operation: trio waits for a socket with a one-shot registration, so each read of
each connection costs an `epoll_ctl` and a pass through the scheduler for the task that
waited. Here every connection's socket is registered once, edge-triggered, in an epoll of
the instance's own; one task waits for that epoll to be readable (trio watches it like
any descriptor), then takes every ready socket in one `epoll_wait` and calls its
`on_readable` there and then. A connection reads, and may answer a request, inside that
call (transport/session.py), so a batch of a hundred requests costs one wake-up, and the
Redis commands they queued leave in a few writes per Redis connection (`flush_inline`).

Edge-triggered: a socket is reported when bytes arrive, not while bytes wait, so whoever
is told must remember it (WireStream.readable) until a read comes back short, or, when the
report says the peer closed (ENDED: it may come in the same report as the last bytes),
until a read says so. Linux removes a closed descriptor from the epoll; `remove` drops it
first anyway, before its number can be reused.
"""

from __future__ import annotations

import contextlib
import logging
import select
from collections.abc import Callable
from typing import Final

import trio

from roomful_meetings.service.dispatch import flush_inline

log = logging.getLogger(__name__)

EVENTS: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
# Connections called back per pass: the rest wait for the next one (epoll keeps them ready),
# so that Redis replies and events get their turn between passes under a flood.
PASS: Final = 256
# Redis commands queued by the connections called back so far are written every this many
# connections, not only at the end of the pass: Redis starts on them while the rest are read.
# Measured against node_get (5 alternating one-run comparisons): every pass only, 0.95-0.98x
# its throughput and p99 1.2x; every 4, 0.97-1.06x and p99 0.94-1.11x; every 2 about the
# same for more writes; every one worse (a write per request). Full 3-run suites before and
# after both gave 0.97x: within this machine's noise (bench/README.md). Redis reads per get
# (bench/run.py): 0.045-0.075 here, 0.027-0.11 for node_get; writing mid-pass only to Redis
# connections with nothing in flight cut ours to 0.024, with no change in Redis CPU per get
# beyond the noise (3 alternating pairs), so it was not kept.
FLUSH_EVERY: Final = 4
# What tells a reader that the peer has closed or reset the connection (with or after its
# last bytes): reading must go on until it says so.
ENDED: Final = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR

OnReadable = Callable[[float, int], None]


class Reactor:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, OnReadable] = {}

    def add(self, fd: int, on_readable: OnReadable) -> None:
        """Call `on_readable(now, events)` (trio's clock, epoll's flags) whenever bytes, or
        the end of the stream, arrive on `fd`."""
        self._readers[fd] = on_readable
        self._epoll.register(fd, EVENTS)

    def remove(self, fd: int, on_readable: OnReadable) -> None:
        """Stop calling `on_readable` for `fd` (a descriptor number reused since, and
        registered by another, stays registered)."""
        if self._readers.get(fd) != on_readable:
            return
        del self._readers[fd]
        if not self._epoll.closed:
            with contextlib.suppress(OSError):  # already closed: Linux dropped it
                self._epoll.unregister(fd)

    async def run(self) -> None:
        epoll, readers = self._epoll, self._readers
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                now = trio.current_time()
                for n, (fd, events) in enumerate(epoll.poll(0, PASS), 1):
                    on_readable = readers.get(fd)
                    if on_readable is not None:
                        try:
                            on_readable(now, events)
                        except Exception:  # one connection's bug must not stop every read
                            log.exception("reading fd %d failed", fd)
                    if n % FLUSH_EVERY == 0:
                        flush_inline()
                flush_inline()
        finally:
            epoll.close()
