"""The frame envelope: decode a request, encode a response or a push.

Requests are decoded in two steps: the envelope first (with `data` and `event` kept as raw
JSON), then `data` with the endpoint's own Struct. `event` is echoed back byte for byte.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

import msgspec

from roomful_meetings.errors import ApiError, BadRequest
from roomful_meetings.protocol.nesting import MAX_NESTING, too_deep

NULL: Final = msgspec.Raw(b"null")
EMPTY_OBJECT: Final = msgspec.Raw(b"{}")


class Request(msgspec.Struct):
    endpoint: str
    # Raw absorbs any JSON value, null included (`Raw | None` would accept only null).
    data: msgspec.Raw = NULL
    event: msgspec.Raw = NULL


class _EchoOnly(msgspec.Struct):
    """What can still be echoed from a frame whose envelope is malformed."""

    endpoint: Any = None
    event: msgspec.Raw = NULL


# A changing request's event.id becomes part of a Redis key kept 10 minutes (safe retries):
# bounded, so that a client cannot park a megabyte per request there.
MAX_EVENT_ID: Final = 256
EventId = (
    Annotated[str, msgspec.Meta(max_length=MAX_EVENT_ID)]
    | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
)


class EventRef(msgspec.Struct):
    """The parts of `event` the server reads (for safe retries)."""

    id: EventId | None = None
    date: Any = None


class ErrorBody(msgspec.Struct):
    status: bool = False
    code: int = 0
    message: str = ""


NO_ERROR: Final = ErrorBody()


class Response(msgspec.Struct, omit_defaults=False):
    endpoint: str | None
    event: msgspec.Raw | None
    data: Any
    error: ErrorBody


_request_decoder: Final = msgspec.json.Decoder(Request)
_echo_decoder: Final = msgspec.json.Decoder(_EchoOnly)
_event_ref_decoder: Final[msgspec.json.Decoder[EventRef | None]] = msgspec.json.Decoder(EventRef | None)
_encoder: Final = msgspec.json.Encoder()


MAX_QUOTED: Final = 200  # characters of a client's own text quoted back in an error message


def quoted(text: str) -> str:
    """A client's text for an error message, cut short: a reply must not grow with what it
    quotes (a 900 kB endpoint name, quoted in full beside its echo, made a reply larger than
    a client's 1 MiB frame limit)."""
    return text if len(text) <= MAX_QUOTED else f"{text[:MAX_QUOTED]}... ({len(text)} characters)"


def describe_validation_error(error: msgspec.ValidationError | msgspec.DecodeError, root: str) -> str:
    """msgspec's message with its `$` path renamed after the part of the frame it is in.
    It can quote the client (an unknown field's name), so it is cut short too."""
    what, at, path = str(error).rpartition(" - at `$")
    if at:  # the path names fields of the Struct (dict keys show as [...]): never long
        return f"{quoted(what)} - at `{root}{path}"
    return f"{quoted(path)} - at `{root}`"


class FrameError(BadRequest):
    """A frame whose envelope cannot be read; carries what can still be echoed."""

    def __init__(self, message: str, endpoint: str | None, event: msgspec.Raw | None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.event = event


def decode_request(frame: str | bytes) -> Request:
    """Decode the envelope; raises FrameError (400) when it is not a request object."""
    if too_deep(frame):
        # Nothing of it can be decoded, not even to echo `event` (msgspec recurses to skip).
        message = f"the frame nests arrays and objects more than {MAX_NESTING} levels deep"
        raise FrameError(message, None, None)
    try:
        request = _request_decoder.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        endpoint, event = _salvage(frame)
        # ValidationError is a DecodeError too; the others are the JSON itself ("malformed",
        # "truncated", or "truncated" for a lone surrogate escape like "\ud800").
        if not isinstance(exc, msgspec.ValidationError):
            message = f"the frame is not valid JSON: {exc}"
        elif endpoint is None and event is None and not _is_object(frame):
            message = "the frame must be a JSON object"
        else:
            message = describe_validation_error(exc, "frame")
        raise FrameError(message, endpoint, event) from None
    if not _is_object_or_null(request.event):
        raise FrameError(
            '`event` must be an object like {"id": "...", "date": "..."}', request.endpoint, None
        )
    return request


def _salvage(frame: str | bytes) -> tuple[str | None, msgspec.Raw | None]:
    try:
        echo = _echo_decoder.decode(frame)
    except msgspec.ValidationError:
        return None, None
    except msgspec.DecodeError:
        return _salvage_leniently(frame)
    endpoint = echo.endpoint if isinstance(echo.endpoint, str) else None
    return endpoint, echo.event if _is_object_or_null(echo.event) else None


def _salvage_leniently(frame: str | bytes) -> tuple[str | None, msgspec.Raw | None]:
    """The endpoint and event of a frame msgspec cannot read, where Python's JSON reader
    can: one holding a lone surrogate escape ("\\ud83c", what JavaScript's JSON.stringify
    writes for an emoji cut in half) is valid JSON that no UTF-8 can say. Its event, when
    itself sound, is echoed so that the client can match the 400 (contract 2). Only asked
    of refused frames, which are no longer than a frame may be and not nested too deep."""
    try:
        doc = json.loads(frame)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    endpoint, event = doc.get("endpoint"), doc.get("event")
    try:
        raw = msgspec.Raw(_encoder.encode(event)) if event is None or isinstance(event, dict) else None
    except UnicodeEncodeError:  # the surrogate is in the event: nothing to echo
        raw = None
    return (endpoint if isinstance(endpoint, str) and says_utf8(endpoint) else None), raw


def says_utf8(text: str) -> bool:
    """False for text holding a lone surrogate ("\\ud800" is valid JSON, and Python's JSON
    reader lets it through): no UTF-8 says it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _is_object(frame: str | bytes) -> bool:
    text = frame.lstrip() if isinstance(frame, bytes) else frame.lstrip().encode()
    return text.startswith(b"{")


def _is_object_or_null(raw: msgspec.Raw) -> bool:
    head = bytes(raw).lstrip()[:1]
    return head in (b"{", b"n")


def decode_event_ref(event: msgspec.Raw) -> EventRef | None:
    try:
        return _event_ref_decoder.decode(event)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(describe_validation_error(exc, "event")) from None


def encode_response(endpoint: str | None, event: msgspec.Raw | None, data: Any) -> bytes:
    """A success response (UTF-8 JSON); `data` is a Struct, a dict, or raw JSON."""
    return _encoder.encode(Response(endpoint, event, data, NO_ERROR))


def encode_error(endpoint: str | None, event: msgspec.Raw | None, error: ApiError) -> bytes:
    body = ErrorBody(status=True, code=error.code, message=error.message)
    return _encoder.encode(Response(endpoint, event, None, body))


def encode_push(endpoint: str, event_id: str, date: str, data: Any) -> bytes:
    event = msgspec.Raw(_encoder.encode({"id": event_id, "date": date}))
    return _encoder.encode(Response(endpoint, event, data, NO_ERROR))


def encode(value: Any) -> bytes:
    return _encoder.encode(value)
