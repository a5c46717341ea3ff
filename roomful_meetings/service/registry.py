"""Endpoints: each service module keeps a `Routes` table of its handlers, each declared next
to its handler with its payload Struct, its one-line summary (for the AsyncAPI document) and
who may call it; `service/endpoints.py` lists the tables, and that list is the registry.
Nothing registers itself by being imported."""

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
    one_round_trip: bool  # usually one Redis round trip: the session may answer it inline
    decoder: msgspec.json.Decoder[Any] = field(repr=False)
    summary: str = ""
    large_answer: bool = False  # its answer grows with the data: one at a time per connection
    # A field whose key in the request's data makes it more than one round trip (its own
    # task: storage/budget.py pauses for other tasks only in one), e.g. b'"rejectConflicts"'.
    not_inline_with: bytes = b""


class Routes:
    """The endpoints of one service module, in the order they are declared."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def endpoint(
        self,
        name: str,
        payload: type[P],
        summary: str,
        *,
        admin: bool = False,
        changes: bool = False,
        one_round_trip: bool = False,
        large_answer: bool = False,
        not_inline_with: str = "",
    ) -> Callable[
        [Callable[[Services, Caller, P], Awaitable[Any]]], Callable[[Services, Caller, P], Awaitable[Any]]
    ]:
        """Declare a handler for `name`; `changes` marks requests that write (safe retries
        apply); `one_round_trip` those whose handler usually awaits Redis once: the session
        may then answer inline, even without a task (storage/redis/inline.py), so such a
        handler awaits nothing but Redis (no nursery, cancel scope or sleep of its own),
        unless its data names the field `not_inline_with` (a request that does more);
        `large_answer` those whose answer grows with the data (listings, exports, up to
        --max-answer-bytes): a connection builds one such answer at a time, and holds it
        until it is queued (transport/session.py); `summary` is its line in the AsyncAPI
        document."""

        def declare(
            handler: Callable[[Services, Caller, P], Awaitable[Any]],
        ) -> Callable[[Services, Caller, P], Awaitable[Any]]:
            decoder = msgspec.json.Decoder(payload)
            key = f'"{not_inline_with}"'.encode() if not_inline_with else b""
            entry = Endpoint(
                name, payload, handler, admin, changes, one_round_trip, decoder, summary, large_answer, key
            )
            self.endpoints.append(entry)
            return handler

        return declare


def registry(*tables: Routes) -> dict[str, Endpoint]:
    """The endpoint table of the given route tables; a name declared twice is a bug."""
    found: dict[str, Endpoint] = {}
    for entry in (e for table in tables for e in table.endpoints):
        if entry.name in found:
            raise RuntimeError(f"endpoint {entry.name} declared twice")
        found[entry.name] = entry
    return found
