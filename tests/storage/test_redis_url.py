"""Redis URLs: one server, a Sentinel group, a Cluster; and the mistakes, named."""

from __future__ import annotations

import pytest

from roomful_meetings.storage.redis import (
    ClusterAddress,
    RedisAddress,
    SentinelAddress,
    parse_redis_target,
    parse_redis_url,
)


def test_sentinel_url_with_hosts_master_db_and_credentials() -> None:
    target = parse_redis_target(
        "redis+sentinel://app:s%40cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/main?db=2&sentinel_password=sp"
    )
    assert isinstance(target, SentinelAddress)
    assert target.master_name == "main"
    assert [(s.host, s.port) for s in target.sentinels] == [
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26379),
        ("::1", 26380),
    ]
    assert all(s.password == "sp" and s.username is None and s.db == 0 for s in target.sentinels)
    assert (target.data.username, target.data.password, target.data.db) == ("app", "s@cret", 2)
    assert target.data.at("10.0.0.9", 6380) == RedisAddress(
        "10.0.0.9", 6380, username="app", password="s@cret", db=2
    )
    assert "s@cret" not in target.masked() and "sp" not in target.masked()
    assert target.masked() == "redis+sentinel://app:***@10.0.0.1:26379,10.0.0.2:26379,::1:26380/main?db=2"


def test_tls_options_reach_data_nodes_and_sentinels() -> None:
    target = parse_redis_target("rediss+sentinel://h:1/m?ssl_ca_certs=/ca.pem&ssl_cert_reqs=none")
    assert isinstance(target, SentinelAddress)
    for address in (target.data, *target.sentinels):
        assert (address.tls, address.tls_ca_file, address.tls_verify) == (True, "/ca.pem", False)
    cluster = parse_redis_target("rediss+cluster://:pw@h:7000")
    assert isinstance(cluster, ClusterAddress)
    assert (cluster.seeds[0].tls, cluster.seeds[0].password, cluster.seeds[0].tls_verify) == (
        True,
        "pw",
        True,
    )


def test_cluster_url_with_seeds() -> None:
    target = parse_redis_target("redis+cluster://127.0.0.1:7000,127.0.0.1:7001,other")
    assert isinstance(target, ClusterAddress)
    assert [s.node for s in target.seeds] == ["127.0.0.1:7000", "127.0.0.1:7001", "other:6379"]
    assert parse_redis_target("redis+cluster://h:1/0") == parse_redis_target("redis+cluster://h:1")


def test_single_server_urls_are_as_before() -> None:
    assert parse_redis_target("redis://u:p@h:7/3") == RedisAddress("h", 7, username="u", password="p", db=3)
    assert parse_redis_target("unix:///tmp/r.sock?db=1") == RedisAddress(unix_path="/tmp/r.sock", db=1)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h:1", "unsupported Redis URL scheme 'http'"),
        ("redis+sentinel://h:1", "needs the master name as its path"),
        ("redis+sentinel:///m", "needs host:port of at least one Sentinel"),
        ("redis+sentinel://h:1,,h:2/m", "empty host in its host list"),
        ("redis+sentinel://h:port/m", "bad port in 'h:port'"),
        ("redis+sentinel://h:99999/m", "bad host:port 'h:99999'"),
        ("redis+sentinel://h:1/m?db=x", "Redis database must be a number, got 'x'"),
        ("redis+cluster://h:1/2", "Redis Cluster has only database 0"),
        ("redis+cluster://h:1?db=1", "Redis Cluster has only database 0"),
        ("redis+cluster://", "needs host:port of at least one cluster node"),
        ("redis://h:1/-1", "Redis database must be 0 or more"),
    ],
)
def test_a_url_that_cannot_work_says_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_redis_target(url)


def test_parse_redis_url_is_for_one_server_only() -> None:
    with pytest.raises(ValueError, match="redis\\+cluster:// names several servers, not one"):
        parse_redis_url("redis+cluster://h:1")
    assert parse_redis_url("redis://h:2") == RedisAddress("h", 2)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:Hunter22/Xyzzy99@127.0.0.1:6390/0",
        "redis://admin:Hunter22?Xyzzy99@127.0.0.1:6390/0",
        "redis://admin:Hunter22?db=Xyzzy99@127.0.0.1:6390",
        "redis+sentinel://:Hunter22/Xyzzy99@127.0.0.1:26379/main",
        "redis+sentinel://admin:Hunter22?Xyzzy99@127.0.0.1/main",
        "redis+cluster://:Hunter22/Xyzzy99@127.0.0.1:7000",
        "redis+cluster://:Hunter22?Xyzzy99@127.0.0.1:7000",
    ],
)
def test_a_refused_url_never_quotes_its_password(url: str) -> None:
    """A generated password with an unencoded `/` or `?` makes the URL unreadable; the
    reason given quotes no part of it that could be that password, and says how to write it."""
    with pytest.raises(ValueError) as refused:
        parse_redis_target(url)
    assert "Hunter22" not in str(refused.value) and "Xyzzy99" not in str(refused.value), refused.value


def test_a_refused_url_without_a_password_still_quotes_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="bad port in Redis URL 'h:x'"):
        parse_redis_target("redis://h:x/0")
    with pytest.raises(ValueError, match="bad port in Redis URL 'h:x'"):
        parse_redis_target("redis://u:pw@h:x/0")


def test_port_0_is_refused_not_taken_for_6379() -> None:
    """`redis://host:0` is a mistake (no server listens on port 0), not the default port."""
    with pytest.raises(ValueError, match=r"bad port in Redis URL 'h:0' \(1 to 65535\)"):
        parse_redis_target("redis://h:0/0")
    assert parse_redis_target("redis://h/0") == RedisAddress("h", 6379)


@pytest.mark.parametrize(
    "address",
    [
        RedisAddress(port=1234, password="a@b/c?d#e:f%"),
        RedisAddress(unix_path="/tmp/redis.sock", password="p:q@"),
        RedisAddress(port=6380, username="u@x", password="pw", db=3, tls=True),
        RedisAddress(port=6381),
    ],
    ids=["password-to-quote", "unix-socket", "user-db-tls", "bare"],
)
def test_an_address_written_as_a_url_reads_back_the_same(address: RedisAddress) -> None:
    # What `serve --workers` hands its workers for the embedded Redis (with its password).
    assert parse_redis_url(address.url()) == address
