"""The registry: every endpoint the server answers, from the route tables listed here."""

from __future__ import annotations

from typing import Final

from roomful_meetings.service import admin, availability, feeds, findtime, legacy, meetings
from roomful_meetings.service.registry import Endpoint, registry

ENDPOINTS: Final[dict[str, Endpoint]] = registry(
    meetings.routes, availability.routes, findtime.routes, feeds.routes, legacy.routes, admin.routes
)
