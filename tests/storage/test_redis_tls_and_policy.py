"""rediss:// against a real TLS-enabled redis-server, and the eviction-policy warning."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roomful_meetings.storage.embedded import RedisProcess, free_port
from roomful_meetings.storage.redis import open_redis, parse_redis_url
from roomful_meetings.storage.schema import warn_on_eviction


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def tls_redis_binary() -> str | None:
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            linked = subprocess.run(["ldd", candidate], capture_output=True, text=True, check=False).stdout
            if "libssl" in linked:
                return candidate
    return None


async def test_rediss_url_connects_over_tls_and_verifies_the_certificate(tmp_path: Path) -> None:
    binary = tls_redis_binary()
    if binary is None:
        pytest.skip("no redis-server built with TLS on this machine")
    cert, key = self_signed(tmp_path)
    port = free_port()
    proc = await trio.lowlevel.open_process(
        [
            binary,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        address = parse_redis_url(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}")
        async with open_redis(address) as redis:
            with trio.fail_after(10):
                await redis.wait_connected()
            assert await redis.execute("PING") == b"PONG"
        untrusted = parse_redis_url(f"rediss://127.0.0.1:{port}/0")
        async with open_redis(untrusted, connect_timeout=1) as redis:
            await trio.sleep(0.5)
            assert not redis.connected  # the self-signed certificate is not trusted by default
    finally:
        proc.kill()
        await proc.wait()


async def test_an_evicting_redis_is_warned_about(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_redis(own_redis.address) as redis:
        await redis.wait_connected()
        with caplog.at_level(logging.WARNING):
            await warn_on_eviction(redis)
        assert not caplog.records
        await redis.execute("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        with caplog.at_level(logging.WARNING):
            await warn_on_eviction(redis)
        assert "allkeys-lru" in caplog.text and "EVICT" in caplog.text
