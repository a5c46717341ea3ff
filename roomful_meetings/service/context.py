"""What a handler is given: the caller (and what their request brings to every change it
makes), and the stores of the caller's tenant with the server's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from roomful_meetings.config import Settings
from roomful_meetings.service.findcache import SearchCache
from roomful_meetings.storage.availability import AvailabilityStore
from roomful_meetings.storage.base import NO_WRITE, Write
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.directory import DirectoryStore
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import DEFAULT_TENANT, Keys
from roomful_meetings.storage.meetings import MeetingStore


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a request: a user of one tenant (contract 12). The dispatcher gives a
    changing request its own copy with `write` (its safe-retry key), and a rejectConflicts
    check one with the busy versions it read (service/conflicts.py); handlers pass it to
    every change script they run."""

    user_id: str
    is_admin: bool = False
    tenant: str = DEFAULT_TENANT
    write: Write = NO_WRITE


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    keys: Keys
    catalog: CatalogStore
    meetings: MeetingStore
    events: EventStore
    directory: DirectoryStore
    availability: AvailabilityStore
    searches: SearchCache = field(default_factory=SearchCache)  # findMeetingTimes' (per instance)

    @property
    def drivable(self) -> bool:
        """Whether a one-round-trip request may be answered without a task
        (service/dispatch.py `answer_inline`)."""
        return self.meetings.redis.drivable
