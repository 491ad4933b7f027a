"""The `sheetflow` command: serve, migrate, token, ingest.

With no `DATABASE_URL`, every command that needs a database starts (or reuses) the embedded
PostgreSQL under `SHEETFLOW_DATA_DIR` and stops it on exit if it was the last user.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from service import db, errors
from service.entities import BatchMode, ProjectStatus
from service.ingest.matching import ColumnMapping, check_mapping, parse_mapping
from service.settings import Settings, load_settings
from service.store import mappings, project_schemas, projects


def database_url(settings: Settings) -> str:
    """The configured server, or the embedded one (started now if need be)."""
    if settings.database_url:
        return settings.database_url
    return db.start_embedded(settings.data_dir)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    workers = args.workers or settings.web_concurrency
    if workers < 1:
        print("sheetflow serve: --workers must be at least 1", file=sys.stderr)
        return 2
    url = database_url(settings)
    db.migrate(url)
    host = args.host or settings.host
    port = args.port or settings.port
    # On SIGINT/SIGTERM uvicorn closes its listening socket (new connections are refused),
    # closes idle connections, lets each request in flight finish (its connection closes
    # after the response), and after `timeout_graceful_shutdown` cancels the requests still
    # running (see `AnswerCancelled`); then the app's lifespan closes the pool. It then
    # re-raises the signal with the handlers it found at start: these exit normally (status
    # 0), so that atexit hooks run, among them the one that stops the embedded PostgreSQL.
    # A second SIGINT skips the waiting and the lifespan's shutdown.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_quietly)
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = metrics_directory()
        if made is not None:
            atexit.register(shutil.rmtree, made, ignore_errors=True)
    from service import logs

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": logs.uvicorn_config(settings.log_format),
        "proxy_headers": True,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    if workers == 1:
        from service.api.app import create_app

        app = create_app(settings, url)
        # Everything imported and built so far lives as long as the process: out of the
        # collector's sight, a full collection takes ~5 ms instead of ~30 ms, a pause in which
        # the event loop answers nobody (bench/README.md, bench/load.py).
        gc.freeze()
        uvicorn.run(app, **options)
        return 0
    # N processes accept on the one socket this process binds; each builds its own app (pool,
    # spare worker, caches) from the environment. They use the database this process chose:
    # the embedded server is started once, here, and stopped when this process exits, after
    # uvicorn has sent SIGTERM to every worker and waited for each to finish.
    os.environ["DATABASE_URL"] = url
    uvicorn.run(
        "service.api.app:create_app_from_environment", factory=True, workers=workers, **options
    )
    return 0


def metrics_directory() -> Path | None:
    """Before anything imports prometheus_client (`service.metrics`): the directory where each
    web process writes its figures, emptied of an earlier run's, in `PROMETHEUS_MULTIPROC_DIR`
    (a new temporary one unless it names one). Returns it if it was made here."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="sheetflow-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(made)
    return made


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    print(db.migrate(database_url(settings), dump_schema=args.dump_schema), end="")
    print(f"schema at {db.newest_migration_version()}")
    return 0


def token(settings: Settings, args: argparse.Namespace) -> int:
    """Print only the token, on one line, so that scripts can capture it."""
    from service.api.auth import issue_token

    if not math.isfinite(args.ttl) or args.ttl <= 0:
        print("sheetflow token: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    if settings.jwks_url:
        print(
            "sheetflow token: SHEETFLOW_JWKS_URL is set; tokens come from its identity provider",
            file=sys.stderr,
        )
        return 2
    try:
        token = issue_token(
            settings, args.subject, email=args.email, name=args.name, ttl_seconds=args.ttl
        )
    except ValueError as error:
        print(f"sheetflow token: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


class ProgressBar:
    """A one-line bar on a terminal, redrawn at most every 1 % of the rows."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent == self.shown:
            return
        self.shown = percent
        self._draw(done, total)

    def finish(self, done: int) -> None:
        """Draw the bar full, with the final count (the totals shown while copying are
        estimates until the last row is read), and end the line."""
        if self.shown >= 0:
            self._draw(done, done)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done:,} / {total:,} rows")
        self.stream.flush()


def ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest files into a project as its owner, exactly as an HTTP upload would."""
    try:
        project_id = UUID(args.project)
    except ValueError:
        print(f"sheetflow ingest: --project {args.project!r} is not a UUID", file=sys.stderr)
        return 2
    missing = [name for name in args.files if not Path(name).is_file()]
    if missing:
        print(f"sheetflow ingest: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    mapping = None
    if args.mapping is not None:
        try:
            mapping = parse_mapping(Path(args.mapping).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            print(
                f"sheetflow ingest: cannot read --mapping {args.mapping}: {error}", file=sys.stderr
            )
            return 2
        except errors.InvalidInput as error:
            print(f"sheetflow ingest: --mapping {args.mapping}: {error.detail}", file=sys.stderr)
            return 2
    url = database_url(settings)
    db.migrate(url)
    try:
        return asyncio.run(_ingest(settings, url, project_id, args, mapping))
    except errors.SheetflowError as error:
        print(f"sheetflow ingest: {error.detail}", file=sys.stderr)
        return 1


async def _ingest(
    settings: Settings,
    url: str,
    project_id: UUID,
    args: argparse.Namespace,
    mapping: ColumnMapping | None,
) -> int:
    from service import fields, ingestion
    from service.ingest import Source

    pool = await db.create_pool(url, settings, max_size=2)
    try:
        project = await projects.get_any_owner(pool, project_id)
        if project is None:
            raise errors.NotFound(f"no live project {project_id}")
        if project.status is ProjectStatus.ARCHIVED:
            raise projects.archived(project_id)
        progress = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
        schema = await project_schemas.get_current_schema(pool, project.id)
        check_mapping(mapping, None if schema is None else [field.key for field in schema.fields])
        batch = await ingestion.ingest(
            pool,
            project_id=project.id,
            user_id=project.user_id,
            sources=[Source(path=Path(name), name=Path(name).name) for name in args.files],
            mode=BatchMode(args.mode),
            sheet=args.sheet,
            settings=settings,
            on_rows=progress,
            schema=schema,
            mapping=mapping,
            saved=await mappings.remembered(pool, project.id) if schema is not None else {},
            budget=project.error_budget,
        )
        if progress is not None:
            progress.finish(batch.row_count)
    finally:
        await fields.stop(pool)  # the first GET …/fields computes them instead
        await pool.close()
    print(f"batch    {batch.id}")
    print(f"project  {project.id} ({project.name})")
    print(f"status   {batch.status}")
    counts = batch.status_counts
    print(
        f"rows     {batch.row_count:,} (valid {counts.valid:,}, warning {counts.warning:,}, "
        f"error {counts.error:,})"
    )
    print("columns")
    for column in batch.column_metadata:
        matched = ""
        if isinstance(column.matched_by, str):
            matched = f"  -> {column.target_field or '(kept)'} ({column.matched_by})"
        print(
            f"  {column.position:>4}  {column.normalized_key:<32} {column.inferred_type}{matched}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sheetflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="migrate, then serve the HTTP API")
    serve_parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port (default $PORT or 8000)")
    serve_parser.add_argument(
        "--workers", type=int, help="web processes on the port (default $WEB_CONCURRENCY or 1)"
    )
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
    token_parser.add_argument(
        "--ttl",
        type=float,
        default=3600,
        help="seconds (default 3600; at most SHEETFLOW_JWT_MAX_LIFETIME_SECONDS, 86400 by default)",
    )
    token_parser.set_defaults(run=token)

    ingest_parser = commands.add_parser(
        "ingest", help="ingest spreadsheet files into a project, as its owner"
    )
    ingest_parser.add_argument("files", nargs="+", metavar="FILE")
    ingest_parser.add_argument("--project", required=True, help="the project's id")
    ingest_parser.add_argument("--mode", required=True, choices=[mode.value for mode in BatchMode])
    ingest_parser.add_argument("--sheet", help="read only this sheet")
    ingest_parser.add_argument(
        "--mapping",
        metavar="FILE",
        help="a JSON file: source header (or key) -> schema field key, or null (as the "
        "upload's `mapping`)",
    )
    ingest_parser.set_defaults(run=ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    return int(args.run(settings, args))


if __name__ == "__main__":
    sys.exit(main())
