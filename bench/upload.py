"""Benchmark: an upload as a client sees it, stage by stage, and the schema's per-row cost.

    uv run python bench/upload.py [--rows 200000] [--rounds 3] [--port 8700]

The service runs as `sheetflow serve` on loopback with its embedded PostgreSQL (as in
bench/api.py), its upload stage marks (`service.timeline`, debug level) written to a file.
Each round, interleaved: the CSV and the XLSX file of bench/ingest.py uploaded over HTTP
(multipart), timed from the first byte sent to the 201, then `psql \\copy` of the very rows
stored into `ingestion_rows` as migrated, and into the same table with each schema variant
(UUIDv7 keys; the `(batch_id, position)` index alone). Medians over the rounds.

(a) upload vs `psql \\copy` (ratios: the machine is shared), (b) when each stage ended, in
seconds from the request's start, (c) `psql \\copy` per schema variant.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from uuid import UUID

import baselines
import httpx
import loopback
from ingest import write_csv, write_xlsx

from service import db

STAGES = (
    "headers received",
    "body received",
    "form parsed",
    "spooled",
    "first rows parsed",
    "first COPY",
    "last COPY done",
    "committed",
)
# (label, DDL to apply, DDL to undo); applied to the empty table, measured by psql \copy.
UUIDV7 = (
    "ALTER TABLE ingestion_rows ALTER COLUMN id SET DEFAULT uuidv7()",
    "ALTER TABLE ingestion_rows ALTER COLUMN id SET DEFAULT gen_random_uuid()",
)
ONE_INDEX = (
    "DROP INDEX idx_ingestion_rows_batch_id",
    "CREATE INDEX idx_ingestion_rows_batch_id ON ingestion_rows (batch_id)",
)


def variants(
    has_uuidv7: bool, has_two_indexes: bool
) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    found: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [("as migrated", (), ())]
    if has_uuidv7:
        found.append(("id DEFAULT uuidv7()", UUIDV7[:1], UUIDV7[1:]))
    if has_two_indexes:
        found.append(("(batch_id, position) index alone", ONE_INDEX[:1], ONE_INDEX[1:]))
    if has_uuidv7 and has_two_indexes:
        found.append(("both", (UUIDV7[0], ONE_INDEX[0]), (ONE_INDEX[1], UUIDV7[1])))
    return found


async def main(options: argparse.Namespace) -> None:
    # The timeline lives beside the service's directory, not in it: sheetflow opens its data
    # directory to the embedded server's user only when it holds nothing but its own files.
    with tempfile.TemporaryDirectory() as scratch_name, tempfile.TemporaryDirectory() as logs:
        scratch = Path(scratch_name)
        timeline = Path(logs) / "timeline.log"
        timeline.touch()
        async with loopback.serving(scratch, 1, timeline, options.port) as (url, base, _):
            await run(options, scratch, timeline, url, base)


def size(path: Path) -> int:
    return path.stat().st_size


def marks(timeline: Path, offset: int) -> dict[str, float]:
    """The stage marks written after byte `offset` of the timeline (one upload's)."""
    with timeline.open() as handle:
        handle.seek(offset)
        found: dict[str, float] = {}
        for line in handle:
            stage, _, stamp = line.rstrip().rpartition(" ")
            found.setdefault(stage, float(stamp))
    return found


async def run(
    options: argparse.Namespace, scratch: Path, timeline: Path, url: str, base: str
) -> None:
    pool = await db.create_pool(url, max_size=2)
    version = await pool.fetchval("SELECT current_setting('server_version_num')::int")
    two_indexes = await pool.fetchval(
        "SELECT count(*) = 2 FROM pg_indexes WHERE tablename = 'ingestion_rows' "
        "AND indexname IN ('idx_ingestion_rows_batch_id', 'uq_ingestion_rows_batch_position')"
    )
    schema_variants = variants(version >= 180000, bool(two_indexes))
    uploads: dict[str, list[float]] = {}
    copies: dict[str, list[float]] = {}
    stages: dict[str, dict[str, list[float]]] = {}
    exported: dict[str, Path] = {}
    xlsx_copies: list[float] = []
    async with httpx.AsyncClient(
        base_url=base, headers=loopback.bearer("bench"), timeout=600
    ) as client:
        project = (await client.post("/projects", json={"name": "bench"})).json()["id"]
        for kind, write in (("csv", write_csv), ("xlsx", write_xlsx)):
            write(scratch / f"clientes.{kind}", options.rows)
        for _ in range(options.rounds):
            for kind in ("csv", "xlsx"):
                await baselines.reset(pool)
                offset = size(timeline)
                started_at = time.time()
                started = time.perf_counter()
                response = await loopback.upload(client, project, scratch / f"clientes.{kind}")
                seconds = time.perf_counter() - started
                assert response.status_code == 201, response.text
                uploads.setdefault(kind, []).append(seconds)
                found = marks(timeline, offset)
                for stage in STAGES:
                    stages.setdefault(kind, {}).setdefault(stage, []).append(
                        found[stage] - started_at
                    )
                if kind not in exported:
                    exported[kind] = scratch / f"rows-{kind}.csv"
                    baselines.export_rows(url, UUID(response.json()["id"]), exported[kind])
            await baselines.reset(pool)
            xlsx_copies.append(baselines.psql_copy(url, exported["xlsx"]))
            for label, apply, undo in schema_variants:
                await baselines.reset(pool)
                for statement in apply:
                    await pool.execute(statement)
                copies.setdefault(label, []).append(baselines.psql_copy(url, exported["csv"]))
                await baselines.reset(pool)
                for statement in undo:
                    await pool.execute(statement)
    await pool.close()
    report(options, version, uploads, stages, copies, xlsx_copies)


def report(  # type: ignore[no-untyped-def]
    options, version, uploads, stages, copies, xlsx_copies
) -> None:
    median = statistics.median
    copy = median(copies["as migrated"])
    same_rows = {"csv": copy, "xlsx": median(xlsx_copies)}
    print(
        f"{options.rows:,} rows x 12 columns, PostgreSQL {version}, "
        f"medians of {options.rounds} interleaved rounds"
    )
    print()
    print("(a) HTTP upload (multipart) vs psql \\copy of the same rows into ingestion_rows")
    print()
    print("| file | HTTP upload s | psql \\copy s | upload vs psql \\copy |")
    print("|---|---:|---:|---:|")
    for kind, seconds in uploads.items():
        base = same_rows[kind]
        print(f"| {kind} | {median(seconds):.2f} | {base:.2f} | {base / median(seconds):.2f}x |")
    print()
    print("(b) when each stage ended, s from the request's first byte (share of the upload)")
    print()
    kinds = list(uploads)
    print("| stage | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for stage in (*STAGES, "response received"):
        cells = []
        for kind in kinds:
            total = median(uploads[kind])
            at = total if stage == "response received" else median(stages[kind][stage])
            cells.append(f"{at:.2f} ({at / total:.0%})")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print()
    print("(c) psql \\copy of the CSV's rows into ingestion_rows, per schema variant")
    print()
    print("| schema | psql \\copy s | µs per row | vs as migrated |")
    print("|---|---:|---:|---:|")
    for label, seconds in copies.items():
        print(
            f"| {label} | {median(seconds):.2f} | {median(seconds) / options.rows * 1e6:.1f} "
            f"| {copy / median(seconds):.2f}x |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=None)
    asyncio.run(main(parser.parse_args()))
