"""The `sheetflow` command: serve, migrate, token.

With no `DATABASE_URL`, every command that needs a database starts (or reuses) the embedded
PostgreSQL under `SHEETFLOW_DATA_DIR` and stops it on exit if it was the last user.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from service import db
from service.settings import Settings, load_settings


def database_url(settings: Settings) -> str:
    """The configured server, or the embedded one (started now if need be)."""
    if settings.database_url:
        return settings.database_url
    return db.start_embedded(settings.data_dir)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.app import create_app

    url = database_url(settings)
    db.migrate(url)
    app = create_app(settings, url)
    host = args.host or settings.host
    port = args.port or settings.port
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal with the
    # handlers it found at start. Those handlers exit normally (status 0), so that atexit
    # hooks run, among them the one that stops the embedded PostgreSQL.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_quietly)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)
    return 0


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    print(db.migrate(database_url(settings), dump_schema=args.dump_schema), end="")
    print(f"schema at {db.newest_migration_version()}")
    return 0


def token(settings: Settings, args: argparse.Namespace) -> int:
    """Print only the token, on one line, so that scripts can capture it."""
    from service.api.auth import issue_token

    if args.ttl <= 0:
        print("sheetflow token: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    if settings.jwks_url:
        print(
            "sheetflow token: SHEETFLOW_JWKS_URL is set; tokens come from its identity provider",
            file=sys.stderr,
        )
        return 2
    print(
        issue_token(settings, args.subject, email=args.email, name=args.name, ttl_seconds=args.ttl)
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sheetflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="migrate, then serve the HTTP API")
    serve_parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port (default $PORT or 8000)")
    serve_parser.set_defaults(run=serve)

    migrate_parser = commands.add_parser("migrate", help="apply pending migrations (dbmate up)")
    migrate_parser.add_argument(
        "--dump-schema",
        action="store_true",
        help="also rewrite db/schema.sql (for developers adding a migration)",
    )
    migrate_parser.set_defaults(run=migrate)

    token_parser = commands.add_parser(
        "token", help="print a signed bearer token for local use (HS256)"
    )
    token_parser.add_argument("subject", help="the token's `sub`: who you are")
    token_parser.add_argument("--email")
    token_parser.add_argument("--name")
    token_parser.add_argument("--ttl", type=float, default=3600, help="seconds (default 3600)")
    token_parser.set_defaults(run=token)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    return int(args.run(settings, args))


if __name__ == "__main__":
    sys.exit(main())
