"""The two yardsticks every loading benchmark is measured against, on the same rows.

- `psql_copy`: `psql \\copy` of the rows pre-formatted as a CSV file, in one transaction: the
  physical limit of this machine's PostgreSQL.
- `seed_insert`: the seed's approach, multi-row INSERT statements of 5,000 rows each, JSON sent
  as text (serialised by the client, cast by the server), in one transaction.

Both start from a CSV export of rows that are already in `ingestion_rows` (`export_rows`), so
they load exactly the rows that the method under test stored.
"""

from __future__ import annotations

import csv
import subprocess
import time
from pathlib import Path
from uuid import UUID

from service import db

COLUMNS = (
    "batch_id, position, data, status, validation_messages, "
    "source_file_name, source_sheet_name, source_row_index"
)
INSERT_CHUNK = 5_000


def psql(url: str, command: str) -> None:
    subprocess.run(
        [
            str(db.postgres_bin_dir() / "psql"),
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            "-1",
            "-q",
            "-d",
            url,
            "-c",
            command,
        ],
        check=True,
    )


def export_rows(url: str, batch_id: UUID, path: Path) -> None:
    query = f"SELECT {COLUMNS} FROM ingestion_rows WHERE batch_id = '{batch_id}' ORDER BY position"
    psql(url, f"\\copy ({query}) TO '{path}' WITH (FORMAT csv)")


async def reset(pool: db.Pool) -> None:
    """Empty the rows table and flush dirty pages, so every method starts from the same state.

    The rows' audit events go too: their foreign key to the rows forbids truncating the rows
    alone, and their append-only trigger is off in this session only (replica role: no
    ordinary trigger fires)."""
    async with pool.acquire() as conn:
        await conn.execute("SET session_replication_role = replica")
        try:
            await conn.execute("TRUNCATE ingestion_events, ingestion_rows")
        finally:
            await conn.execute("RESET session_replication_role")
    await pool.execute("CHECKPOINT")


def psql_copy(url: str, path: Path) -> float:
    started = time.perf_counter()
    psql(url, f"\\copy ingestion_rows ({COLUMNS}) FROM '{path}' WITH (FORMAT csv)")
    return time.perf_counter() - started


def read_columns(path: Path) -> list[list[str]]:
    """The exported rows, column by column, as the text a client would send."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [list(column) for column in zip(*csv.reader(handle), strict=True)]


async def seed_insert(pool: db.Pool, columns: list[list[str]]) -> float:
    """One `INSERT … VALUES (…), (…), …` of 5,000 rows per statement, as the seed sent them.

    asyncpg caps a statement at 32,767 parameters, fewer than the seed's 5,000 x 8, so the
    columns that are the same for the whole batch or are numbers this benchmark generated
    itself (batch id, position, status, row index) are written into the statement, and the
    per-row user data (data, messages, file, sheet) stays in 20,000 parameters."""
    batch_id, positions, data, statuses, messages, files, sheets, indexes = columns
    started = time.perf_counter()
    async with db.transaction(pool) as conn:
        for start in range(0, len(positions), INSERT_CHUNK):
            end = min(start + INSERT_CHUNK, len(positions))
            values = ", ".join(
                f"('{batch_id[i]}', {int(positions[i])}, ${4 * n + 1}::jsonb, "
                f"'{statuses[i]}', ${4 * n + 2}::jsonb, ${4 * n + 3}, ${4 * n + 4}, "
                f"{int(indexes[i])})"
                for n, i in enumerate(range(start, end))
            )
            args = [
                value
                for i in range(start, end)
                for value in (data[i], messages[i], files[i], sheets[i])
            ]
            await conn.execute(f"INSERT INTO ingestion_rows ({COLUMNS}) VALUES {values}", *args)
    return time.perf_counter() - started
