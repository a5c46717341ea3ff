"""Trio clients for Roomful Meetings: the typed client (`open_client`, client/typed.py) and
the raw connection underneath it (`connect`, client/raw.py), importable from here."""

from roomful_meetings.client.raw import Client, ErrorInfo, EventInfo, Frame, connect, event_ids
from roomful_meetings.client.typed import Event, MeetingsClient, TokenSource, open_client

__all__ = [
    "Client",
    "ErrorInfo",
    "Event",
    "EventInfo",
    "Frame",
    "MeetingsClient",
    "TokenSource",
    "connect",
    "event_ids",
    "open_client",
]
