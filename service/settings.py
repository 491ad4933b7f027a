"""Configuration: one frozen Settings struct, read from the environment once (12-factor).

Every variable is listed in the README with its default. A malformed value stops the
process at start-up with a message naming the variable, rather than failing later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

MiB = 1024 * 1024
MIN_JWT_SECRET_BYTES = 32
"""HS256's key should be at least as long as its hash (RFC 7518 §3.2): 32 bytes."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """`DATABASE_URL`; when unset an embedded PostgreSQL is started under `data_dir`."""
    data_dir: Path = Path(".data")
    """`SHEETFLOW_DATA_DIR`: embedded database (`postgres/`) and the local signing secret."""
    host: str = "127.0.0.1"
    port: int = 8000
    log_format: str = "text"
    """`SHEETFLOW_LOG_FORMAT`: `text` (for a terminal) or `json` (one object per line)."""
    web_concurrency: int = 1
    """`WEB_CONCURRENCY` (as Heroku sets it): how many web processes `serve` runs on its port
    (`--workers` wins)."""
    pool_size: int = 10
    """`SHEETFLOW_POOL_SIZE`: the database connections the service holds, all opened at start."""
    db_statement_cache_size: int = 100
    """`SHEETFLOW_DB_STATEMENT_CACHE_SIZE`: prepared statements asyncpg keeps per connection
    (its default, 100). 0 turns the cache off, as a pooler in transaction mode (PgBouncer's
    `pool_mode = transaction`) needs: there the next transaction may run on another server
    connection, where a statement prepared on the first does not exist."""
    pool_reserve: int = 4
    """`SHEETFLOW_POOL_RESERVE`: pooled connections that uploads can never take, kept for the
    other requests; `max_ingestions + pool_reserve` must fit in `pool_size`."""
    max_ingestions: int = 4
    """`SHEETFLOW_MAX_INGESTIONS`: uploads being received or ingested at once, across every
    process on the database (each holds one pooled connection); the next one is answered 429."""
    max_ingestions_per_user: int = 2
    """`SHEETFLOW_MAX_INGESTIONS_PER_USER`: the same, for one user."""

    statement_timeout_seconds: float = 30
    """`SHEETFLOW_STATEMENT_TIMEOUT_SECONDS`: PostgreSQL cancels any statement running longer
    (`statement_timeout` on every pooled connection); the client gives up a second later if
    the server has stopped answering."""
    db_connect_timeout_seconds: float = 5
    """`SHEETFLOW_DB_CONNECT_TIMEOUT_SECONDS`: longest wait for a database connection, new or
    free in the pool; past it the request is answered 503."""
    upload_body_timeout_seconds: float = 300
    """`SHEETFLOW_UPLOAD_BODY_TIMEOUT_SECONDS`: an upload whose body has not fully arrived this
    long after its headers is refused (408) and nothing of it is kept."""
    shutdown_grace_seconds: int = 25
    """`SHEETFLOW_SHUTDOWN_GRACE_SECONDS`: on SIGTERM, requests in flight get this long to
    finish before they are cancelled (and answered 503)."""

    jwt_secret: str | None = None
    """`SHEETFLOW_JWT_SECRET`: verify HS256 tokens with this shared secret."""
    jwks_url: str | None = None
    """`SHEETFLOW_JWKS_URL`: verify RS256/ES256 tokens against this key set."""
    jwks_refresh_seconds: float = 30
    """`SHEETFLOW_JWKS_REFRESH_SECONDS`: a token with an unknown `kid` fetches the key set again
    at most this often (a flood of made-up kids must not become a flood of fetches)."""
    jwks_timeout_seconds: float = 5
    """`SHEETFLOW_JWKS_TIMEOUT_SECONDS`: longest a key-set fetch may keep requests waiting
    (one fetch runs at a time; every request that needs it waits for that one)."""
    jwt_issuer: str | None = None
    """`SHEETFLOW_JWT_ISSUER`: when set, tokens must carry this `iss`."""
    jwt_audience: str | None = None
    """`SHEETFLOW_JWT_AUDIENCE`: when set, tokens must carry this `aud`."""
    jwt_max_lifetime_seconds: int = 24 * 3600
    """`SHEETFLOW_JWT_MAX_LIFETIME_SECONDS`: longest a token may live (`exp - iat`); tokens
    must then carry `iat`. 0 turns the check off (`iat` optional, any `exp`)."""

    max_file_bytes: int = 50 * MiB
    max_field_bytes: int = 4096
    """`SHEETFLOW_MAX_FIELD_BYTES`: largest form field of an upload that is not a file (a part
    without a filename: `mode`, `sheet`, or any other name); refused (413) as it streams."""
    max_files: int = 50
    max_rows: int = 1_000_000
    max_columns: int = 1_000
    max_cell_chars: int = 32_767
    max_row_chars: int = 256 * 1024
    """`SHEETFLOW_MAX_ROW_CHARS`: characters of one row's keys and text values (eight full
    cells of `max_cell_chars` and their keys fit)."""
    max_batch_chars: int = 512 * MiB
    """`SHEETFLOW_MAX_BATCH_CHARS`: characters of all the rows of a batch, counted the same way
    (a small file can otherwise become huge rows: one long text repeated in many cells)."""
    max_page_bytes: int = 8 * MiB
    """`SHEETFLOW_MAX_PAGE_BYTES`: a page of rows stops before the row that would take its
    items past this many bytes of JSON (it always holds at least one row)."""

    worker_memory_bytes: int = 4096 * MiB
    """Address-space limit (RLIMIT_AS) of the parsing worker process."""
    worker_cpu_seconds: int = 600
    """CPU-time limit (RLIMIT_CPU) of the parsing worker process."""
    ingest_timeout_seconds: float = 900
    """Wall-clock limit of one ingestion, parsing and storing (its statements included)."""
    export_timeout_seconds: float = 3600
    """`SHEETFLOW_EXPORT_TIMEOUT_SECONDS`: how long the statements of one export may run (a
    download is read as fast as its client takes it, so a slow client holds it longer)."""

    idempotency_ttl_seconds: int = 24 * 3600
    """`SHEETFLOW_IDEMPOTENCY_TTL_SECONDS`: how long an Idempotency-Key is remembered."""

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"


_TEXT_VARIABLES = {
    "SHEETFLOW_HOST": "host",
    "SHEETFLOW_JWT_SECRET": "jwt_secret",
    "SHEETFLOW_JWKS_URL": "jwks_url",
    "SHEETFLOW_JWT_ISSUER": "jwt_issuer",
    "SHEETFLOW_JWT_AUDIENCE": "jwt_audience",
}

_INT_VARIABLES = {
    "PORT": "port",
    "WEB_CONCURRENCY": "web_concurrency",
    "SHEETFLOW_POOL_SIZE": "pool_size",
    "SHEETFLOW_POOL_RESERVE": "pool_reserve",
    "SHEETFLOW_MAX_INGESTIONS": "max_ingestions",
    "SHEETFLOW_MAX_INGESTIONS_PER_USER": "max_ingestions_per_user",
    "SHEETFLOW_STATEMENT_TIMEOUT_SECONDS": "statement_timeout_seconds",
    "SHEETFLOW_DB_CONNECT_TIMEOUT_SECONDS": "db_connect_timeout_seconds",
    "SHEETFLOW_UPLOAD_BODY_TIMEOUT_SECONDS": "upload_body_timeout_seconds",
    "SHEETFLOW_SHUTDOWN_GRACE_SECONDS": "shutdown_grace_seconds",
    "SHEETFLOW_MAX_FILE_BYTES": "max_file_bytes",
    "SHEETFLOW_MAX_FILES": "max_files",
    "SHEETFLOW_MAX_FIELD_BYTES": "max_field_bytes",
    "SHEETFLOW_MAX_ROWS": "max_rows",
    "SHEETFLOW_MAX_COLUMNS": "max_columns",
    "SHEETFLOW_MAX_CELL_CHARS": "max_cell_chars",
    "SHEETFLOW_MAX_ROW_CHARS": "max_row_chars",
    "SHEETFLOW_MAX_BATCH_CHARS": "max_batch_chars",
    "SHEETFLOW_MAX_PAGE_BYTES": "max_page_bytes",
    "SHEETFLOW_WORKER_MEMORY_BYTES": "worker_memory_bytes",
    "SHEETFLOW_WORKER_CPU_SECONDS": "worker_cpu_seconds",
    "SHEETFLOW_INGEST_TIMEOUT_SECONDS": "ingest_timeout_seconds",
    "SHEETFLOW_EXPORT_TIMEOUT_SECONDS": "export_timeout_seconds",
    "SHEETFLOW_IDEMPOTENCY_TTL_SECONDS": "idempotency_ttl_seconds",
    "SHEETFLOW_JWKS_REFRESH_SECONDS": "jwks_refresh_seconds",
    "SHEETFLOW_JWKS_TIMEOUT_SECONDS": "jwks_timeout_seconds",
    "SHEETFLOW_JWT_MAX_LIFETIME_SECONDS": "jwt_max_lifetime_seconds",
    "SHEETFLOW_DB_STATEMENT_CACHE_SIZE": "db_statement_cache_size",
}

_ZERO_ALLOWED = {"SHEETFLOW_JWT_MAX_LIFETIME_SECONDS", "SHEETFLOW_DB_STATEMENT_CACHE_SIZE"}
"""Whole numbers for which 0 means "none" or "off" (the others must be positive)."""


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    if env.get("DATABASE_URL"):
        values["database_url"] = env["DATABASE_URL"]
    if env.get("SHEETFLOW_DATA_DIR"):
        values["data_dir"] = Path(env["SHEETFLOW_DATA_DIR"])
    for variable, field in _TEXT_VARIABLES.items():
        if env.get(variable):
            values[field] = env[variable]
    for variable, field in _INT_VARIABLES.items():
        raw = env.get(variable)
        if raw is None or raw == "":
            continue
        try:
            number = int(raw)
        except ValueError:
            raise SystemExit(f"{variable}={raw!r} is not a whole number") from None
        if variable in _ZERO_ALLOWED and number < 0:
            raise SystemExit(f"{variable}={raw!r} must be 0 or more")
        if variable not in _ZERO_ALLOWED and number <= 0:
            raise SystemExit(f"{variable}={raw!r} must be positive")
        values[field] = number
    log_format = env.get("SHEETFLOW_LOG_FORMAT") or "text"
    if log_format not in ("text", "json"):
        raise SystemExit(f"SHEETFLOW_LOG_FORMAT={log_format!r} must be text or json")
    values["log_format"] = log_format
    if values.get("jwt_secret") and values.get("jwks_url"):
        raise SystemExit("set SHEETFLOW_JWT_SECRET or SHEETFLOW_JWKS_URL, not both")
    secret = str(values.get("jwt_secret") or "")
    if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise SystemExit(
            f"SHEETFLOW_JWT_SECRET is {len(secret.encode())} bytes long; HS256 needs at least "
            f"{MIN_JWT_SECRET_BYTES} (for example: python -c "
            "'import secrets; print(secrets.token_urlsafe(48))')"
        )
    settings = Settings(**values)  # type: ignore[arg-type]
    if problem := pool_problem(settings):
        raise SystemExit(problem)
    return settings


def pool_problem(settings: Settings) -> str | None:
    """Why the pool cannot hold every upload's connection and the reserve, or None if it can.
    Each upload running holds one pooled connection (`service.admission`), and up to
    `max_ingestions` of them may run in this one process."""
    needed = settings.max_ingestions + settings.pool_reserve
    if needed <= settings.pool_size:
        return None
    return (
        f"SHEETFLOW_POOL_SIZE={settings.pool_size} is too small: SHEETFLOW_MAX_INGESTIONS="
        f"{settings.max_ingestions} uploads each hold a connection, and SHEETFLOW_POOL_RESERVE="
        f"{settings.pool_reserve} more are kept for other requests; raise SHEETFLOW_POOL_SIZE "
        f"to at least {needed} (and PostgreSQL's max_connections with it) or lower the others"
    )
