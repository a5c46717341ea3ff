"""Every Redis key and channel name, built from one configurable prefix and the tenant.

Every key of a tenant starts with `<prefix>{<tenant>}:` (`Keys.scope`): the braces make the
tenant the key's hash tag, so on a Redis Cluster all of a tenant's keys share one hash slot
and every change stays one atomic script (contract 12). lua/includes/keys.lua builds the
same names (its `k_<name>` helpers) from that scope, for keys a script can only learn from
data it reads; tests/storage/test_keys.py checks that both agree. Only the data format
version is kept once for the whole database, outside every tenant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

DEFAULT_TENANT: Final = "default"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "rm:"
    tenant: str = DEFAULT_TENANT
    scope: str = field(init=False)  # what every key of the tenant starts with

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", f"{self.prefix}{{{self.tenant}}}:")

    @property
    def event_code(self) -> int:
        """What the tenant's event ids carry in their seq (lua/includes/events.lua
        tenant_code): 0 for `default`, else 1 + the first 32 bits of its name's SHA-1."""
        if self.tenant == DEFAULT_TENANT:
            return 0
        return int(hashlib.sha1(self.tenant.encode()).hexdigest()[:8], 16) + 1

    def user(self, uid: str) -> str:
        return f"{self.scope}u:{uid}"

    def user_meetings(self, uid: str) -> str:
        return f"{self.scope}u:{uid}:meetings"

    def user_groups(self, uid: str) -> str:
        return f"{self.scope}u:{uid}:groups"

    def user_events(self, uid: str) -> str:
        return f"{self.scope}u:{uid}:events"

    def event_frame(self, event_id: str, variant: str) -> str:
        """A frame shared by the stream entries of several recipients (lua/includes/events.lua emit)."""
        return f"{self.scope}ev:{event_id}:{variant}"

    def user_pattern(self, uid: str) -> str:
        return f"{self.scope}u:{uid}:pattern"

    def user_busy(self, uid: str) -> str:
        return f"{self.scope}u:{uid}:busy"

    def user_days(self, uid: str) -> str:
        return f"{self.scope}u:{uid}:days"

    def user_day(self, uid: str, day: str) -> str:
        return f"{self.scope}u:{uid}:day:{day}"

    def email(self, email_key: str) -> str:
        return f"{self.scope}email:{email_key}"

    def room(self, rid: str) -> str:
        return f"{self.scope}room:{rid}"

    def room_props(self, rid: str) -> str:
        return f"{self.scope}room:{rid}:props"

    def room_sessions(self, rid: str) -> str:
        return f"{self.scope}room:{rid}:sessions"

    def prop(self, rid: str, pid: str) -> str:
        return f"{self.scope}prop:{rid}:{pid}"

    def prop_sessions(self, rid: str, pid: str) -> str:
        return f"{self.scope}prop:{rid}:{pid}:sessions"

    def group(self, gid: str) -> str:
        return f"{self.scope}group:{gid}"

    def group_members(self, gid: str) -> str:
        return f"{self.scope}group:{gid}:members"

    def session(self, sid: str) -> str:
        return f"{self.scope}ss:{sid}"

    def meeting(self, mid: str) -> str:
        return f"{self.scope}m:{mid}"

    def series_instances(self, sid: str) -> str:
        """A series' instance overrides (o:<minute>), cancellations (c:<minute>) and
        per-instance statuses (s:<minute>:<userId>)."""
        return f"{self.scope}m:{sid}:x"

    def user_series(self, uid: str) -> str:
        """The series a user takes part in, scored by the earliest start of any instance."""
        return f"{self.scope}u:{uid}:series"

    def user_feed(self, uid: str) -> str:
        """The user's calendar feed: the nonce its token derives from, and the token's hash."""
        return f"{self.scope}u:{uid}:feed"

    def feed_token(self, token_hash: str) -> str:
        """A calendar feed token's SHA-256 (hex) -> the user id (the token is never stored)."""
        return f"{self.scope}feed:{token_hash}"

    def source(self, source_string: str) -> str:
        return f"{self.scope}src:{source_string}"

    def request(self, uid: str, event_id: str) -> str:
        """Safe-retry record of one user's changing request (long ids are hashed)."""
        if len(event_id) > 200:
            event_id = "sha1-" + hashlib.sha1(event_id.encode()).hexdigest()
        return f"{self.scope}req:{uid}:{event_id}"

    def request_print(self, request_key: str) -> str:
        """The fingerprint of the request whose safe-retry record is `request_key` (a
        `request` key), kept beside it: reqp: for req:."""
        assert request_key.startswith(f"{self.scope}req:"), request_key
        return f"{self.scope}reqp:{request_key[len(self.scope) + 4 :]}"

    def request_answer(self, request_key: str) -> str:
        """The deprecated API's answer to the request whose safe-retry record is
        `request_key`, kept beside it (service/legacy.py): reqa: for req:."""
        assert request_key.startswith(f"{self.scope}req:"), request_key
        return f"{self.scope}reqa:{request_key[len(self.scope) + 4 :]}"

    def event_seq(self) -> str:
        """The last event id handed out (lua/includes/events.lua next_event_id)."""
        return f"{self.scope}eventseq"

    def versions(self) -> str:
        """The counter every availability or busy-index change takes its version from."""
        return f"{self.scope}versions"

    def busy_versions(self) -> str:
        return f"{self.scope}busyversions"

    def schema_version(self) -> str:
        """The format of the data, one for the whole database (storage/schema.py)."""
        return f"{self.prefix}schema"

    def outbox(self) -> str:
        """Events held until replicas have their change (--redis-min-replicas), in id order."""
        return f"{self.scope}outbox"

    def released(self) -> str:
        """The newest held event published (lua/release_events.lua); replays stop there."""
        return f"{self.scope}released"

    def events_channel(self) -> bytes:
        """Every event of the tenant is published here once, with its recipients
        (lua/includes/events.lua emit)."""
        return f"{self.scope}events".encode()
