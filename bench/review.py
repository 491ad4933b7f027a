"""Benchmark: the review loop, on loopback, against the service as a real process.

    uv run python bench/review.py [--rows 200000] [--seconds 15] [--searches 15]
                                  [--parts search,delivery,copy,bulk,edits]
    uv run python bench/review.py --parts bulk,edits       # the edits' sections only

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

Edits (issue 19, items 1 and 2; `bulk_*` and `edit_*` below):
(d) bulk update: a batch of `--rows` rows pending review is copied in (the batch's COPY,
    timed), then every row is edited through `service.review.bulk_update` (one statement:
    the change, the re-validation, the events and the counts), each variant once per round,
    values alternating so that rows change every time: `set` of a text column and of an
    integer column (checked by type in SQL), `replace` `contains` in a text column and in an
    integer column's text (each result classified in SQL). Medians of `--rounds` interleaved
    rounds, as a ratio to the median COPY (one more COPY between rounds). "RSS MiB": this
    process's peak growth during the update (one statement, one answer: flat); "temp MiB":
    PostgreSQL's temporary files.
(e) single-row edits: PATCH …/rows/{id} of one key of a random row at 50/s beside 200 reads/s
    (half GET …/rows/{id}, half GET …/rows?limit=50 at a random offset), open loop (requests
    leave on schedule, whatever the answers) for `--seconds`, then the edits alone: p50/p99.

`--parts` picks sections, comma-separated (default: all). The machine was shared while this
ran: compare the ratios, measured side by side, more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import loopback
from load_rows import make_data

from service import db, review
from service.entities import (
    Batch,
    BatchMode,
    ColumnMetadata,
    InferredType,
    RowRecord,
    RowStatus,
    StatusCounts,
)
from service.store import batches
from service.store import rows as row_store
from service.store.edits import BulkFilter

PORT = 18350
PARTS = ("search", "delivery", "copy", "bulk", "edits")
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


# Edits (issue 19, items 1 and 2; `bulk_*` and `edit_*` below).

BULK_VARIANTS: dict[str, Any] = {
    "set text (`municipio`)": lambda n: {"values": {"municipio": ("Niterói", "Belém")[n % 2]}},
    "set integer (`idade`, checked by type)": lambda n: {"values": {"idade": 30 + n % 2}},
    "replace contains, text (`nome`)": lambda n: {
        "replace": review.Replace(
            field="nome",
            find=("Silva", "Souza")[n % 2],
            replace=("Souza", "Silva")[n % 2],
            match="contains",
        )
    },
    "replace contains, integer (`codigo` as text)": lambda n: {
        "replace": review.Replace(
            field="codigo", find=("0", "o")[n % 2], replace=("o", "0")[n % 2], match="contains"
        )
    },
}


async def copied_batch(
    pool: db.Pool, project: str, owner: uuid.UUID, count: int
) -> tuple[Batch, float]:
    """A batch pending review of `count` rows, and the seconds its COPY took (in its
    transaction, as an upload's)."""
    columns = [
        ColumnMetadata(
            normalized_key=key,
            original_header=key,
            inferred_type=TYPES.get(key, InferredType.STRING),
            position=index,
        )
        for index, key in enumerate(make_data(0))
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
        started = time.perf_counter()
        await row_store.create_many(conn, records(batch.id, count), guard_seconds=3600)
        copied = time.perf_counter() - started
        batch = await batches.finish(
            conn,
            batch.id,
            row_count=count,
            column_metadata=columns,
            counts=StatusCounts(valid=count, warning=0, error=0),
        )
    await pool.execute("VACUUM ANALYZE ingestion_rows")
    return batch, copied


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def temp_bytes(pool: db.Pool) -> int:
    return int(
        await pool.fetchval(
            "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        )
    )


async def bulk_table(pool: db.Pool, project: str, options: argparse.Namespace) -> list[str]:
    owner = await pool.fetchval("SELECT id FROM users WHERE external_id = 'bench'")
    batch, copied = await copied_batch(pool, project, owner, options.rows)
    copies = [copied]
    times: dict[str, list[float]] = {name: [] for name in BULK_VARIANTS}
    changed: dict[str, int] = {}
    memory = dict.fromkeys(BULK_VARIANTS, 0.0)
    spilled = dict.fromkeys(BULK_VARIANTS, 0)
    for round_number in range(options.rounds):
        names = list(BULK_VARIANTS)
        if round_number % 2:
            names.reverse()
        for name in names:
            before_rss, before_temp = rss_mib(), await temp_bytes(pool)
            started = time.perf_counter()
            outcome, _ = await review.bulk_update(
                pool,
                owner,
                batch.project_id,
                batch.id,
                BulkFilter(),
                max_chars=32_767,
                seconds=3600,
                **BULK_VARIANTS[name](round_number),
            )
            times[name].append(time.perf_counter() - started)
            changed[name] = outcome.rows_changed
            memory[name] = max(memory[name], rss_mib() - before_rss)
            spilled[name] = max(spilled[name], await temp_bytes(pool) - before_temp)
            await pool.execute("VACUUM ingestion_rows")
        if round_number + 1 < options.rounds:
            # Another COPY of the same size between rounds: the ratio is of medians of both.
            copies.append((await copied_batch(pool, project, owner, options.rows))[1])
    copy = statistics.median(copies)
    lines = [
        f"(d) bulk update (`review.bulk_update`, one statement) of every row of a batch of"
        f" {options.rows:,} rows x 12 columns, against the COPY of such a batch, median of"
        f" {options.rounds} interleaved rounds",
        "",
        "| operation | rows changed | seconds | vs the batch's COPY | RSS MiB | temp MiB |",
        "|---|---:|---:|---:|---:|---:|",
        f"| the batch's COPY | {options.rows:,} | {copy:.2f} | 1.00 | | |",
    ]
    for name in BULK_VARIANTS:
        median = statistics.median(times[name])
        lines.append(
            f"| {name} | {changed[name]:,} | {median:.2f} | {median / copy:.2f} "
            f"| {memory[name]:.0f} | {spilled[name] / 2**20:.0f} |"
        )
    return lines


async def edit_latencies(
    base: str, url: str, ids: list[uuid.UUID], seconds: float, reads_per_second: int
) -> dict[str, list[float]]:
    """Open loop: PATCH of one random row at 50/s and reads at `reads_per_second` (half GET
    of a row, half a page of 50 at a random offset), leaving on schedule whatever the answers;
    latencies in ms by kind, and how many failed."""
    chooser = random.Random(19)
    latencies: dict[str, list[float]] = {"edit": [], "read": [], "failed": []}
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(
        base_url=base, headers=loopback.bearer("bench"), timeout=120, limits=limits
    ) as client:

        async def timed(kind: str, method: str, path: str, **kwargs: Any) -> None:
            before = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError:  # a keep-alive connection closed as it was reused
                latencies["failed"].append(1.0)
                return
            latencies[kind].append((time.perf_counter() - before) * 1000)
            if response.status_code != 200:
                latencies["failed"].append(1.0)

        def edit() -> Any:
            value = chooser.choice([chooser.randint(18, 90), "SP", None])
            key = "nome" if isinstance(value, str) else "idade"
            path = f"{url}/rows/{chooser.choice(ids)}"
            return timed("edit", "PATCH", path, json={"data": {key: value}})

        def read() -> Any:
            if chooser.random() < 0.5:
                return timed("read", "GET", f"{url}/rows/{chooser.choice(ids)}")
            offset = chooser.randrange(0, max(1, len(ids) - 50))
            return timed("read", "GET", f"{url}/rows", params={"limit": 50, "offset": offset})

        rate = 50 + reads_per_second
        tasks = []
        started = time.perf_counter()
        for tick in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, started + tick / rate - time.perf_counter()))
            is_edit = tick % (rate // 50) == 0
            tasks.append(asyncio.create_task(edit() if is_edit else read()))
        await asyncio.gather(*tasks)
    return latencies


async def edit_table(
    pool: db.Pool, client: httpx.AsyncClient, project: str, options: argparse.Namespace
) -> list[str]:
    base = str(client.base_url).rstrip("/")
    url = await load_batch(pool, client, project, options.rows, complete=False)
    batch_id = uuid.UUID(url.rsplit("/", 1)[1])
    ids = [
        row["id"]
        for row in await pool.fetch("SELECT id FROM ingestion_rows WHERE batch_id = $1", batch_id)
    ]
    mixed = await edit_latencies(base, url, ids, options.seconds, 200)
    alone = await edit_latencies(base, url, ids, options.seconds, 0)
    lines = [
        f"(e) PATCH …/rows/{{id}} (one key of a random row) on a batch of {options.rows:,}"
        f" rows, open loop for {options.seconds:.0f} s each, client and service on the same"
        " machine",
        "",
        "| load | answered | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for label, sample in (
        ("edits at 50/s, beside 200 reads/s", mixed["edit"]),
        ("reads at 200/s, beside 50 edits/s", mixed["read"]),
        ("edits at 50/s alone", alone["edit"]),
    ):
        lines.append(
            f"| {label} | {len(sample):,} | {percentile(sample, 0.5):.1f} "
            f"| {percentile(sample, 0.99):.1f} |"
        )
    lines += ["", f"failed: {len(mixed['failed'])} with reads, {len(alone['failed'])} alone"]
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
                    "bulk": lambda pool, _client, project, options: bulk_table(
                        pool, project, options
                    ),
                    "edits": edit_table,
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
    parser.add_argument("--parts", default=",".join(PARTS), help="which tables, in order")
    asyncio.run(main(parser.parse_args()))
