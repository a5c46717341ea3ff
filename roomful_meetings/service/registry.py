"""The endpoint table: name -> payload Struct, handler, and who may call it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

if TYPE_CHECKING:
    from roomful_meetings.service.context import Caller, Services

P = TypeVar("P", bound=msgspec.Struct)
Handler = Callable[["Services", "Caller", Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    payload: type[msgspec.Struct]
    handler: Handler
    admin: bool
    changes: bool
    one_round_trip: bool  # answered with one Redis round trip (the session may answer inline)
    decoder: msgspec.json.Decoder[Any] = field(repr=False)


ENDPOINTS: dict[str, Endpoint] = {}


def endpoint(
    name: str, payload: type[P], *, admin: bool = False, changes: bool = False, one_round_trip: bool = False
) -> Callable[
    [Callable[[Services, Caller, P], Awaitable[Any]]], Callable[[Services, Caller, P], Awaitable[Any]]
]:
    """Register a handler; `changes` marks requests that write (safe retries apply),
    `one_round_trip` those whose handler awaits Redis once (one script or one pipeline)."""

    def register(
        handler: Callable[[Services, Caller, P], Awaitable[Any]],
    ) -> Callable[[Services, Caller, P], Awaitable[Any]]:
        if name in ENDPOINTS:
            raise RuntimeError(f"endpoint {name} registered twice")
        ENDPOINTS[name] = Endpoint(
            name, payload, handler, admin, changes, one_round_trip, msgspec.json.Decoder(payload)
        )
        return handler

    return register
