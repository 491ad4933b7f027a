"""Benchmark: ingestion with a 12-field project schema against ingestion without one and
against `psql \\copy`, and re-validation of the batch, on the CSV and XLSX of `bench/ingest.py`.

    uv run python bench/schema.py                          # 200k rows, CSV and XLSX
    uv run python bench/schema.py --rows 200000 1000000 --formats csv

The schema has a field per column (types for all twelve; `required`, a `pattern`, an `enum`,
`range`s, a `length` and one `unique` field), so every value is converted and checked. For
each file, in one run and interleaved: the engine with no schema, the engine with the schema,
re-validation of that batch against the same version (nothing changes: the cost of reading
and checking) and against a tighter one (a quarter of the rows change), and `psql \\copy` of the
rows the schema run stored. Each engine run and each re-validation is a fresh child process,
so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import baselines
import ingest as ingest_bench

from service import db

FIELDS: list[dict[str, Any]] = [
    {"key": "codigo", "type": "integer", "required": True, "unique": True},
    {"key": "nome_completo", "required": True, "minLength": 3, "maxLength": 120},
    {"key": "e_mail", "type": "email", "required": True},
    {"key": "idade", "type": "integer", "min": 18, "max": 80},
    {"key": "salario", "type": "number", "min": 0},
    {"key": "ativo", "type": "boolean"},
    {"key": "nascimento", "type": "date", "min": "1900-01-01", "max": "2026-12-31"},
    {"key": "cidade", "enum": list(ingest_bench.CITIES)},
    {"key": "cep", "pattern": r"^\d{5}-\d{3}$"},
    {"key": "telefone", "pattern": r"^\(\d{2}\) 9\d{8}$", "severity": "warning"},
    {"key": "observacao", "maxLength": 200},
    {"key": "atualizado_em", "type": "datetime"},
]
TIGHTER = [{**field, "max": 60} if field["key"] == "idade" else field for field in FIELDS]


async def save_schema(
    pool: db.Pool, owner: UUID, project: UUID, fields: list[dict[str, Any]]
) -> int:
    import msgspec

    from service.rules import definitions
    from service.schemas import SchemaField
    from service.store import project_schemas

    checked = definitions.checked(msgspec.convert(fields, list[SchemaField]))
    async with db.transaction(pool) as conn:
        schema = await project_schemas.create_version(conn, owner, project, checked)
    return schema.version


async def measure(url: str, project: UUID, owner: UUID, path: Path, version: int) -> None:
    """Child-process half: ingest one file (with schema `version`, 0: none) and print what
    it cost, as JSON."""
    from service import ingestion
    from service.entities import BatchMode
    from service.ingest import Source
    from service.settings import Settings
    from service.store import project_schemas

    pool = await db.create_pool(url, max_size=2)
    schema = (
        await project_schemas.get_schema_by_version(pool, project, version) if version else None
    )
    spare = ingestion.SpareWorker()
    spare.prepare()
    await asyncio.sleep(ingest_bench.SPARE_SETTLE_SECONDS)
    started = time.perf_counter()
    batch = await ingestion.ingest(
        pool,
        project_id=project,
        user_id=owner,
        sources=[Source(path=path, name=path.name)],
        mode=BatchMode.LIST_MODE,
        sheet=None,
        settings=Settings(max_file_bytes=1 << 30),
        spare=spare,
        schema=schema,
    )
    seconds = time.perf_counter() - started
    await spare.close()
    await pool.close()
    counts = batch.status_counts
    print(
        json.dumps(
            {
                "seconds": seconds,
                "batch": str(batch.id),
                "rows": batch.row_count,
                "rss_kib": ingest_bench.peak_rss_kib(),
                "counts": [counts.valid, counts.warning, counts.error],
            }
        )
    )


async def revalidate(url: str, project: UUID, owner: UUID, batch: UUID, version: int) -> None:
    """Child-process half: re-validate a batch against a version and print what it cost."""
    from service import revalidation
    from service.settings import Settings

    pool = await db.create_pool(url, Settings(statement_timeout_seconds=600), max_size=2)
    started = time.perf_counter()
    outcome = await revalidation.revalidate(pool, owner, project, batch, version)
    seconds = time.perf_counter() - started
    await pool.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "changed": outcome.changed_rows,
                "rss_kib": ingest_bench.peak_rss_kib(),
            }
        )
    )


def child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def main(options: argparse.Namespace) -> None:
    table = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        url = db.start_embedded(scratch)
        db.migrate(url)
        pool = await db.create_pool(url, max_size=2)
        owner = await pool.fetchval("INSERT INTO users (external_id) VALUES ('b') RETURNING id")
        project = await pool.fetchval(
            "INSERT INTO projects (user_id, name) VALUES ($1, 'bench') RETURNING id", owner
        )
        same = await save_schema(pool, owner, project, FIELDS)
        tighter = await save_schema(pool, owner, project, TIGHTER)
        ids = (url, str(project), str(owner))
        for rows in options.rows:
            for kind in options.formats:
                path = scratch / f"clientes-{rows}.{kind}"
                await asyncio.to_thread(
                    subprocess.run,
                    [
                        sys.executable,
                        ingest_bench.__file__,
                        "_generate",
                        kind,
                        str(rows),
                        str(path),
                    ],
                    check=True,
                )
                runs: dict[str, list[dict[str, Any]]] = {}
                for _ in range(options.rounds):
                    await baselines.reset(pool)
                    plain = await asyncio.to_thread(child, "_measure", *ids, str(path), "0")
                    runs.setdefault("plain", []).append(plain)
                    await baselines.reset(pool)
                    typed = await asyncio.to_thread(child, "_measure", *ids, str(path), str(same))
                    runs.setdefault("schema", []).append(typed)
                    batch = typed["batch"]
                    again = await asyncio.to_thread(child, "_revalidate", *ids, batch, str(same))
                    runs.setdefault("same", []).append(again)
                    changed = await asyncio.to_thread(
                        child, "_revalidate", *ids, batch, str(tighter)
                    )
                    runs.setdefault("tighter", []).append(changed)
                    exported = scratch / "rows.csv"
                    baselines.export_rows(url, UUID(batch), exported)
                    await baselines.reset(pool)
                    runs.setdefault("copy", []).append(
                        {"seconds": baselines.psql_copy(url, exported)}
                    )
                table.append((kind, rows, runs))
        await pool.close()

    def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]

    print(f"{options.rounds} round(s) of each method, interleaved; the median of each\n")
    print("| file | rows | method | seconds | rows/s | vs psql \\copy | peak RSS | notes |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for kind, rows, runs in table:
        copy_seconds = median(runs["copy"])["seconds"]
        ingest_seconds = median(runs["schema"])["seconds"]
        for name, label in (
            ("plain", "engine, no schema"),
            ("schema", "engine, 12-field schema"),
            ("same", "re-validation, same version"),
            ("tighter", "re-validation, tighter version"),
            ("copy", "`psql \\copy` of the same rows"),
        ):
            run = median(runs[name])
            seconds = run["seconds"]
            rss = f"{run['rss_kib'] / 1024:.0f} MiB" if "rss_kib" in run else ""
            notes = ""
            if "counts" in run:
                valid, warning, error = run["counts"]
                notes = f"valid {valid:,} / warning {warning:,} / error {error:,}"
            if "changed" in run:
                notes = (
                    f"{run['changed']:,} rows changed; "
                    f"{seconds / ingest_seconds:.2f}x the schema ingestion's time"
                )
            print(
                f"| {kind} | {rows:,} | {label} | {seconds:.2f} | {rows / seconds:,.0f} "
                f"| {copy_seconds / seconds:.2f}x | {rss} | {notes} |"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        _, _, url, project, owner, path, version = sys.argv
        asyncio.run(measure(url, UUID(project), UUID(owner), Path(path), int(version)))
    elif len(sys.argv) > 1 and sys.argv[1] == "_revalidate":
        _, _, url, project, owner, batch, version = sys.argv
        asyncio.run(revalidate(url, UUID(project), UUID(owner), UUID(batch), int(version)))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rows", type=int, nargs="+", default=[200_000])
        parser.add_argument("--rounds", type=int, default=1)
        parser.add_argument(
            "--formats", nargs="+", default=["csv", "xlsx"], choices=["csv", "xlsx"]
        )
        asyncio.run(main(parser.parse_args()))
