"""Answering without a task: a coroutine that awaits nothing but Redis replies, driven by
the code that reads its request and by the one that reads its replies.

Theory of operation: a trio task costs a pass through the scheduler each time it waits
(about 3 us on CPython, two passes per getMeeting: the request's read, then Redis's
reply), more than the rest of a cached read costs. `drive` runs such a coroutine by hand
instead: it sends into it until it waits for a reply slot (`Connection` yields the slot
itself while `driving` is set, see connection.py), then gives the slot a callback that
sends the reply in when the connection's reader fills it. The coroutine runs on the
stack of whoever resumed it (the reactor that read the request, or a Redis reader), in
its own `contextvars.Context`, and `on_done` gets what it returned.

Commands queued while driving are not written at once: the connection is noted dirty and
`flush` writes every dirty connection with one system call each. Whoever drives calls
`flush` as its batch goes (transport/reactor.py every few connections and at the end of
each epoll pass, Connection's reader after each read), so the requests of a batch go to
Redis in a few writes, not one each.

Only code that awaits Redis replies alone may be driven (the one-round-trip endpoints
over a standalone or Sentinel client: `Redis.drivable`): no nursery, cancel scope or
sleep, which belong to the task they run in (store code overlaps its reads with
`side_by_side`). Anything else it awaits is a bug, turned into an error inside the
coroutine (a 500 for a request) rather than left to corrupt the scheduler: a checkpoint is
passed at once, and a wait is aborted the way trio aborts it on cancellation.
"""

from __future__ import annotations

import contextvars
import logging
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Final

import outcome
import trio

from roomful_meetings.storage.redis.errors import first_leaf

if TYPE_CHECKING:
    from roomful_meetings.storage.redis.connection import Connection

log = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]


class _State:
    __slots__ = ("dirty", "driving")

    def __init__(self) -> None:
        self.driving = False  # a driven coroutine is running (on this thread)
        self.dirty: list[Connection] = []  # connections with commands queued while driving


STATE: Final = _State()


@types.coroutine
def suspend(slot: object) -> Generator[object, None, None]:
    """Hand `slot` to the driver; resumed once it is filled (see `_Slot.wait`)."""
    yield slot


def drive(coro: Coroutine[Any, Any, Any], context: contextvars.Context, on_done: Done) -> None:
    """Run `coro` until it first waits for a reply (or ends); it goes on from the reader
    that fills the reply, and `on_done(result, error)` is called when it ends."""
    _step(coro, context, on_done, None)


async def side_by_side(*calls: Callable[[], Awaitable[None]]) -> None:
    """Run `calls` concurrently (their commands share a pipeline), or one after the other
    while driven, where no task may be started: store code that overlaps reads uses this
    instead of a nursery, so that any handler may be driven."""
    if STATE.driving:
        for call in calls:
            await call()
        return
    try:
        async with trio.open_nursery() as nursery:
            for call in calls:
                nursery.start_soon(call)
    except BaseExceptionGroup as group:
        # One read failing fails them all: its error leaves as itself, as it would driven
        # (a RedisUnavailable inside a group reached the dispatcher as a 500, not a 503).
        raise first_leaf(group) from None


async def pause() -> None:
    """Let the event loop run other tasks, as a checkpoint does, between slices of long
    work in Python (expanding many series); nothing while driven, where no task is there
    to yield (requests that do such work are given a task: service/dispatch.py
    `one_round_trip`; one driven all the same goes on without pausing)."""
    if not STATE.driving:
        await trio.lowlevel.checkpoint()


def flush() -> None:
    """Write what driven coroutines queued so far (one write per dirty connection)."""
    dirty = STATE.dirty
    while dirty:
        dirty.pop().write_queued_now()


def _step(
    coro: Coroutine[Any, Any, Any],
    context: contextvars.Context,
    on_done: Done,
    value: Any,
) -> None:
    while True:
        outer, STATE.driving = STATE.driving, True
        try:
            yielded = context.run(coro.send, value)
        except StopIteration as stop:
            _done(on_done, stop.value, None)
            return
        except BaseException as exc:
            _done(on_done, None, exc)
            return
        finally:
            STATE.driving = outer
        filled = getattr(yielded, "filled_by", None)
        if filled is not None:
            filled(lambda: _step(coro, context, on_done, None))
            return
        value = _foreign(yielded)


def _foreign(trap: object) -> outcome.Outcome[None]:
    """What to send into a coroutine that awaited something other than Redis: a bug,
    reported inside it (its own error handling answers the request)."""
    problem = RuntimeError(f"a driven coroutine awaited {trap!r}, not a Redis reply")
    abort = getattr(trap, "abort_func", None)
    if abort is None:  # a checkpoint: nothing waits to wake this task, go on
        log.error("%s", problem)
        return outcome.Value(None)

    def raise_cancel() -> None:
        raise problem

    if abort(raise_cancel) is not trio.lowlevel.Abort.SUCCEEDED:  # pragma: no cover - no such waiter here
        raise problem  # it will wake a task that is not waiting: stop before it does
    return outcome.Error(problem)


def _done(on_done: Done, result: Any, error: BaseException | None) -> None:
    try:
        on_done(result, error)
    except Exception:  # it runs in a Redis reader or the reactor, which must go on
        log.exception("a driven coroutine's completion failed")
