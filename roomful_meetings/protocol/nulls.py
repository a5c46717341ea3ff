"""`null` for an optional field means "not given" (docs/protocol.md), also for fields with a
default (`step`, `rejectConflicts`, an attendee's `type`): msgspec refuses null for a type
without None, so such nulls are taken out before decoding. Fields that take null keep it
(there it may say something: `recurrence: null`, an upsert's null that clears a field), and
so do fields without a default value (a session's `propId`: null is a 400 there)."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi


def without_default_nulls(data: bytes, payload: Any) -> bytes:
    """`data` (a request's JSON) without the nulls of optional fields that do not take null
    anywhere `payload` (a Struct type) describes; `data` itself when it holds none."""
    if b"null" not in data or not _has_strippable(payload):
        return data
    try:
        value = msgspec.json.decode(data)
        return msgspec.json.encode(value) if _drop(value, _info(payload)) else data
    except msgspec.MsgspecError:  # no JSON, a number out of range: the typed decoding says so
        return data


@cache
def _info(payload: Any) -> mi.Type:
    return mi.type_info(payload)


@cache
def _has_strippable(payload: Any) -> bool:
    """Whether `payload` has a field, at any depth, whose null would be taken out: most
    have none, and their nulls need no pass at all (old clients send many)."""
    return _strippable_in(_info(payload))


def _strippable_in(kind: mi.Type) -> bool:
    if isinstance(kind, mi.UnionType):
        return any(_strippable_in(member) for member in kind.types)
    if isinstance(kind, mi.ListType):
        return _strippable_in(kind.item_type)
    if not isinstance(kind, mi.StructType):
        return False
    return any(_null_means_default(field) or _strippable_in(field.type) for field in kind.fields)


def _drop(value: Any, kind: mi.Type) -> bool:
    """Take the nulls out of `value` in place; whether any was."""
    if isinstance(kind, mi.UnionType):
        return any(_drop(value, member) for member in kind.types)
    if isinstance(kind, mi.ListType) and isinstance(value, list):
        return any([_drop(item, kind.item_type) for item in value])
    if not (isinstance(kind, mi.StructType) and isinstance(value, dict)):
        return False
    dropped = False
    for field in kind.fields:
        if field.encode_name not in value:
            continue
        given = value[field.encode_name]
        if given is None and _null_means_default(field):
            del value[field.encode_name]
            dropped = True
        elif given is not None:
            dropped = _drop(given, field.type) or dropped
    return dropped


def _null_means_default(field: mi.Field) -> bool:
    return _has_default(field) and not _takes_null(field.type)


def _has_default(field: mi.Field) -> bool:
    """A default value of its own: not a required field, nor one whose absence is UNSET
    (there a null is refused where docs/protocol.md says so: a session's `propId`)."""
    return field.default is not msgspec.NODEFAULT or field.default_factory is not msgspec.NODEFAULT


def _takes_null(kind: mi.Type) -> bool:
    members = kind.types if isinstance(kind, mi.UnionType) else (kind,)
    return any(isinstance(member, mi.NoneType) for member in members)
