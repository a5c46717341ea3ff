"""JWT: verify the token of a handshake, mint tokens for local use, keep the local secret."""

from __future__ import annotations

import math
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from roomful_meetings.config import ConfigError, Settings
from roomful_meetings.protocol.envelope import says_utf8
from roomful_meetings.protocol.payloads import ID_PATTERN
from roomful_meetings.storage.keys import DEFAULT_TENANT

LEEWAY_SECONDS: Final = 30
# RFC 7518 section 3.2: an HS256 key must have at least as many bits as the hash (256).
MIN_SECRET_BYTES: Final = 32
TIME_CLAIMS: Final = ("exp", "nbf", "iat")
MAX_NUMERIC_DATE: Final = 253_402_300_799  # 9999-12-31T23:59:59Z
_USER_ID: Final = re.compile(ID_PATTERN)
SECRET_FILE: Final = "jwt-secret"
HMAC_ALGORITHMS: Final = ["HS256"]
PUBLIC_KEY_ALGORITHMS: Final = ["RS256", "ES256"]
# A tenant name (contract 12): it becomes the hash tag of every key of the tenant.
TENANT: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class AuthError(Exception):
    """The token is missing, malformed, badly signed, expired or lacks a claim."""


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    is_admin: bool
    expires_at: float | None
    tenant: str = DEFAULT_TENANT
    email: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    zoneinfo: str | None = None


def secret_path(data_dir: Path, name: str = SECRET_FILE) -> Path:
    return data_dir / name


def load_or_create_secret(data_dir: Path, name: str = SECRET_FILE) -> str:
    """A secret kept in the data folder (the HS256 one by default), created (mode 0600) on
    first use."""
    path = secret_path(data_dir, name)
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def resolve_secret(settings: Settings) -> str:
    """The configured secret; else, unless a public key is configured, the local one."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.jwt_public_key:
        return ""
    try:
        return load_or_create_secret(settings.data_dir)
    except OSError as exc:
        path = secret_path(settings.data_dir)
        raise ConfigError(f"cannot read or create the JWT secret {path} (--data-dir): {exc}") from None


def checked_secret(secret: str) -> str:
    """The HS256 secret, refused (ConfigError) when shorter than MIN_SECRET_BYTES."""
    if secret and len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the HS256 secret has {len(secret.encode())} bytes; it needs at least {MIN_SECRET_BYTES}"
            " (`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'` makes one)"
        )
    return secret


def load_public_key(path: str) -> str:
    """The PEM text of an RS256 or ES256 public key, checked now rather than per handshake.

    Raises ConfigError when the file cannot be read or holds no RSA public key of 2048 bits
    or more nor EC public key on P-256.
    """
    try:
        pem = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --jwt-public-key {path}: {exc}") from None
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"--jwt-public-key {path} is not a PEM public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ConfigError(f"--jwt-public-key {path}: not an RSA or EC key (RS256, ES256)")
    # A key that no RS256 or ES256 token can be checked with would answer every handshake
    # 401: ES256 is P-256 only (PyJWT refuses any other curve), RS256 wants 2048 bits or more
    # (RFC 7518 3.3).
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1):
        curve = key.curve.name
        raise ConfigError(f"--jwt-public-key {path}: an EC key on {curve}; ES256 needs P-256 (secp256r1)")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        bits = key.key_size
        raise ConfigError(f"--jwt-public-key {path}: a {bits}-bit RSA key; RS256 needs at least 2048 bits")
    return pem


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        """Raises ConfigError for a secret too short or a public key file that is not one."""
        self.secret = checked_secret(resolve_secret(settings))
        self.public_key = load_public_key(settings.jwt_public_key) if settings.jwt_public_key else ""
        self.issuer = settings.jwt_issuer or None
        self.audience = settings.jwt_audience or None
        self.require_exp = settings.jwt_require_exp
        self.tenant_claim = settings.tenant_claim

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        algorithm = header.get("alg")
        if algorithm in HMAC_ALGORITHMS and self.secret:
            key, algorithms = self.secret, HMAC_ALGORITHMS
        elif algorithm in PUBLIC_KEY_ALGORITHMS and self.public_key:
            key, algorithms = self.public_key, PUBLIC_KEY_ALGORITHMS
        else:
            raise AuthError(f"token algorithm {algorithm!r} is not accepted here")
        required = ["sub", "exp"] if self.require_exp else ["sub"]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                leeway=LEEWAY_SECONDS,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from None
        return identity_from_claims(claims, self.tenant_claim)


def identity_from_claims(claims: dict[str, Any], tenant_claim: str = "tenant") -> Identity:
    sub = claims.get("sub")
    if not isinstance(sub, str) or len(sub) > 128 or not _USER_ID.match(sub) or not says_utf8(sub):
        raise AuthError(
            "`sub` must be a user id of 1 to 128 characters without ':', spaces or control characters"
        )
    check_time_claims(claims)
    tenant = claims.get(tenant_claim, DEFAULT_TENANT)
    if not isinstance(tenant, str) or not TENANT.fullmatch(tenant):
        raise AuthError(f"`{tenant_claim}` must be a tenant name: 1 to 64 of A-Z a-z 0-9 _ -")
    exp = claims.get("exp")

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) and len(value) <= 2000 and says_utf8(value) else None

    return Identity(
        user_id=sub,
        is_admin=claims.get("role") == "admin",
        expires_at=None if exp is None else float(exp) + LEEWAY_SECONDS,
        tenant=tenant,
        email=text("email"),
        given_name=text("given_name"),
        family_name=text("family_name"),
        zoneinfo=text("zoneinfo"),
    )


def check_time_claims(claims: dict[str, Any]) -> None:
    """`exp`, `nbf` and `iat`, where present, must be plain JSON numbers of seconds within
    the calendar. PyJWT takes anything `int()` takes: "exp": "1796145611" passed its check
    and, not being a number here, meant a connection that never expired; a bool passed as
    0 or 1, and 1e308 as a time that never comes."""
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= MAX_NUMERIC_DATE
        ):
            raise AuthError(
                f"`{name}` must be a number of seconds since 1970, up to year 9999 (got {value!r:.40})"
            )


def mint_token(
    secret: str, user_id: str, *, admin: bool = False, ttl_seconds: int = 24 * 3600, **claims: Any
) -> str:
    """An HS256 token for `user_id` (what `roomful-meetings token` prints)."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds, **claims}
    if admin:
        payload["role"] = "admin"
    return jwt.encode(payload, secret, algorithm="HS256")
