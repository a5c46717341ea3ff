"""A thin trio-native Redis client over hiredis: pooled, pipelined, reconnecting; for one
server, a Sentinel group (following failovers) or a Redis Cluster (routing by slot)."""

from roomful_meetings.storage.redis.client import Pool, Redis, make_client, open_redis
from roomful_meetings.storage.redis.connection import Command
from roomful_meetings.storage.redis.errors import (
    NoScriptError,
    NotServing,
    Redirected,
    RedisConnectionLost,
    RedisError,
    RedisTimeout,
    RedisUnavailable,
    ReplicasBehind,
    ReplyError,
    UnsupportedRedis,
)
from roomful_meetings.storage.redis.locator import FixedLocator, Locator
from roomful_meetings.storage.redis.pubsub import PubSub
from roomful_meetings.storage.redis.scripts import Script, load_scripts
from roomful_meetings.storage.redis.url import (
    ClusterAddress,
    RedisAddress,
    SentinelAddress,
    Target,
    parse_redis_target,
    parse_redis_url,
)

__all__ = [
    "ClusterAddress",
    "Command",
    "FixedLocator",
    "Locator",
    "NoScriptError",
    "NotServing",
    "Pool",
    "PubSub",
    "Redirected",
    "Redis",
    "RedisAddress",
    "RedisConnectionLost",
    "RedisError",
    "RedisTimeout",
    "RedisUnavailable",
    "ReplicasBehind",
    "ReplyError",
    "Script",
    "SentinelAddress",
    "Target",
    "UnsupportedRedis",
    "load_scripts",
    "make_client",
    "open_redis",
    "parse_redis_target",
    "parse_redis_url",
]
