"""Driving a coroutine without a task (storage/redis/inline.py), against a real redis-server:
what it awaits from Redis comes back through the connection's reader, what it queues leaves
at `flush`, and anything else it awaits is an error inside it rather than a broken
scheduler."""

from __future__ import annotations

import contextvars
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from roomful_meetings.storage.redis import Redis, Script, inline


class Outcome:
    """What `on_done` was given, and an event for the test to wait on."""

    def __init__(self) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = trio.Event()

    def __call__(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.done.set()


def drive(make: Callable[[], Awaitable[Any]]) -> Outcome:
    async def run() -> Any:
        return await make()

    out = Outcome()
    inline.drive(run(), contextvars.copy_context(), out)
    return out


def task_name() -> str:
    return trio.lowlevel.current_task().name


async def test_a_driven_coroutine_runs_on_the_callers_stack_then_on_the_redis_readers(
    redis: Redis, prefix: str
) -> None:
    ran_in: list[str] = []

    async def set_then_get() -> bytes:
        ran_in.append(task_name())
        await redis.execute("SET", prefix + "k", "v")
        ran_in.append(task_name())
        value: bytes = await redis.execute("GET", prefix + "k")
        return value

    out = drive(set_then_get)
    inline.flush()
    with trio.fail_after(5):
        await out.done.wait()
    assert out.error is None and out.result == b"v"
    me = task_name()
    assert ran_in[0] == me  # started synchronously by `drive`
    assert ran_in[1] != me and "Connection" in ran_in[1], ran_in  # resumed by the reply's reader


async def test_commands_queued_while_driving_leave_together_at_flush(redis: Redis, prefix: str) -> None:
    await redis.execute("SET", prefix + "n", "7")
    outs = [drive(lambda: redis.execute("GET", prefix + "n")) for _ in range(50)]
    await trio.sleep(0.05)
    assert not any(out.done.is_set() for out in outs)  # nothing was written yet
    inline.flush()
    with trio.fail_after(5):
        for out in outs:
            await out.done.wait()
    assert [out.result for out in outs] == [b"7"] * 50


async def test_a_driven_evalsha_of_a_script_redis_does_not_have_loads_it(redis: Redis) -> None:
    # A script no other test ran: three round trips (NOSCRIPT, SCRIPT LOAD, EVALSHA again).
    source = f"return 'fresh {secrets.token_hex(8)}'".encode()
    script = Script.from_source("fresh", source)
    out = drive(lambda: redis.evalsha(script))
    inline.flush()
    with trio.fail_after(5):
        await out.done.wait()
    assert out.error is None and out.result.startswith(b"fresh ")


async def test_an_error_reply_is_raised_inside_the_driven_coroutine(redis: Redis, prefix: str) -> None:
    await redis.execute("SET", prefix + "s", "text")

    async def push() -> str:
        try:
            await redis.execute("LPUSH", prefix + "s", "x")
        except Exception as exc:
            return type(exc).__name__
        return "no error"

    out = drive(push)
    inline.flush()
    with trio.fail_after(5):
        await out.done.wait()
    assert out.result == "ReplyError"


async def test_awaiting_anything_but_redis_while_driven_fails_inside_the_coroutine(
    redis: Redis, prefix: str
) -> None:
    async def waits_for_an_event() -> None:
        await trio.Event().wait()

    out = drive(waits_for_an_event)
    assert out.done.is_set()
    assert isinstance(out.error, RuntimeError) and "not a Redis reply" in str(out.error)
    # The scheduler is intact: the test task and Redis go on.
    assert await redis.execute("PING") == b"PONG"

    async def checkpoints() -> bytes:
        await trio.lowlevel.cancel_shielded_checkpoint()  # passed at once
        value: bytes = await redis.execute("ECHO", "after")
        return value

    out = drive(checkpoints)
    inline.flush()
    with trio.fail_after(5):
        await out.done.wait()
    assert out.result == b"after"


async def test_side_by_side_runs_concurrently_in_a_task_and_in_turn_when_driven(
    redis: Redis, prefix: str
) -> None:
    # In a task: the second call releases the first, so they must run at once.
    release, order = trio.Event(), []

    async def first() -> None:
        await release.wait()
        order.append("first")

    async def second() -> None:
        release.set()
        order.append("second")

    with trio.fail_after(5):
        await inline.side_by_side(first, second)
    assert order == ["second", "first"]

    # Driven: no task may be started, so one after the other, in order.
    driven: list[str] = []

    async def read(name: str) -> None:
        await redis.execute("ECHO", name)
        driven.append(name)

    async def both() -> None:
        await inline.side_by_side(lambda: read("a"), lambda: read("b"))

    out = drive(both)
    inline.flush()
    with trio.fail_after(5):
        await out.done.wait()
    assert out.error is None and driven == ["a", "b"]


@pytest.mark.parametrize("ends", ["returns", "raises"])
async def test_on_done_hears_how_the_coroutine_ended(ends: str) -> None:
    async def body() -> str:
        if ends == "raises":
            raise ValueError("boom")
        return "fine"

    out = drive(body)
    assert out.done.is_set()
    if ends == "returns":
        assert out.result == "fine" and out.error is None
    else:
        assert isinstance(out.error, ValueError)


async def test_a_driven_command_larger_than_the_socket_takes_at_once_is_written_whole(
    redis: Redis, prefix: str
) -> None:
    # 8 MB: more than a loopback socket's send buffer, so the flush writes part of it at
    # once and a task of the connection's writes the rest; a command queued meanwhile
    # must follow it, not cut into it.
    big = b"x" * (8 << 20)
    first = drive(lambda: redis.execute("SET", prefix + "big", big))
    inline.flush()
    second = drive(lambda: redis.execute("STRLEN", prefix + "big"))
    inline.flush()
    with trio.fail_after(10):
        await first.done.wait()
        await second.done.wait()
    assert first.error is None and first.result == b"OK"
    assert second.error is None and second.result == len(big)
