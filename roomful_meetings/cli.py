"""The `roomful-meetings` command: serve, token, catalog import, schema.

Exit codes: 0 done (or stopped by SIGTERM/SIGINT), 1 a failure at run time (Redis not
reached within --redis-connect-timeout, data of another format, a data upgrade Redis
refused, a Redis Cluster without sharded pub/sub), 2 a mistake in the command line or
settings (bad flag or value, port in use, unreadable key). Each failure is one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn, TypeVar

import msgspec
import trio

from roomful_meetings import logs
from roomful_meetings.config import ConfigError, Settings, add_arguments, settings_from, worker_index
from roomful_meetings.domain.emails import is_plain_email
from roomful_meetings.domain.zones import is_valid_zone
from roomful_meetings.errors import ApiError
from roomful_meetings.protocol.payloads import is_id
from roomful_meetings.storage.keys import DEFAULT_TENANT
from roomful_meetings.storage.redis.errors import first_leaf

T = TypeVar("T")

# The settings each command other than `serve` reads (its --help lists only these).
# `token` reads the issuer and audience too: a server that requires them refuses tokens without.
TOKEN_SETTINGS = ("data_dir", "jwt_secret", "jwt_public_key", "jwt_issuer", "jwt_audience", "tenant_claim")
IMPORT_SETTINGS = (
    "redis_url",
    "redis_pool_size",
    "redis_timeout",
    "redis_connect_timeout",
    "key_prefix",
    "data_dir",
    "log_level",
    "log_format",
)


def fail(code: int, message: object) -> NoReturn:
    print(f"roomful-meetings: {message}", file=sys.stderr)
    raise SystemExit(code)


def run(main: Callable[..., Awaitable[T]], *args: object) -> T:
    """trio.run, with the failures a user can cause turned into one line and an exit code."""
    from roomful_meetings.app import RedisNotReached
    from roomful_meetings.storage.redis import UnsupportedRedis
    from roomful_meetings.storage.schema import IncompatibleData, UpgradeRefused

    try:
        return trio.run(main, *args)
    except* ConfigError as group:
        fail(2, first_leaf(group))
    except* (RedisNotReached, IncompatibleData, UpgradeRefused, UnsupportedRedis) as group:
        fail(1, first_leaf(group))
    except* KeyboardInterrupt:  # Ctrl-C of a command that has no signal handling of its own
        fail(130, "interrupted")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="roomful-meetings", description=__doc__.split("\n\n")[0])
    top.add_argument("--version", action="version", version=f"%(prog)s {version('roomful-meetings')}")
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a server instance")
    add_arguments(serve)

    token = commands.add_parser("token", help="print a token the local server accepts")
    token.add_argument("--user", required=True, help="user id (the `sub` claim)")
    token.add_argument("--admin", action="store_true", help="add role=admin")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="seconds until it expires (default 86400)")
    token.add_argument("--email", help="email claim")
    token.add_argument("--zone", help="zoneinfo claim (IANA time zone)")
    token.add_argument("--tenant", help="the user's tenant (the --tenant-claim claim; unset: default)")
    add_arguments(token, TOKEN_SETTINGS)

    catalog = commands.add_parser("catalog", help="bulk catalog operations")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    load = catalog_commands.add_parser("import", help="load users, rooms, props, groups, sessions")
    load.add_argument("file", type=Path, help="JSON file: {users, rooms, props, groups, sessions}")
    load.add_argument(
        "--tenant", default=DEFAULT_TENANT, help="the tenant to load it into (default: default)"
    )
    add_arguments(load, IMPORT_SETTINGS)

    schema = commands.add_parser("schema", help="print the AsyncAPI 3 document of the protocol")
    schema.add_argument("--output", type=Path, help="write it to this file instead")
    return top


def main(argv: list[str] | None = None) -> None:
    given = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(given)
    if args.command == "schema":
        from roomful_meetings.asyncapi import render

        if args.output:
            try:
                args.output.write_text(render())
            except OSError as exc:
                fail(2, f"{args.output}: {exc.strerror or exc}")
        else:
            sys.stdout.write(render())
        return
    try:
        settings = settings_from(args)
        logs.configure(settings.log_level, log_format=settings.log_format)
    except ConfigError as exc:
        fail(2, exc)
    if args.command == "serve" and settings.workers > 1 and not worker_index():
        from roomful_meetings.workers import serve_workers

        raise SystemExit(run(serve_workers, settings, args))
    if args.command == "serve":
        from roomful_meetings.app import serve_until_signalled

        run(serve_until_signalled, settings)
    elif args.command == "token":
        print_token(args, settings)
    elif args.command == "catalog":
        from roomful_meetings.catalog_import import run_import

        try:
            counts = run(run_import, settings, args.file, args.tenant)
        except* (msgspec.ValidationError, msgspec.DecodeError) as group:
            fail(2, f"{args.file}: {first_leaf(group)}")
        except* OSError as group:
            fail(2, f"{args.file}: {first_leaf(group)}")
        except* ApiError as group:  # what the admin endpoints would refuse (400, 404)
            fail(2, f"{args.file}: {first_leaf(group)}")
        print(" ".join(f"{name}={count}" for name, count in counts.items()))


def print_token(args: argparse.Namespace, settings: Settings) -> None:
    """The token on stdout; on stderr, which secret signed it, since a token made with the
    secret of another data folder is refused (401) by the server."""
    from roomful_meetings.auth import (
        MAX_NUMERIC_DATE,
        TENANT,
        checked_secret,
        mint_token,
        resolve_secret,
        secret_path,
    )

    if settings.jwt_public_key and not settings.jwt_secret:
        fail(2, "this server verifies tokens with a public key; mint them where the private key is")
    if not is_id(args.user):
        fail(2, f"bad value for --user: {args.user!r} (1 to 128 characters, no colon, space or control)")
    if args.email and not is_plain_email(args.email):  # the server would ignore these claims
        fail(2, f"bad value for --email: {args.email!r} (a plain address, name@domain)")
    if args.zone and not is_valid_zone(args.zone):
        fail(2, f"bad value for --zone: {args.zone!r} (an IANA time zone, such as Europe/London)")
    if args.tenant is not None and not TENANT.fullmatch(args.tenant):
        fail(2, f"bad value for --tenant: {args.tenant!r} (1 to 64 of A-Z a-z 0-9 _ -)")
    if args.ttl <= 0:
        fail(2, f"bad value for --ttl: {args.ttl} (seconds, above 0)")
    if time.time() + args.ttl > MAX_NUMERIC_DATE:  # the server refuses an `exp` past year 9999
        fail(2, f"bad value for --ttl: {args.ttl} (it would expire after year 9999)")
    path = secret_path(settings.data_dir).resolve()
    existed = path.is_file()
    try:
        secret = checked_secret(resolve_secret(settings))
    except ConfigError as exc:
        fail(2, exc)
    if settings.jwt_secret:
        print("roomful-meetings: signed with --jwt-secret (ROOMFUL_JWT_SECRET)", file=sys.stderr)
    elif existed:
        print(f"roomful-meetings: signed with the secret in {path}", file=sys.stderr)
    else:
        print(
            f"roomful-meetings: warning: no secret in {path.parent}, so a new one was made in {path};"
            " only a server with this --data-dir accepts the token",
            file=sys.stderr,
        )
    named = (("email", args.email), ("zoneinfo", args.zone))
    claims = {k: v for k, v in (*named, ("iss", settings.jwt_issuer), ("aud", settings.jwt_audience)) if v}
    if args.tenant is not None:
        claims[settings.tenant_claim] = args.tenant
    print(mint_token(secret, args.user, admin=args.admin, ttl_seconds=args.ttl, **claims))
