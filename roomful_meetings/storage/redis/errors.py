"""Errors of the Redis layer.

RedisError
├── ReplyError            Redis answered with an error reply (-ERR ...)
│   └── NoScriptError     EVALSHA of a script the server does not know
├── RedisUnavailable      no connection: the command was NOT sent
│   └── NotServing        (also a ReplyError) the node refused it unexecuted: READONLY (a
│       │                 replica now), CLUSTERDOWN, TRYAGAIN (also a script's slot guard
│       │                 during a slot move), LOADING, MASTERDOWN, NOREPLICAS
│       └── Redirected    MOVED or ASK: the slot is served by another node
└── RedisConnectionLost   the link broke after sending: outcome unknown
    ├── RedisTimeout      no reply in time (the link is then dropped)
    └── ReplicasBehind    the change ran but fewer replicas than asked hold it (WAIT)

UnsupportedRedis (not a RedisError: retrying does not help) is a server that cannot do
what the configuration asks, such as Cluster mode on Redis 6.2.
"""

from __future__ import annotations

import re
from typing import Final


class RedisError(Exception):
    pass


class ReplyError(RedisError):
    pass


class NoScriptError(ReplyError):
    pass


class RedisUnavailable(RedisError):
    """The command was not sent: it certainly had no effect."""


class NotServing(RedisUnavailable, ReplyError):
    """The node answered that it did not execute the command (it is not the primary, or
    the cluster is failing over): certainly no effect, so callers answer 503 "not applied"."""

    @property
    def demoted(self) -> bool:
        """The node is a replica now: whoever sent it there must find the primary again."""
        return str(self).startswith("READONLY")


class Redirected(NotServing):
    """MOVED or ASK from a cluster node: `slot` is served by `node` (host:port)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        kind, slot, node = text.split(" ")[:3]
        self.ask = kind == "ASK"
        self.slot = int(slot)
        self.node = node


class RedisConnectionLost(RedisError):
    """The command may or may not have been applied."""


class RedisTimeout(RedisConnectionLost):
    pass


class ReplicasBehind(RedisConnectionLost):
    """The change was applied on the primary but not acknowledged by enough replicas in
    time: a failover now could lose it, so its outcome is unknown to the caller."""


class UnsupportedRedis(Exception):
    """The Redis found cannot serve this configuration (the command line exits 1)."""


def first_leaf(error: BaseException) -> BaseException:
    """The innermost exception of (possibly nested) exception groups, the first of each:
    what failed first in the nurseries that wrapped it."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


# Refusals of a command Redis did not run. Inside a script each comes at its first write at
# the latest, before anything is written: BUSY (another script runs: nothing of this one
# ran), OOM (maxmemory refuses only a script's first write), MISCONF (it cannot persist:
# every write is refused), a replica's READONLY, NOREPLICAS. So each is "not applied".
NOT_SERVING_PREFIXES: Final = (
    "READONLY",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "LOADING",
    "MASTERDOWN",
    "NOREPLICAS",
    "BUSY ",
    "OOM ",
    "MISCONF ",
    # A connection over maxclients: Redis writes this unasked, then closes it; whatever
    # was sent on it first gets it as its reply, unread.
    "ERR max number of clients reached",
)


# Redis 6.2 wraps an error raised inside a script: "ERR Error running script (call to f_...):
# @user_script:1: @user_script: 1: -READONLY You can't write against a read only replica."
# (Redis 7 answers with the inner error's own code.)
_IN_SCRIPT: Final = re.compile(r"ERR Error running script .*?: -([A-Z]+ .*)", re.DOTALL)


# Refusals of a command Redis did not run, for who asks rather than for what the node is
# (a password asked for since the link was made, an ACL taking a command away): "not
# applied" too. Inside a script a NOPERM may follow its first writes: not listed there.
REFUSED_UNRUN: Final = ("NOAUTH", "WRONGPASS", "NOPERM", "ERR Protocol error: unauthenticated")


def classify_reply_error(text: str) -> ReplyError:
    """The error class of an error reply's text."""
    inner = _IN_SCRIPT.match(text)
    if inner and inner.group(1).startswith(NOT_SERVING_PREFIXES):
        # The node refused the script's first write, so none was applied.
        return NotServing(inner.group(1))
    if text.startswith("NOSCRIPT"):
        return NoScriptError(text)
    if text.startswith(("MOVED ", "ASK ")):
        return Redirected(text)
    if text.startswith((*NOT_SERVING_PREFIXES, *REFUSED_UNRUN)):
        return NotServing(text)
    return ReplyError(text)
