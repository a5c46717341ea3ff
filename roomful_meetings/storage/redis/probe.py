"""The readiness probe: whether Redis answers now, not whether links to it are open.

Theory of operation: an open link says nothing of Redis answering on it. A frozen
redis-server (SIGSTOP, a hung host) or a partition that keeps TCP up takes connections and
commands and answers none; the pool drops a link only once a request has waited
--redis-timeout, and opens the next one at once (the kernel still accepts it). So the
probe keeps a link of its own to each primary the client sends commands to (the server;
the primary Sentinel names; every primary of a cluster's slot map) and PINGs it every
`interval` seconds. No answer within `timeout` makes that primary *silent*; the probe then
pipelines a second PING behind the first and waits for it as long as the link lives, so
the primary counts as answering the moment Redis answers, not an interval later. A link
silent for --redis-timeout is closed and a fresh one opened (one that a middlebox dropped
would never answer); a refused connection, a broken link or an error reply (LOADING, a
wrong password) is a *failure*, with its reason.

Why a link of its own rather than a pooled one: a pooled link may hold a WAIT
(--redis-min-replicas) for 0.4 x --redis-timeout, and a PING queued behind it would call a
healthy primary silent; and a pool must count as up as soon as its link is open: a PING in
every link's handshake made a cluster's new node pools count as up a round trip later, and
the commands sent to them meanwhile failed "not connected".

While a primary is silent its pool refuses new commands at once (`Pool.silent`: a
RedisUnavailable, so a 503 "not applied", and HTTP 503 for a new websocket connection)
rather than sending them to wait --redis-timeout for an "outcome unknown"; commands already
sent wait as before. Only silence does that: after a refused connection or an error reply
the pool's own links break, or get the same answer at once.

The events link (pub/sub) is PINGed the same way (`Subscriber.ping`).

`problem()`, what /readyz says: None while at least one probed primary, and the events
link, answer: each is found silent at most `interval + timeout` after it stopped answering,
and an answer older than `interval + 2 x timeout` (the probe fell behind, and did not even
ask) counts as none. On a cluster one silent primary leaves the
instance ready: its tenants get 503s from every instance alike, and taking every instance
out of the load balancer would only stop the other tenants too (`answering()` counts the
primaries that answer, for the metrics).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

import trio

from roomful_meetings.storage.redis.client import Pool, Redis
from roomful_meetings.storage.redis.connection import (
    CONNECT_ERRORS,
    Command,
    Connection,
    handshake_commands_for,
    open_stream,
)
from roomful_meetings.storage.redis.errors import RedisError, RedisTimeout
from roomful_meetings.storage.redis.pubsub import Subscriber
from roomful_meetings.storage.redis.url import RedisAddress

log = logging.getLogger(__name__)

# After a failure, the events link is asked again at most this often (a share of the interval).
EVENTS_RETRY_SHARE: Final = 0.1


@dataclass(slots=True)
class Health:
    """What the probe last learnt of one thing it PINGs. Sans-IO: times are given."""

    name: str
    answered_at: float | None = None
    silent_since: float | None = None
    failure: str | None = None

    def answered(self, now: float) -> None:
        self.answered_at, self.silent_since, self.failure = now, None, None

    def silent(self, asked_at: float) -> None:
        """No answer to a PING sent at `asked_at`; silence counts from the first such PING."""
        if self.silent_since is None:
            self.silent_since = asked_at
        self.failure = None

    def failed(self, reason: str) -> None:
        self.failure, self.silent_since = reason, None

    @property
    def answering(self) -> bool:
        """Whether the last PING was answered in time (as far as is known yet)."""
        return self.answered_at is not None and self.silent_since is None and self.failure is None

    def problem(self, now: float, deadline: float) -> str | None:
        """None when it answered within `deadline` seconds before `now`, else why not."""
        if self.failure is not None:
            return f"{self.name}: {self.failure}"
        if self.silent_since is not None:
            return f"{self.name} has not answered a PING for {now - self.silent_since:.1f}s"
        if self.answered_at is None:
            return f"{self.name} has not answered yet"
        if now - self.answered_at > deadline:  # the probe itself fell behind
            return f"{self.name} last answered {now - self.answered_at:.1f}s ago"
        return None


@dataclass(eq=False, slots=True)
class _Watch:
    """The probe of one primary, and the refusal it put on that primary's pool."""

    pool: Pool
    address: RedisAddress
    health: Health
    scope: trio.CancelScope
    refusal: str | None = None

    def answered(self, now: float) -> None:
        if self.health.silent_since is not None:
            log.info("%s answers again, after %.1fs", self.health.name, now - self.health.silent_since)
        self.health.answered(now)
        self.lift()

    def silent(self, asked_at: float, timeout: float) -> None:
        self.health.silent(asked_at)
        if self.refusal is None:
            self.refusal = f"{self.health.name} has not answered a PING within {timeout:g}s"
            log.warning("%s: refusing commands to it until it does", self.refusal)
        self.pool.silent = self.refusal

    def failed(self, reason: str) -> None:
        self.health.failed(reason)
        self.lift()

    def lift(self) -> None:
        """Let the pool send commands again (unless another watch refuses them now)."""
        if self.refusal is not None and self.pool.silent is self.refusal:
            self.pool.silent = None
        self.refusal = None


def _where(address: RedisAddress) -> str:
    return address.unix_path or address.node


class Probe:
    """PINGs each primary of `redis`, and the events link `subscriber`, until cancelled:
    every `interval` seconds, silent after `timeout` (--redis-probe-interval and
    --redis-probe-timeout)."""

    def __init__(
        self, redis: Redis, subscriber: Subscriber | None = None, *, interval: float, timeout: float
    ) -> None:
        self.redis = redis
        self.subscriber = subscriber
        self.interval = interval
        self.timeout = timeout
        # Silence is found `interval + timeout` after the last answer; this is later, for a
        # probe that fell behind (its next PING not even sent), so that silence says it first.
        self.deadline = interval + 2 * timeout
        self.events = Health("the events link (pub/sub)")
        self._watches: dict[str, _Watch] = {}  # by where the primary is
        self._unlocated: list[str] = []  # pools whose primary is not known now (Sentinel)
        self._moved = trio.Event()

    def problem(self) -> str | None:
        """Why the instance is not ready as far as Redis goes (None: it is)."""
        now = trio.current_time()
        primaries = [watch.health.problem(now, self.deadline) for watch in self._watches.values()]
        if None not in primaries:  # none answers (or none is known)
            said = "; ".join([*(p for p in primaries if p), *self._unlocated]) or "no primary known yet"
            return f"Redis does not answer: {said}"
        if self.subscriber is not None:
            return self.events.problem(now, self.deadline)
        return None

    def answering(self) -> int:
        """How many primaries answered their last PING in time (for the metrics, which may
        be read outside trio: no deadline here)."""
        return sum(watch.health.answering for watch in self._watches.values())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            if self.subscriber is not None:
                nursery.start_soon(self._watch_events, self.subscriber)
            await self._follow(nursery)
            task_status.started()
            while True:
                with trio.move_on_after(self.interval):
                    await self._moved.wait()
                self._moved = trio.Event()
                await self._follow(nursery)

    async def _follow(self, nursery: trio.Nursery) -> None:
        """Watch each primary the client uses now; stop watching those it left."""
        wanted: dict[str, tuple[Pool, RedisAddress]] = {}
        unlocated = []
        for pool in self.redis.pools():
            try:
                with trio.fail_after(self.timeout):
                    address = await pool.locator.locate()
            except (RedisError, trio.TooSlowError) as exc:
                unlocated.append(f"{pool.address.masked()}: {exc or 'no primary named in time'}")
                continue
            wanted[_where(address)] = (pool, address)
        self._unlocated = unlocated
        for where, watch in list(self._watches.items()):
            if where not in wanted or wanted[where][0] is not watch.pool:
                self._watches.pop(where).scope.cancel()
        for where, (pool, address) in wanted.items():
            if where not in self._watches:
                watch = _Watch(pool, address, Health(f"Redis at {where}"), trio.CancelScope())
                self._watches[where] = watch
                nursery.start_soon(self._watch, watch)

    async def _watch(self, watch: _Watch) -> None:
        """PING one primary until cancelled, or until its pool's locator moves away from it."""
        with watch.scope:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._ping_primary, watch)
                    await watch.pool.locator.wait_moved(watch.address)
                    nursery.cancel_scope.cancel()
            finally:
                watch.lift()
                where = _where(watch.address)
                if self._watches.get(where) is watch:
                    del self._watches[where]
            self._moved.set()  # moved (not cancelled): look for the new primary now

    async def _ping_primary(self, watch: _Watch) -> None:
        while True:
            asked_at = trio.current_time()
            try:
                stream = await open_stream(watch.address, self.timeout)
            except trio.TooSlowError:  # nothing answered the connection either
                watch.silent(asked_at, self.timeout)
                continue
            except CONNECT_ERRORS as exc:
                watch.failed(f"cannot connect: {exc!r}")
                await trio.sleep(self.interval)
                continue
            link = Connection(stream, timeout=self.redis.timeout)
            async with trio.open_nursery() as nursery:
                await nursery.start(link.run)
                try:
                    await self._ping_on(link, watch)
                except RedisTimeout:
                    continue  # silent for --redis-timeout: a fresh link at once
                except RedisError as exc:
                    watch.failed(str(exc))
                finally:
                    link.close("readiness probe link closed")
            await trio.sleep(self.interval)

    async def _ping_on(self, link: Connection, watch: _Watch) -> None:
        """PING on `link` every interval. Raises RedisTimeout when the link has been silent
        for --redis-timeout (the link's own watchdog), else the RedisError it got."""
        commands: list[Command] = [*handshake_commands_for(watch.address), ("PING",)]
        while True:
            asked_at = trio.current_time()
            replies: list[Any] | None = None
            try:
                with trio.move_on_after(self.timeout):
                    replies = await link.execute_many(commands)
                if replies is None:
                    watch.silent(asked_at, self.timeout)
                    replies = await link.execute_many([("PING",)])  # answered right behind the first
            except RedisTimeout:
                watch.silent(asked_at, self.timeout)
                raise
            for reply in replies:
                if isinstance(reply, RedisError):
                    raise reply
            watch.answered(trio.current_time())
            commands = [("PING",)]
            await trio.sleep(self.interval)

    async def _watch_events(self, subscriber: Subscriber) -> None:
        """PING the events link every interval (its own keepalive drops a silent link)."""
        while True:
            asked_at = trio.current_time()
            try:
                answered = False
                with trio.move_on_after(self.timeout):
                    await subscriber.ping()
                    answered = True
                if not answered:
                    self.events.silent(asked_at)
                    await subscriber.ping()  # answered right behind the first
                self.events.answered(trio.current_time())
            except RedisError as exc:
                self.events.failed(str(exc))
                with trio.move_on_after(self.interval):
                    await subscriber.wait_ready()
                    await trio.sleep(self.interval * EVENTS_RETRY_SHARE)
                continue
            await trio.sleep(self.interval)
