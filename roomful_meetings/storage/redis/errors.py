"""Errors of the Redis layer.

RedisError
├── ReplyError            Redis answered with an error reply (-ERR ...)
│   └── NoScriptError     EVALSHA of a script the server does not know
├── RedisUnavailable      no connection: the command was NOT sent
└── RedisConnectionLost   the link broke after sending: outcome unknown
    └── RedisTimeout      no reply in time (the link is then dropped)
"""

from __future__ import annotations


class RedisError(Exception):
    pass


class ReplyError(RedisError):
    pass


class NoScriptError(ReplyError):
    pass


class RedisUnavailable(RedisError):
    """The command was not sent: it certainly had no effect."""


class RedisConnectionLost(RedisError):
    """The command may or may not have been applied."""


class RedisTimeout(RedisConnectionLost):
    pass
