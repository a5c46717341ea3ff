"""The `roomful-meetings` command: serve, token, catalog import, schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec
import trio

from roomful_meetings import logs
from roomful_meetings.config import add_arguments, settings_from


def first_leaf(error: BaseException) -> BaseException:
    """The innermost exception of (possibly nested) exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="roomful-meetings", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a server instance")
    add_arguments(serve)

    token = commands.add_parser("token", help="print a token the local server accepts")
    token.add_argument("--user", required=True, help="user id (the `sub` claim)")
    token.add_argument("--admin", action="store_true", help="add role=admin")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="seconds until it expires")
    token.add_argument("--email", help="email claim")
    token.add_argument("--zone", help="zoneinfo claim (IANA time zone)")
    add_arguments(token)

    catalog = commands.add_parser("catalog", help="bulk catalog operations")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    load = catalog_commands.add_parser("import", help="load users, rooms, props, groups, sessions")
    load.add_argument("file", type=Path, help="JSON file: {users, rooms, props, groups, sessions}")
    add_arguments(load)

    schema = commands.add_parser("schema", help="print the AsyncAPI 3 document of the protocol")
    schema.add_argument("--output", type=Path, help="write it to this file instead")

    args = parser.parse_args(argv)
    if args.command == "schema":
        from roomful_meetings.asyncapi import render

        if args.output:
            args.output.write_text(render())
        else:
            sys.stdout.write(render())
        return
    settings = settings_from(args)
    logs.configure(settings.log_level)
    if args.command == "serve":
        from roomful_meetings.app import serve_until_signalled
        from roomful_meetings.storage.schema import IncompatibleData

        try:
            trio.run(serve_until_signalled, settings)
        except* IncompatibleData as group:
            raise SystemExit(f"roomful-meetings: {first_leaf(group)}") from None
    elif args.command == "token":
        from roomful_meetings.auth import mint_token, resolve_secret

        secret = resolve_secret(settings)
        if not secret:
            raise SystemExit(
                "this server verifies tokens with a public key; mint them where the private key is"
            )
        claims = {k: v for k, v in (("email", args.email), ("zoneinfo", args.zone)) if v}
        print(mint_token(secret, args.user, admin=args.admin, ttl_seconds=args.ttl, **claims))
    elif args.command == "catalog":
        from roomful_meetings.catalog_import import run_import
        from roomful_meetings.storage.schema import IncompatibleData

        try:
            counts = trio.run(run_import, settings, args.file)
        except* (msgspec.ValidationError, msgspec.DecodeError) as group:
            raise SystemExit(f"{args.file}: {first_leaf(group)}") from None
        except* IncompatibleData as group:
            raise SystemExit(f"roomful-meetings: {first_leaf(group)}") from None
        print(" ".join(f"{name}={count}" for name, count in counts.items()))
