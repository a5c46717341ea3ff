"""Endpoints that exist only for one test: a bug, a slow handler, a replaced handler."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest

from roomful_meetings.protocol.payloads import Empty
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.endpoints import ENDPOINTS
from roomful_meetings.service.registry import Endpoint

TestHandler = Callable[[Services, Caller, Any], Awaitable[Any]]


@contextmanager
def installed(monkeypatch: pytest.MonkeyPatch, name: str, handler: TestHandler) -> Iterator[None]:
    """Serve `name` with `handler` for the test: a new endpoint taking `{}`, or a replacement
    of an existing endpoint's handler (same payload and rights)."""
    known = ENDPOINTS.get(name)
    if known is None:
        entry = Endpoint(name, Empty, handler, False, False, False, msgspec.json.Decoder(Empty))
    else:
        entry = dataclasses.replace(known, handler=handler)
    with monkeypatch.context() as patch:
        patch.setitem(ENDPOINTS, name, entry)
        yield
