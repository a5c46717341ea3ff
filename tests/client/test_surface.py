"""The typed client covers the endpoint registry: every endpoint has a method, and what each
method sends is a payload the server decodes (checked without a server: the methods' typed
signatures are filled with sample values and the request they make is recorded)."""

from __future__ import annotations

import inspect
import types
import typing
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import pytest

from roomful_meetings.client import MeetingsClient
from roomful_meetings.service.endpoints import ENDPOINTS

NOT_ENDPOINTS = {"request", "events", "wait_disconnected"}
# Conveniences over another method's endpoint (contract 9): they may share it.
SHORTHANDS = {"create_series", "list_instances", "split_series", "cancel_instance"}


def sample(tp: Any) -> Any:
    """A value of type `tp` that satisfies the protocol's constraints (ids without colons,
    aware datetimes, unit floats), filling only the required fields of Structs."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        value = sample(args[0])
        lowest = [m.ge for m in args[1:] if isinstance(m, msgspec.Meta) and m.ge is not None]
        return max(value, *lowest) if lowest and isinstance(value, int) else value
    if origin in (typing.Union, types.UnionType):
        usable = [a for a in args if a not in (type(None), msgspec.UnsetType)]
        return sample(usable[0])
    if origin is Literal:
        return next(a for a in args if a) if any(args) else args[0]
    if origin is list:
        return [sample(args[0])]
    if origin is dict:
        return {sample(args[0]): sample(args[1])}
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        hints = typing.get_type_hints(tp, include_extras=True)
        required = tp.__struct_fields__[: len(tp.__struct_fields__) - len(tp.__struct_defaults__)]
        return tp(**{name: sample(hints[name]) for name in required})
    return {str: "x1", int: 1, float: 0.5, bool: True, datetime: datetime(2030, 1, 7, 9, tzinfo=UTC)}[tp]


class Recorder:
    """Stands in for the connection: records (endpoint, data) and answers nothing useful."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def request(self, endpoint: str, data: Any, *, event_id: str | None = None) -> Any:
        self.sent.append((endpoint, data))
        raise _Sent


class _Sent(Exception):
    pass


def client_methods() -> list[str]:
    return sorted(
        name
        for name, fn in inspect.getmembers(MeetingsClient, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in NOT_ENDPOINTS
    )


async def sent_by(method: str) -> tuple[str, Any]:
    recorder = Recorder()
    client = MeetingsClient.__new__(MeetingsClient)
    client.request = recorder.request  # type: ignore[method-assign]  # the one seam: no socket
    fn = getattr(MeetingsClient, method)
    hints = typing.get_type_hints(fn, include_extras=True)
    params = [p for name, p in inspect.signature(fn).parameters.items() if name != "self"]
    positional = [sample(hints[p.name]) for p in params if p.kind != p.KEYWORD_ONLY]
    keywords = {p.name: sample(hints[p.name]) for p in params if p.kind == p.KEYWORD_ONLY}
    with pytest.raises(_Sent):
        await fn(client, *positional, **keywords)
    (sent,) = recorder.sent
    return sent


async def test_every_endpoint_has_one_typed_method_and_every_method_one_endpoint() -> None:
    endpoints = [(await sent_by(method))[0] for method in client_methods() if method not in SHORTHANDS]
    assert sorted(endpoints) == sorted(set(endpoints)), "two methods send the same endpoint"
    assert set(endpoints) == set(ENDPOINTS)


@pytest.mark.parametrize("method", client_methods())
async def test_what_a_method_sends_is_what_its_endpoint_decodes(method: str) -> None:
    endpoint, data = await sent_by(method)
    wire = msgspec.json.encode(data)
    ENDPOINTS[endpoint].decoder.decode(wire)  # raises ValidationError on any mismatch
