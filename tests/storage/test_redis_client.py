"""The Redis layer on its own, against a real redis-server."""

from __future__ import annotations

import logging
import re
import socket

import pytest
import trio

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import (
    PubSub,
    Redis,
    RedisConnectionLost,
    RedisTimeout,
    RedisUnavailable,
    ReplyError,
    Script,
    open_redis,
    parse_redis_url,
)
from roomful_meetings.storage.redis.errors import NotServing, classify_reply_error
from tests.freezing import frozen
from tests.topologies import command


async def test_commands_round_trip(redis_server: RedisProcess, prefix: str) -> None:
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        assert await redis.execute("SET", prefix + "k", "v") == b"OK"
        assert await redis.execute("GET", prefix + "k") == b"v"
        assert await redis.execute("GET", prefix + "missing") is None


async def test_concurrent_commands_each_get_their_own_reply(redis_server: RedisProcess, prefix: str) -> None:
    async with open_redis(redis_server.address, pool_size=2) as redis:
        await redis.wait_connected()
        results: dict[int, object] = {}

        async def one(i: int) -> None:
            results[i] = (
                await redis.execute("INCRBY", prefix + "n", 0)
                if i % 2
                else await redis.execute("ECHO", str(i))
            )

        await redis.execute("SET", prefix + "n", 7)
        async with trio.open_nursery() as nursery:
            for i in range(500):
                nursery.start_soon(one, i)
        for i in range(500):
            assert results[i] == (7 if i % 2 else str(i).encode())


async def test_error_reply_is_raised_and_connection_stays_usable(
    redis_server: RedisProcess, prefix: str
) -> None:
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        await redis.execute("SET", prefix + "s", "text")
        with pytest.raises(ReplyError, match="WRONGTYPE"):
            await redis.execute("LPUSH", prefix + "s", "x")
        assert await redis.execute("GET", prefix + "s") == b"text"


async def test_pipeline_returns_errors_in_place(redis_server: RedisProcess, prefix: str) -> None:
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        replies = await redis.pipeline(
            [("SET", prefix + "a", 1), ("INCR", prefix + "nope-" + "x" * 3), ("BADCMD",)]
        )
        assert replies[0] == b"OK"
        assert replies[1] == 1
        assert isinstance(replies[2], ReplyError)


async def test_script_is_reloaded_after_script_flush(redis_server: RedisProcess, prefix: str) -> None:
    script = Script.from_source("echo_key", b"return redis.call('GET', KEYS[1])")
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        await redis.execute("SET", prefix + "x", "42")
        await redis.execute("SCRIPT", "FLUSH")
        assert await redis.evalsha(script, [prefix + "x"]) == b"42"
        assert await redis.execute("SCRIPT", "EXISTS", script.sha) == [1]


async def test_no_connection_fails_fast_as_unavailable() -> None:
    address = parse_redis_url("redis://127.0.0.1:1/0")
    async with open_redis(address, connect_timeout=0.2) as redis:
        with pytest.raises(RedisUnavailable):
            await redis.execute("PING")


async def test_reconnects_after_redis_restarts(own_redis: RedisProcess) -> None:
    async with open_redis(own_redis.address, reply_timeout=2) as redis:
        await redis.wait_connected()
        assert await redis.execute("PING") == b"PONG"
        own_redis.stop()
        with pytest.raises((RedisUnavailable, RedisConnectionLost)):
            for _ in range(50):
                await redis.execute("PING")
                await trio.sleep(0.05)
        own_redis.start()
        with trio.fail_after(10):
            await redis.wait_connected()
        assert await redis.execute("PING") == b"PONG"


async def test_reply_that_never_comes_times_out(own_redis: RedisProcess) -> None:
    async with open_redis(own_redis.address, reply_timeout=0.3) as redis:
        await redis.wait_connected()
        assert own_redis.proc is not None
        own_redis.proc.send_signal(19)  # SIGSTOP: the socket stays open, nothing answers
        try:
            with pytest.raises(RedisTimeout):
                await redis.execute("PING")
        finally:
            own_redis.proc.send_signal(18)  # SIGCONT
        with trio.fail_after(10):
            while True:
                try:
                    assert await redis.execute("PING") == b"PONG"
                    break
                except (RedisUnavailable, RedisConnectionLost):
                    await trio.sleep(0.05)


async def test_password_and_database_from_the_url(own_redis: RedisProcess) -> None:
    async with open_redis(own_redis.address) as admin:
        await admin.wait_connected()
        await admin.execute("CONFIG", "SET", "requirepass", "s3cret")
    address = parse_redis_url(f"redis://:s3cret@127.0.0.1:{own_redis.port}/3")
    async with open_redis(address) as redis:
        with trio.fail_after(5):
            await redis.wait_connected()
        await redis.execute("SET", "k", "in-db-3")
        assert await redis.execute("CLIENT", "INFO") and b"db=3" in await redis.execute("CLIENT", "INFO")
    wrong = parse_redis_url(f"redis://:wrong@127.0.0.1:{own_redis.port}/0")
    async with open_redis(address) as probe, open_redis(wrong, connect_timeout=0.5) as redis:
        with trio.fail_after(10):  # until Redis has refused the password, not for a while
            await probe.wait_connected()
            while b"errorstat_WRONGPASS" not in await probe.execute("INFO", "errorstats"):  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert not redis.connected


async def test_a_refused_password_is_logged_once_not_on_every_retry(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator sees why Redis refuses the server (one ERROR line), not a line per retry."""
    async with open_redis(own_redis.address) as admin:
        await admin.wait_connected()
        await admin.execute("CONFIG", "SET", "requirepass", "s3cret")
    good = parse_redis_url(f"redis://:s3cret@127.0.0.1:{own_redis.port}/0")
    wrong = parse_redis_url(f"redis://:wrong@127.0.0.1:{own_redis.port}/0")
    several = re.compile(rb"errorstat_WRONGPASS:count=([5-9]|\d\d)")
    with caplog.at_level(logging.ERROR):
        async with open_redis(good) as probe, open_redis(wrong, pool_size=2, connect_timeout=0.5):
            with trio.fail_after(20):  # until Redis has refused the password several times
                await probe.wait_connected()
                while not several.search(await probe.execute("INFO", "errorstats")):  # noqa: ASYNC110
                    await trio.sleep(0.05)
    refused = [r for r in caplog.records if "redis handshake failed" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR, [r.getMessage() for r in refused]


def test_url_parsing_covers_tls_unix_and_acl_users() -> None:
    tls = parse_redis_url("rediss://app:pw@cache.example:6380/2?ssl_cert_reqs=none")
    assert (tls.tls, tls.username, tls.password, tls.db, tls.port, tls.tls_verify) == (
        True,
        "app",
        "pw",
        2,
        6380,
        False,
    )
    assert "pw" not in tls.masked()
    unix = parse_redis_url("unix:///run/redis.sock?db=4")
    assert (unix.unix_path, unix.db) == ("/run/redis.sock", 4)
    with pytest.raises(ValueError):
        parse_redis_url("http://x")


async def test_pubsub_delivers_and_resubscribes_after_restart(own_redis: RedisProcess) -> None:
    got: list[tuple[bytes, bytes]] = []
    confirmations: list[bytes] = []
    arrived = trio.Event()

    def on_message(channel: bytes, data: bytes) -> None:
        got.append((channel, data))
        arrived.set()

    pubsub = PubSub(own_redis.address, on_message, on_subscribed=confirmations.append, keepalive=0.2)
    async with open_redis(own_redis.address) as redis, trio.open_nursery() as nursery:
        await nursery.start(pubsub.run)
        await redis.wait_connected()
        await pubsub.subscribe(b"ch1")
        assert await redis.execute("PUBLISH", "ch1", "hello") == 1
        with trio.fail_after(5):
            await arrived.wait()
        assert got == [(b"ch1", b"hello")]

        pubsub.unsubscribe(b"ch1")
        await pubsub.subscribe(b"ch2")  # confirmations arrive in order, so ch1 is gone too
        assert await redis.execute("PUBLISH", "ch1", "lost") == 0
        assert pubsub.confirmed == {b"ch2"}

        own_redis.stop()
        own_redis.start()
        with trio.fail_after(10):  # polling: the restart happens in another process
            while confirmations.count(b"ch2") < 2 or await _publish_quietly(redis, "ch2", "again") != 1:  # noqa: ASYNC110
                await trio.sleep(0.05)
        with trio.fail_after(5):
            while got[-1] != (b"ch2", b"again"):  # noqa: ASYNC110
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def _publish_quietly(redis: Redis, channel: str, data: str) -> int:
    try:
        return int(await redis.execute("PUBLISH", channel, data))
    except (RedisUnavailable, RedisConnectionLost):
        return 0


@pytest.mark.parametrize(
    "text",
    [
        "READONLY You can't write against a read only replica.",  # Redis 7, in a script or not
        # Redis 6.2 wraps what a script's redis.call met (seen against a 6.2 replica):
        "ERR Error running script (call to f_d8f2fad9f8e86a53d2a6ebd960b33c4972cacc37): "
        "@user_script:1: @user_script: 1: -READONLY You can't write against a read only replica.",
    ],
)
def test_a_replica_refusing_a_write_is_not_serving_on_both_versions(text: str) -> None:
    error = classify_reply_error(text)
    assert isinstance(error, NotServing) and error.demoted
    assert str(error).startswith("READONLY")


@pytest.mark.parametrize(
    "text",
    [
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "ERR Error running script (call to f_1): @user_script:59: -OOM command not allowed when used memory > "
        "'maxmemory'.",  # Redis 6.2, the script's first write refused
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
        "ERR max number of clients reached",
    ],
)
def test_a_command_redis_refused_unrun_is_not_serving(text: str) -> None:
    # Each refusal comes before a script's first write at the latest: "not applied" is true.
    error = classify_reply_error(text)
    assert isinstance(error, NotServing) and not error.demoted


async def test_a_connection_refused_for_maxclients_never_answers_a_command(own_redis: RedisProcess) -> None:
    # Redis writes the refusal unasked and closes: the first command sent on it gets it as
    # its reply, and must take it for what it is (not applied), not for an error of its own.
    command(own_redis.port, "CONFIG", "SET", "maxclients", "1")
    hog = socket.create_connection(("127.0.0.1", own_redis.port))  # holds the only place
    try:
        async with open_redis(own_redis.address, pool_size=1) as redis:
            await trio.sleep(0.3)  # the pool tries, and is refused
            with pytest.raises(RedisUnavailable):
                await redis.execute("SET", "maxclients-test", "1")
    finally:
        hog.close()
        command(own_redis.port, "CONFIG", "SET", "maxclients", "10000")


def test_an_error_of_the_script_itself_stays_a_plain_reply_error() -> None:
    text = (
        "ERR Error running script (call to f_1): @user_script:7: user_script:7: attempt to index a nil value"
    )
    assert type(classify_reply_error(text)) is ReplyError


def test_a_script_refused_by_its_slot_guard_is_not_serving_and_a_later_refusal_an_error() -> None:
    # The guard, a script's first command (storage/redis/scripts.py), answers TRYAGAIN:
    # nothing was applied. Redis's own error for a later command may follow writes.
    guard = (
        "TRYAGAIN the slot of the tenant is being moved: Script attempted to access a non local key"
        " in a cluster node script: 9919821446979f8f5d0cc14cb7871ce0599528cd, on @user_script:13."
    )
    assert isinstance(classify_reply_error(guard), NotServing)
    later = (
        "ERR Script attempted to access a non local key in a cluster node script: "
        "9919821446979f8f5d0cc14cb7871ce0599528cd, on @user_script:40."
    )
    assert type(classify_reply_error(later)) is ReplyError


async def test_pubsub_ping_waits_for_its_own_answer(own_redis: RedisProcess) -> None:
    """PINGs from `ping` and from the keepalive share the link: each waits for its own pong
    (Redis answers in order), and a link that is down or ends says so."""
    link = PubSub(own_redis.address, lambda _channel, _data: None, keepalive=0.2)
    with pytest.raises(RedisUnavailable, match="down"):
        await link.ping()
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        for _ in range(20):  # a second: the keepalive's PINGs come between these
            with trio.fail_after(2):
                await link.ping()
            await trio.sleep(0.05)
        await link.subscribe(b"probe-ping")  # answered as ["pong", ""] once subscribed
        with trio.fail_after(2):
            await link.ping()
        # Frozen: the keepalive finds no pong at its next tick and drops the link.
        with frozen(own_redis), trio.fail_after(2), pytest.raises(RedisConnectionLost, match="before it"):
            await link.ping()
        nursery.cancel_scope.cancel()
