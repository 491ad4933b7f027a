"""Benchmark: loading 200,000 rows of 12 mixed columns into ingestion_rows, three ways.

    uv run python bench/load_rows.py [--rows 200000] [--rounds 3]

1. `create_many`: the store's binary COPY (`copy_records_to_table`, msgspec jsonb codec).
2. the seed's approach: multi-row INSERT statements of 5,000 rows each.
3. `psql \\copy` of the same rows pre-formatted as a CSV file: the physical limit.

Each load runs in one transaction into an emptied table on a fresh embedded PostgreSQL (in a
temporary directory), the methods interleaved round by round so that they share the machine's
state; the table reports the median round. Not part of the test suite: run it by hand and
paste the table into bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from service import db
from service.entities import NewRow, RowStatus, ValidationMessage
from service.store import rows as row_store

COPY_COLUMNS = (
    "batch_id, position, data, status, validation_messages, "
    "source_file_name, source_sheet_name, source_row_index"
)
INSERT_CHUNK = 5_000


def make_data(index: int) -> dict[str, Any]:
    """12 columns of the kinds a spreadsheet row holds: ints, floats, text, bools, dates."""
    return {
        "codigo": 100_000 + index,
        "nome": f"Cliente {index} da Silva",
        "email": f"cliente{index}@exemplo.com.br",
        "idade": 20 + index % 50,
        "saldo": index * 3.25,
        "ativo": index % 3 != 0,
        "cadastro": f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}",
        "municipio": ("Niterói", "Belém", "Coimbra", "Braga")[index % 4],
        "cpf": f"{index:011d}",
        "fone": f"(21) 9{index % 10**8:08d}",
        "nota": None if index % 5 else "revisar endereço",
        "atualizado": f"2026-11-{1 + index % 28:02d}T08:{index % 60:02d}:00",
    }


def make_rows(batch_id: uuid.UUID, count: int) -> list[NewRow]:
    warning = [ValidationMessage(field="nota", type="empty", message="Empty field")]
    return [
        NewRow(
            batch_id=batch_id,
            position=index,
            data=make_data(index),
            status=RowStatus.WARNING if index % 5 else RowStatus.VALID,
            validation_messages=warning if index % 5 else [],
            source_file_name="clientes.xlsx",
            source_sheet_name="Clientes",
            source_row_index=index + 2,
        )
        for index in range(count)
    ]


def write_csv(path: Path, rows: list[NewRow]) -> None:
    encode = db.encode_jsonb
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow(
                (
                    row.batch_id,
                    row.position,
                    encode(row.data)[1:].decode(),
                    row.status.value,
                    encode(row.validation_messages)[1:].decode(),
                    row.source_file_name,
                    row.source_sheet_name,
                    row.source_row_index,
                )
            )


async def reset(pool: db.Pool) -> None:
    await pool.execute("TRUNCATE ingestion_rows")
    await pool.execute("CHECKPOINT")


async def by_create_many(pool: db.Pool, rows: list[NewRow]) -> float:
    started = time.perf_counter()
    async with db.transaction(pool) as conn:
        await row_store.create_many(conn, rows)
    return time.perf_counter() - started


async def by_chunked_insert(pool: db.Pool, rows: list[NewRow]) -> float:
    """The seed's INSERT of 5,000 rows per statement. asyncpg caps a statement at 32,767
    parameters, fewer than 5,000 x 8 VALUES placeholders, so each column goes in as one array
    and `unnest` turns the arrays back into rows: still one multi-row INSERT per chunk. JSON
    goes in as text, as the seed sent it (serialised by the client, cast by the server)."""
    statement = (
        f"INSERT INTO ingestion_rows ({COPY_COLUMNS}) "
        "SELECT b, p, d::jsonb, s, m::jsonb, f, sh, r FROM unnest("
        "$1::uuid[], $2::integer[], $3::text[], $4::row_status[], $5::text[], "
        "$6::text[], $7::text[], $8::integer[]) AS t(b, p, d, s, m, f, sh, r)"
    )
    encode = msgspec.json.encode
    started = time.perf_counter()
    async with db.transaction(pool) as conn:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            await conn.execute(
                statement,
                [row.batch_id for row in chunk],
                [row.position for row in chunk],
                [encode(row.data).decode() for row in chunk],
                [row.status for row in chunk],
                [encode(row.validation_messages).decode() for row in chunk],
                [row.source_file_name for row in chunk],
                [row.source_sheet_name for row in chunk],
                [row.source_row_index for row in chunk],
            )
    return time.perf_counter() - started


def by_psql_copy(url: str, path: Path) -> float:
    psql = db.postgres_bin_dir() / "psql"
    command = f"\\copy ingestion_rows ({COPY_COLUMNS}) FROM '{path}' WITH (FORMAT csv)"
    started = time.perf_counter()
    subprocess.run(
        [str(psql), "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-1", "-q", "-d", url, "-c", command],
        check=True,
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = db.start_embedded(Path(scratch)).replace("/sheetflow?", "/sheetflow_bench?")
        db.migrate(url)
        pool = await db.create_pool(url, max_size=2)
        conn = await pool.acquire()
        owner = await conn.fetchval("INSERT INTO users (external_id) VALUES ('bench') RETURNING id")
        project = await conn.fetchval(
            "INSERT INTO projects (user_id, name) VALUES ($1, 'bench') RETURNING id", owner
        )
        batch = await conn.fetchval(
            "INSERT INTO ingestion_batches (project_id, user_id, mode, file_count, row_count)"
            " VALUES ($1, $2, 'list_mode', 1, 0) RETURNING id",
            project,
            owner,
        )
        await pool.release(conn)
        rows = make_rows(batch, options.rows)
        csv_path = Path(scratch) / "rows.csv"
        write_csv(csv_path, rows)

        timings: dict[str, list[float]] = {"create_many": [], "insert_5000": [], "psql_copy": []}
        for _ in range(options.rounds):
            await reset(pool)
            timings["psql_copy"].append(by_psql_copy(url, csv_path))
            await reset(pool)
            timings["create_many"].append(await by_create_many(pool, rows))
            await reset(pool)
            timings["insert_5000"].append(await by_chunked_insert(pool, rows))
        await pool.close()

    reference = options.rows / statistics.median(timings["psql_copy"])
    print(f"{options.rows:,} rows x 12 columns, one transaction each, median of {options.rounds}")
    print()
    print("| method | seconds | rows/s | vs psql \\copy |")
    print("|---|---:|---:|---:|")
    for name, label in (
        ("psql_copy", "`psql \\copy` (CSV file)"),
        ("create_many", "`create_many` (binary COPY)"),
        ("insert_5000", "multi-row INSERT, 5,000 rows/statement (seed)"),
    ):
        seconds = statistics.median(timings[name])
        rate = options.rows / seconds
        print(f"| {label} | {seconds:.2f} | {rate:,.0f} | {rate / reference:.2f}x |")
    copy_rate = options.rows / statistics.median(timings["create_many"])
    insert_rate = options.rows / statistics.median(timings["insert_5000"])
    print()
    print(f"create_many / multi-row INSERT: {copy_rate / insert_rate:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
