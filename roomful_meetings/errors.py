"""The error tree, and the wire code each error is answered with.

    ApiError                      answered as a response with error.status = true
    ├── BadRequest        400     frame or field malformed, out of range
    ├── NotFound          404     unknown endpoint, meeting not visible, source/user missing
    ├── Forbidden         403     participant without the right, not admin
    ├── Conflict          409     an id already taken
    ├── PayloadTooLarge   413
    ├── RateLimited       429
    ├── InternalError     500     a bug; the message carries an id that is also logged
    └── Unavailable       503     storage unreachable (not applied, or outcome unknown)

Storage errors (roomful_meetings.storage.redis.errors) are turned into Unavailable at the
service boundary; nothing below the service layer knows about wire codes.
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """An error answered to the client as a response frame."""

    code: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    code = 400


class Forbidden(ApiError):
    code = 403


class NotFound(ApiError):
    code = 404


class Conflict(ApiError):
    code = 409


class PayloadTooLarge(ApiError):
    code = 413


class RateLimited(ApiError):
    code = 429


class InternalError(ApiError):
    code = 500


class Unavailable(ApiError):
    code = 503


ERRORS_BY_CODE: dict[int, type[ApiError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        RateLimited,
        InternalError,
        Unavailable,
    )
}


def error_for_code(code: int, message: str) -> ApiError:
    """Build the ApiError for a wire code (used for codes that Lua scripts return)."""
    return ERRORS_BY_CODE.get(code, InternalError)(message)
