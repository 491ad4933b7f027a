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
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import baselines

from service import db
from service.entities import CopyRecord, RowRecord, RowStatus, ValidationMessage
from service.store import rows as row_store


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


def make_rows(batch_id: uuid.UUID, count: int) -> list[CopyRecord]:
    warning = [ValidationMessage(field="nota", type="empty", message="Empty field")]
    return [
        (
            batch_id,
            *RowRecord(
                position=index,
                data=make_data(index),
                status=RowStatus.WARNING if index % 5 else RowStatus.VALID,
                validation_messages=warning if index % 5 else [],
                source_file_name="clientes.xlsx",
                source_sheet_name="Clientes",
                source_row_index=index + 2,
            ),
        )
        for index in range(count)
    ]


async def by_create_many(pool: db.Pool, rows: list[CopyRecord]) -> float:
    started = time.perf_counter()
    async with db.transaction(pool) as conn:
        await row_store.create_many(conn, rows)
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
        await row_store.create_many(pool, rows)
        csv_path = Path(scratch) / "rows.csv"
        baselines.export_rows(url, batch, csv_path)
        columns = baselines.read_columns(csv_path)

        timings: dict[str, list[float]] = {"create_many": [], "insert_5000": [], "psql_copy": []}
        for _ in range(options.rounds):
            await baselines.reset(pool)
            timings["psql_copy"].append(baselines.psql_copy(url, csv_path))
            await baselines.reset(pool)
            timings["create_many"].append(await by_create_many(pool, rows))
            await baselines.reset(pool)
            timings["insert_5000"].append(await baselines.seed_insert(pool, columns))
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
