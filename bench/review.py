"""Benchmark: the review loop, on loopback, against the service as a real process.

    uv run python bench/review.py [--rows 200000] [--seconds 15] [--searches 15]
                                  [--parts search,delivery,copy]

Delivery and search (issue 19, items 6 and 7; `delivery_*` and `search_*` below):
(a) claim/report throughput: 1, 4 and 8 consumers, each claiming 50 rows at a time
    (`POST …/rows/claim`) and reporting every one `done` (`PATCH …/rows/{id}/delivery`), for
    `--seconds` each on a completed batch of `--rows` rows: rows delivered per second, and the
    claim's and the report's p50/p99.
(b) `GET …/rows?q=…` (and `where.<key>`) p50/p99 on the same batch, each as a ratio to a plain
    scan of the batch's rows (`count(*)` of the rows whose data is an object: every row read
    and its jsonb looked at once) run beside it.
(c) what COPY pays per row for what items 6 and 7 could add to ingestion_rows: the delivery
    columns (as migrated) against the table without them, and a trigram index over the folded
    values (what would serve `q`) against none; `--rows` rows copied into each, rounds
    interleaved, median of `--rounds`.

The machine was shared while this ran: compare the ratios, measured side by side, more than
the absolute numbers.
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

import httpx
import loopback
from load_rows import make_data

from service import db
from service.entities import (
    BatchMode,
    ColumnMetadata,
    InferredType,
    RowRecord,
    RowStatus,
    StatusCounts,
)
from service.store import batches
from service.store import rows as row_store

PORT = 18350
CLAIM_SIZE = 50
TYPES = {
    "codigo": InferredType.INTEGER,
    "idade": InferredType.INTEGER,
    "saldo": InferredType.NUMBER,
    "ativo": InferredType.BOOLEAN,
    "cadastro": InferredType.DATE,
    "atualizado": InferredType.DATETIME,
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def records(batch_id: uuid.UUID, count: int) -> Any:
    for index in range(count):
        yield (
            batch_id,
            *RowRecord(
                position=index,
                data=make_data(index),
                status=RowStatus.VALID,
                validation_messages=[],
                source_file_name="clientes.xlsx",
                source_sheet_name="Clientes",
                source_row_index=index + 2,
            ),
        )


async def load_batch(
    pool: db.Pool, client: httpx.AsyncClient, project: str, count: int, *, complete: bool
) -> str:
    """A batch of `count` rows copied in directly (the upload is measured elsewhere), completed
    over HTTP when asked; returns its URL path."""
    owner = await pool.fetchval("SELECT id FROM users WHERE external_id = 'bench'")
    keys = list(make_data(0))
    columns = [
        ColumnMetadata(
            normalized_key=key,
            original_header=key,
            inferred_type=TYPES.get(key, InferredType.STRING),
            position=index,
        )
        for index, key in enumerate(keys)
    ]
    async with db.transaction(pool) as conn:
        await row_store.allow_long_copy(conn, 3600)
        batch = await batches.create(
            conn,
            project_id=uuid.UUID(project),
            user_id=owner,
            mode=BatchMode.LIST_MODE,
            file_count=1,
            name="clientes.xlsx",
        )
        await row_store.create_many(conn, records(batch.id, count), guard_seconds=3600)
        await batches.finish(
            conn,
            batch.id,
            row_count=count,
            column_metadata=columns,
            counts=StatusCounts(valid=count, warning=0, error=0),
        )
    await row_store.analyze(pool)
    url = f"/projects/{project}/batches/{batch.id}"
    if complete:
        reviewed = await client.patch(url, json={"status": "completed"})
        assert reviewed.status_code == 200, reviewed.text
    return url


async def delivery_throughput(
    client: httpx.AsyncClient, url: str, consumers: int, seconds: float
) -> tuple[int, float, list[float], list[float]]:
    """(rows delivered, seconds, claim latencies ms, report latencies ms) of `consumers`
    claiming and reporting for `seconds`."""
    claims: list[float] = []
    reports: list[float] = []
    delivered = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def consumer() -> None:
        nonlocal delivered
        while time.perf_counter() < deadline:
            before = time.perf_counter()
            response = await client.post(url + "/rows/claim", json={"limit": CLAIM_SIZE})
            claims.append((time.perf_counter() - before) * 1000)
            assert response.status_code == 200, response.text
            rows = response.json()["items"]
            if not rows:
                return
            for row in rows:
                before = time.perf_counter()
                reported = await client.patch(
                    f"{url}/rows/{row['id']}/delivery", json={"status": "done"}
                )
                reports.append((time.perf_counter() - before) * 1000)
                assert reported.status_code == 200, reported.text
                delivered += 1

    await asyncio.gather(*(consumer() for _ in range(consumers)))
    return delivered, time.perf_counter() - started, claims, reports


async def delivery_table(
    pool: db.Pool, client: httpx.AsyncClient, project: str, options: argparse.Namespace
) -> list[str]:
    lines = [
        f"(a) delivery: consumers claiming {CLAIM_SIZE} rows at a time and reporting each done,"
        f" {options.seconds:.0f} s each, on a completed batch of {options.rows:,} rows",
        "",
        "| consumers | rows delivered | rows/s | claim p50 ms | claim p99 ms "
        "| report p50 ms | report p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for consumers in (1, 4, 8):
        url = await load_batch(pool, client, project, options.rows, complete=True)
        delivered, seconds, claims, reports = await delivery_throughput(
            client, url, consumers, options.seconds
        )
        lines.append(
            f"| {consumers} | {delivered:,} | {delivered / seconds:,.0f} "
            f"| {percentile(claims, 0.5):.1f} | {percentile(claims, 0.99):.1f} "
            f"| {percentile(reports, 0.5):.1f} | {percentile(reports, 0.99):.1f} |"
        )
        counts = (await client.get(url)).json()["deliveryCounts"]
        assert (counts["done"], counts["inProgress"]) == (delivered, 0), counts
    return lines


PLAIN_SCAN = (
    "SELECT count(*) FROM ingestion_rows"
    " WHERE batch_id = $1 AND deleted_at IS NULL AND jsonb_typeof(data) = 'object'"
)


async def search_table(
    pool: db.Pool, client: httpx.AsyncClient, project: str, options: argparse.Namespace
) -> list[str]:
    url = await load_batch(pool, client, project, options.rows, complete=False)
    batch_id = uuid.UUID(url.rsplit("/", 1)[1])
    cases = [
        ("q=belem (a quarter of the rows, accent folded)", {"q": "belem"}),
        ("q=cliente 4242 da (a few rows)", {"q": "cliente 4242 da"}),
        ("q=zzz (no row)", {"q": "zzz"}),
        ("where.idade=30 (2 % of the rows)", {"where.idade": "30"}),
        ("where.idade=30 & q=niteroi", {"where.idade": "30", "q": "niteroi"}),
        ("no filter (the page only)", {}),
    ]
    lines = [
        f"(b) GET …/rows?limit=50 with a filter on a batch of {options.rows:,} rows,"
        f" {options.searches} requests each, beside a plain scan of the batch",
        "",
        "| request | total | p50 ms | p99 ms | plain scan p50 ms | p50 / scan |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, params in cases:
        searched: list[float] = []
        scanned: list[float] = []
        total = 0
        for _ in range(options.searches):
            before = time.perf_counter()
            response = await client.get(url + "/rows", params={**params, "limit": 50})
            searched.append((time.perf_counter() - before) * 1000)
            assert response.status_code == 200, response.text
            total = response.json()["total"]
            before = time.perf_counter()
            await pool.fetchval(PLAIN_SCAN, batch_id)
            scanned.append((time.perf_counter() - before) * 1000)
        scan = percentile(scanned, 0.5)
        lines.append(
            f"| {label} | {total:,} | {percentile(searched, 0.5):.0f} "
            f"| {percentile(searched, 0.99):.0f} | {scan:.0f} "
            f"| {percentile(searched, 0.5) / scan:.2f} |"
        )
    return lines


FOLD = """
CREATE FUNCTION bench_fold(data jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(regexp_replace(normalize(array_to_string(ARRAY(
    SELECT e.value FROM jsonb_each_text(data) AS e(key, value)), chr(31)), NFD),
    '[\\u0300-\\u036f]', '', 'g'))
"""
VARIANTS = {
    "as migrated (with the delivery columns)": [
        "CREATE TABLE copy_target (LIKE ingestion_rows INCLUDING DEFAULTS INCLUDING INDEXES)"
    ],
    "without the delivery columns": [
        "CREATE TABLE copy_target (LIKE ingestion_rows INCLUDING DEFAULTS INCLUDING INDEXES)",
        "ALTER TABLE copy_target DROP COLUMN delivery_status, DROP COLUMN delivery_message,"
        " DROP COLUMN delivery_step, DROP COLUMN delivery_attempts,"
        " DROP COLUMN delivery_lease_until, DROP COLUMN delivery_updated_at",
    ],
    "with a trigram index over the folded values": [
        "CREATE TABLE copy_target (LIKE ingestion_rows INCLUDING DEFAULTS INCLUDING INDEXES)",
        "CREATE INDEX copy_target_fold ON copy_target USING gin (bench_fold(data) gin_trgm_ops)",
    ],
}
COPY_COLUMNS = [
    "batch_id",
    "position",
    "data",
    "status",
    "validation_messages",
    "source_file_name",
    "source_sheet_name",
    "source_row_index",
]


async def copy_cost_table(pool: db.Pool, options: argparse.Namespace) -> list[str]:
    await pool.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    await pool.execute(FOLD)
    batch_id = uuid.uuid4()  # copy_target has no foreign keys
    rows = list(records(batch_id, options.rows))
    timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    for round_number in range(options.rounds):
        # Each round in another order: the first COPY after a CHECKPOINT is not favoured.
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            statements = VARIANTS[name]
            await pool.execute("DROP TABLE IF EXISTS copy_target")
            for statement in statements:
                await pool.execute(statement)
            await pool.execute("CHECKPOINT")
            async with db.transaction(pool) as conn:
                await row_store.allow_long_copy(conn, 3600)
                started = time.perf_counter()
                await conn.copy_records_to_table(
                    "copy_target", records=rows, columns=COPY_COLUMNS, timeout=3600
                )
                timings[name].append(time.perf_counter() - started)
    await pool.execute("DROP TABLE IF EXISTS copy_target")
    base = statistics.median(timings["without the delivery columns"])
    lines = [
        f"(c) COPY of {options.rows:,} rows x 12 columns into a copy of ingestion_rows (its"
        f" indexes), one transaction each, median of {options.rounds} interleaved rounds",
        "",
        "| table | seconds | µs per row | vs without the delivery columns |",
        "|---|---:|---:|---:|",
    ]
    for name, spent in timings.items():
        median = statistics.median(spent)
        lines.append(
            f"| {name} | {median:.2f} | {median / options.rows * 1e6:.1f} | {median / base:.2f} |"
        )
    return lines


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        async with loopback.serving(scratch, port=options.port) as (url, base, _):
            pool = await db.create_pool(url, max_size=4)
            async with httpx.AsyncClient(
                base_url=base, headers=loopback.bearer("bench"), timeout=600
            ) as client:
                created = await client.post("/projects", json={"name": "bench"})
                project = created.json()["id"]
                parts = {
                    "search": search_table,
                    "delivery": delivery_table,
                    "copy": lambda pool, _client, _project, options: copy_cost_table(pool, options),
                }
                sections = [
                    await parts[part](pool, client, project, options)
                    for part in options.parts.split(",")
                ]
            await pool.close()
    for lines in sections:
        print("\n".join(lines))
        print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--searches", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--parts", default="search,delivery,copy", help="which tables, in order")
    asyncio.run(main(parser.parse_args()))
