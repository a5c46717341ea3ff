"""Every Redis key and channel name, built from one configurable prefix.

lua/_lib.lua builds the same names (its `k_<name>` helpers) for keys a script can only
learn from data it reads; tests/storage/test_keys.py checks that both agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "rm:"

    def user(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}"

    def user_meetings(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}:meetings"

    def user_groups(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}:groups"

    def user_events(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}:events"

    def event_frame(self, event_id: str, variant: str) -> str:
        """A frame shared by the stream entries of several recipients (lua/_lib.lua emit)."""
        return f"{self.prefix}ev:{event_id}:{variant}"

    def user_pattern(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}:pattern"

    def user_busy(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}:busy"

    def user_days(self, uid: str) -> str:
        return f"{self.prefix}u:{uid}:days"

    def user_day(self, uid: str, day: str) -> str:
        return f"{self.prefix}u:{uid}:day:{day}"

    def email(self, email_key: str) -> str:
        return f"{self.prefix}email:{email_key}"

    def room(self, rid: str) -> str:
        return f"{self.prefix}room:{rid}"

    def room_props(self, rid: str) -> str:
        return f"{self.prefix}room:{rid}:props"

    def room_sessions(self, rid: str) -> str:
        return f"{self.prefix}room:{rid}:sessions"

    def prop(self, rid: str, pid: str) -> str:
        return f"{self.prefix}prop:{rid}:{pid}"

    def prop_sessions(self, rid: str, pid: str) -> str:
        return f"{self.prefix}prop:{rid}:{pid}:sessions"

    def group(self, gid: str) -> str:
        return f"{self.prefix}group:{gid}"

    def group_members(self, gid: str) -> str:
        return f"{self.prefix}group:{gid}:members"

    def session(self, sid: str) -> str:
        return f"{self.prefix}ss:{sid}"

    def meeting(self, mid: str) -> str:
        return f"{self.prefix}m:{mid}"

    def series_instances(self, sid: str) -> str:
        """A series' instance overrides (o:<minute>), cancellations (c:<minute>) and
        per-instance statuses (s:<minute>:<userId>)."""
        return f"{self.prefix}m:{sid}:x"

    def user_series(self, uid: str) -> str:
        """The series a user takes part in, scored by the earliest start of any instance."""
        return f"{self.prefix}u:{uid}:series"

    def user_feed(self, uid: str) -> str:
        """The user's calendar feed: the nonce its token derives from, and the token's hash."""
        return f"{self.prefix}u:{uid}:feed"

    def feed_token(self, token_hash: str) -> str:
        """A calendar feed token's SHA-256 (hex) -> the user id (the token is never stored)."""
        return f"{self.prefix}feed:{token_hash}"

    def source(self, source_string: str) -> str:
        return f"{self.prefix}src:{source_string}"

    def request(self, uid: str, event_id: str) -> str:
        """Safe-retry record of one user's changing request (long ids are hashed)."""
        if len(event_id) > 200:
            event_id = "sha1-" + hashlib.sha1(event_id.encode()).hexdigest()
        return f"{self.prefix}req:{uid}:{event_id}"

    def event_seq(self) -> str:
        """The last event id handed out (lua/_lib.lua next_event_id)."""
        return f"{self.prefix}eventseq"

    def versions(self) -> str:
        """The counter every availability or busy-index change takes its version from."""
        return f"{self.prefix}versions"

    def busy_versions(self) -> str:
        return f"{self.prefix}busyversions"

    def schema_version(self) -> str:
        return f"{self.prefix}schema"

    def events_channel(self) -> bytes:
        """Every event is published here once, with its recipients (lua/_lib.lua emit)."""
        return f"{self.prefix}events".encode()
