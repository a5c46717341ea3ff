"""Roomful Meetings: a real-time meeting scheduling server over WebSocket and Redis."""

__version__ = "0.1.0"
