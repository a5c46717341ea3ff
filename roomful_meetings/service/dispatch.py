"""Turn one request frame into one response frame, in the contract's order of checks:
envelope and fields (400), then existence and visibility (404), then permission (403).
Storage failures become 503 saying whether the request may have been applied; anything
unexpected is a 500 whose message carries an id that is also in the log.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any

import msgspec

from roomful_meetings import metrics
from roomful_meetings.errors import ApiError, BadRequest, Forbidden, InternalError, NotFound, Unavailable
from roomful_meetings.logs import REQUEST_ID
from roomful_meetings.protocol.budget import too_large
from roomful_meetings.protocol.envelope import (
    EMPTY_OBJECT,
    FrameError,
    Request,
    decode_event_ref,
    decode_request,
    describe_validation_error,
    encode_error,
    encode_response,
    quoted,
)
from roomful_meetings.protocol.nulls import without_default_nulls
from roomful_meetings.protocol.payloads import cut_long_fractions
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.endpoints import ENDPOINTS
from roomful_meetings.storage.base import Write
from roomful_meetings.storage.redis import RedisConnectionLost, RedisUnavailable, inline

log = logging.getLogger(__name__)

NOT_APPLIED = "storage unavailable: the request was not applied; retry later with the same event.id"
UNKNOWN_OUTCOME = (
    "storage unavailable: the link to Redis broke during the request, so its outcome is unknown;"
    " a retry with the same event.id is safe"
)


def read_request(frame: str | bytes) -> Request | FrameError:
    """The envelope of `frame`, or the 400 it gets (never raises): decoded once, for the
    session to decide how to answer it (`one_round_trip`) and for `dispatch`."""
    try:
        return decode_request(frame)
    except FrameError as exc:
        return exc


def large_answer(read: Request | FrameError) -> bool:
    """Whether the answer grows with the data (`large_answer` in the registry)."""
    spec = ENDPOINTS.get(read.endpoint) if isinstance(read, Request) else None
    return spec is not None and spec.large_answer


def one_round_trip(read: Request | FrameError) -> bool:
    """Whether answering awaits Redis at most once: an endpoint registered so (unless its
    data names the field that makes it do more), or a request refused before any handler
    runs (a 400 or an unknown endpoint). The field is looked for in the JSON text: a key
    written with escapes is missed, and that request answered inline all the same (right,
    but without pausing for others)."""
    if isinstance(read, FrameError):
        return True
    spec = ENDPOINTS.get(read.endpoint)
    if spec is None:
        return True
    if spec.not_inline_with and spec.not_inline_with in bytes(read.data):
        return False
    return spec.one_round_trip


def answer_inline(
    reply: Coroutine[Any, Any, bytes], context: contextvars.Context, on_done: inline.Done
) -> None:
    """Run `reply` (a `dispatch` of a one-round-trip request, `Services.drivable`) without a
    task: it goes on as Redis answers, and `on_done(frame, error)` gets its end
    (storage/redis/inline.py). The caller's batch ends with `flush_inline`."""
    inline.drive(reply, context, on_done)


flush_inline = inline.flush


def fingerprint(endpoint: str, data: msgspec.Struct) -> str:
    """What tells a repeat of a change from another request under the same event.id: the
    endpoint and its data as decoded (a retry that writes its JSON differently, or
    free-form objects' keys in another order, is still a repeat). A timestamp keeps its
    offset: a `localDate`'s offset is the caller's zone when none is stored."""
    digest = hashlib.blake2b(endpoint.encode(), digest_size=12)
    digest.update(msgspec.json.encode(data, order="deterministic"))
    return digest.hexdigest()


async def dispatch(services: Services, caller: Caller, frame: str | bytes | Request | FrameError) -> bytes:
    """Answer one request frame, or its envelope from `read_request` (never raises for
    anything a client can send)."""
    started = time.perf_counter()
    reply, endpoint, code = await _dispatch(services, caller, frame)
    elapsed = time.perf_counter() - started
    counted, timed = metrics.request_metrics(metrics.endpoint_label(endpoint, endpoint in ENDPOINTS), code)
    counted.inc()
    timed.observe(elapsed)
    if log.isEnabledFor(logging.DEBUG):  # one line per request is for following one, not for production
        log.debug(
            "request endpoint=%s user=%s code=%d ms=%.2f", endpoint, caller.user_id, code, elapsed * 1000
        )
    return reply


async def _dispatch(
    services: Services, caller: Caller, frame: str | bytes | Request | FrameError
) -> tuple[bytes, str | None, int]:
    request = frame if isinstance(frame, Request | FrameError) else read_request(frame)
    if isinstance(request, FrameError):
        return encode_error(request.endpoint, request.event, request), request.endpoint, request.code
    endpoint, event = request.endpoint, request.event
    try:
        spec = ENDPOINTS.get(endpoint)
        if spec is None:
            raise NotFound(f"unknown endpoint {quoted(endpoint)!r}")
        given = bytes(request.data)
        raw = (
            EMPTY_OBJECT
            if given == b"null"
            else without_default_nulls(cut_long_fractions(given), spec.decoder.type)
        )
        try:
            data = spec.decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise BadRequest(describe_validation_error(exc, "data")) from None
        ref = decode_event_ref(event) if spec.changes else None  # its shape: 400 before 403
        if spec.admin and not caller.is_admin:
            raise Forbidden(f'{endpoint} needs a token with role "admin"')
        if ref is not None and ref.id is not None and ref.id != "":  # a change's safe-retry id
            key = services.keys.request(caller.user_id, str(ref.id))
            retry = Write(key, request_print=fingerprint(endpoint, data))
            caller = dataclasses.replace(caller, write=retry)
        result = await spec.handler(services, caller, data)
        reply = encode_response(endpoint, event, EMPTY_OBJECT if result is None else result)
        # Every read's answer within the limit (protocol/budget.py), its echoed event aside;
        # not a change's: it is made, and a 400 would say it was not.
        limit = services.settings.max_answer_bytes
        if not spec.changes and len(reply) - len(event) > limit:
            raise too_large(limit)
        return reply, endpoint, 0
    except ApiError as exc:
        return encode_error(endpoint, event, exc), endpoint, exc.code
    except RedisUnavailable:
        metrics.REDIS_ERRORS.labels("not_applied").inc()
        return encode_error(endpoint, event, Unavailable(NOT_APPLIED)), endpoint, 503
    except RedisConnectionLost:
        metrics.REDIS_ERRORS.labels("outcome_unknown").inc()
        return encode_error(endpoint, event, Unavailable(UNKNOWN_OUTCOME)), endpoint, 503
    except Exception:
        error_id = REQUEST_ID.get()
        if error_id == "-":  # not called from a connection (tests, benchmarks)
            error_id = secrets.token_hex(6)
        log.exception("error_id=%s endpoint=%s user=%s unhandled error", error_id, endpoint, caller.user_id)
        return (
            encode_error(endpoint, event, InternalError(f"internal error (error id {error_id})")),
            endpoint,
            500,
        )
