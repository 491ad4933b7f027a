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


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """`DATABASE_URL`; when unset an embedded PostgreSQL is started under `data_dir`."""
    data_dir: Path = Path(".data")
    """`SHEETFLOW_DATA_DIR`: embedded database (`postgres/`) and the local signing secret."""
    host: str = "127.0.0.1"
    port: int = 8000
    pool_size: int = 10

    max_file_bytes: int = 50 * MiB
    max_files: int = 50
    max_rows: int = 1_000_000
    max_columns: int = 1_000
    max_cell_chars: int = 32_767

    worker_memory_bytes: int = 4096 * MiB
    """Address-space limit (RLIMIT_AS) of the parsing worker process."""
    worker_cpu_seconds: int = 600
    """CPU-time limit (RLIMIT_CPU) of the parsing worker process."""

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"


_INT_VARIABLES = {
    "PORT": "port",
    "SHEETFLOW_POOL_SIZE": "pool_size",
    "SHEETFLOW_MAX_FILE_BYTES": "max_file_bytes",
    "SHEETFLOW_MAX_FILES": "max_files",
    "SHEETFLOW_MAX_ROWS": "max_rows",
    "SHEETFLOW_MAX_COLUMNS": "max_columns",
    "SHEETFLOW_MAX_CELL_CHARS": "max_cell_chars",
    "SHEETFLOW_WORKER_MEMORY_BYTES": "worker_memory_bytes",
    "SHEETFLOW_WORKER_CPU_SECONDS": "worker_cpu_seconds",
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    if env.get("DATABASE_URL"):
        values["database_url"] = env["DATABASE_URL"]
    if env.get("SHEETFLOW_DATA_DIR"):
        values["data_dir"] = Path(env["SHEETFLOW_DATA_DIR"])
    if env.get("SHEETFLOW_HOST"):
        values["host"] = env["SHEETFLOW_HOST"]
    for variable, field in _INT_VARIABLES.items():
        raw = env.get(variable)
        if raw is None or raw == "":
            continue
        try:
            number = int(raw)
        except ValueError:
            raise SystemExit(f"{variable}={raw!r} is not a whole number") from None
        if number <= 0:
            raise SystemExit(f"{variable}={raw!r} must be positive")
        values[field] = number
    return Settings(**values)  # type: ignore[arg-type]
