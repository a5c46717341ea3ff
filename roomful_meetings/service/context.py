"""What a handler is given: the caller, and the server's stores and settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from roomful_meetings.config import Settings
from roomful_meetings.service.findcache import SearchCache
from roomful_meetings.storage.availability import AvailabilityStore
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.directory import DirectoryStore
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingStore


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    is_admin: bool = False


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
