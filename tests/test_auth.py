"""Token claims, checked without a server (issue 13: malformed time claims are refused)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from roomful_meetings.auth import LEEWAY_SECONDS, AuthError, TokenVerifier, identity_from_claims
from roomful_meetings.config import Settings
from tests.conftest import SECRET

SOON = int(time.time()) + 3600


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [
        str(SOON),
        "",
        True,
        False,
        None,
        [SOON],
        {"t": SOON},
        float("nan"),
        float("inf"),
        -1,
        253_402_300_800,
        10**30,
        1e308,
    ],
    # Named: a value of the clock would give each pytest-xdist worker other ids.
    ids=[
        "text",
        "empty",
        "true",
        "false",
        "null",
        "list",
        "object",
        "nan",
        "inf",
        "negative",
        "past-9999",
        "huge-int",
        "huge-float",
    ],
)
def test_a_malformed_time_claim_is_refused(name: str, value: Any) -> None:
    with pytest.raises(AuthError, match=f"`{name}`"):
        identity_from_claims({"sub": "alice", name: value})


@pytest.mark.parametrize("exp", [SOON, float(SOON) + 0.5], ids=["int", "float"])
def test_a_numeric_exp_sets_the_expiry_with_the_leeway(exp: float) -> None:
    identity = identity_from_claims({"sub": "alice", "exp": exp, "nbf": 0, "iat": SOON - 3600})
    assert identity.expires_at == float(exp) + LEEWAY_SECONDS


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "alice", "exp": str(SOON)},
        {"sub": "alice", "exp": SOON, "nbf": str(SOON - 10)},
        {"sub": "alice", "exp": SOON, "iat": True},
        {"sub": "alice", "exp": 10**30},
    ],
)
def test_the_verifier_refuses_what_pyjwt_lets_through(tmp_path: Any, claims: dict[str, Any]) -> None:
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, data_dir=tmp_path))
    with pytest.raises(AuthError):
        verifier.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "sub", ["alice\n", "\nalice", "al\x00ice", "al ice", "a:b", "", "x" * 129, "al\x1bice", "al\ud800ice"]
)
def test_a_sub_that_is_not_a_user_id_is_refused(sub: str) -> None:
    with pytest.raises(AuthError, match="`sub`"):
        identity_from_claims({"sub": sub, "exp": SOON})


def test_a_text_claim_holding_a_lone_surrogate_is_ignored() -> None:
    # Valid JSON ("\\ud800") that no UTF-8 can say: the profile could not store it.
    identity = identity_from_claims(
        {"sub": "alice", "exp": SOON, "given_name": "M\ud800x", "email": "a\udfff@x.test"}
    )
    assert identity.given_name is None and identity.email is None


def public_key_pem(tmp_path: Any, private: Any) -> Any:
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "public.pem"
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda ec, rsa: ec.generate_private_key(ec.SECP384R1()),
            "an EC key on secp384r1; ES256 needs P-256",
        ),
        (
            lambda ec, rsa: ec.generate_private_key(ec.SECP521R1()),
            "an EC key on secp521r1; ES256 needs P-256",
        ),
        (
            lambda ec, rsa: ec.generate_private_key(ec.SECP256K1()),
            "an EC key on secp256k1; ES256 needs P-256",
        ),
        (
            lambda ec, rsa: rsa.generate_private_key(65537, 1024),
            "a 1024-bit RSA key; RS256 needs at least 2048",
        ),
    ],
    ids=["P-384", "P-521", "secp256k1", "RSA-1024"],
)
def test_a_public_key_no_token_can_be_checked_with_is_refused_at_start(
    tmp_path: Any, make: Any, words: str
) -> None:
    """A P-384 key was taken at start, yet PyJWT refuses it for every ES256 token: the
    server ran and answered every handshake 401."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from roomful_meetings.config import ConfigError

    path = public_key_pem(tmp_path, make(ec, rsa))
    with pytest.raises(ConfigError, match=f"--jwt-public-key {path}: {words}"):
        TokenVerifier(Settings(jwt_secret=SECRET, data_dir=tmp_path, jwt_public_key=str(path)))


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_a_p256_or_rsa_2048_key_checks_tokens(tmp_path: Any, algorithm: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else rsa.generate_private_key(65537, 2048)
    )
    path = public_key_pem(tmp_path, private)
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, data_dir=tmp_path, jwt_public_key=str(path)))
    token = jwt.encode({"sub": "alice", "exp": SOON}, private, algorithm=algorithm)
    assert verifier.verify(token).user_id == "alice"
