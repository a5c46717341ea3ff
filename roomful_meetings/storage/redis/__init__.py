"""A thin trio-native Redis client over hiredis: pooled, pipelined, reconnecting."""

from roomful_meetings.storage.redis.client import Redis, open_redis
from roomful_meetings.storage.redis.connection import Command
from roomful_meetings.storage.redis.errors import (
    NoScriptError,
    RedisConnectionLost,
    RedisError,
    RedisTimeout,
    RedisUnavailable,
    ReplyError,
)
from roomful_meetings.storage.redis.pubsub import PubSub
from roomful_meetings.storage.redis.scripts import Script, load_scripts
from roomful_meetings.storage.redis.url import RedisAddress, parse_redis_url

__all__ = [
    "Command",
    "NoScriptError",
    "PubSub",
    "Redis",
    "RedisAddress",
    "RedisConnectionLost",
    "RedisError",
    "RedisTimeout",
    "RedisUnavailable",
    "ReplyError",
    "Script",
    "load_scripts",
    "open_redis",
    "parse_redis_url",
]
