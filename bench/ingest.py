"""Benchmark: ingesting 200,000- and 1,000,000-row x 12-column CSV and XLSX files.

    uv run python bench/ingest.py                      # 200k and 1M rows, CSV and XLSX
    uv run python bench/ingest.py --rows 200000 --formats csv

For each file: the whole engine (`service.ingestion.ingest`: sandboxed streaming parse,
validation, binary COPY in one transaction), then, on the very rows it stored, `psql \\copy`
(the physical limit) and the seed's 5,000-row INSERTs, in the same run. The engine runs in a
fresh child process, so its peak RSS is the service's, and the worker's is reported apart.
As in `sheetflow serve`, the parsing worker has been started ahead of the upload
(`ingestion.SpareWorker`); the clock starts when the upload is handed to the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import baselines
import xlsxwriter

from service import db

SPARE_SETTLE_SECONDS = 1.0
CITIES = ("São Paulo", "Niterói", "Belém", "Coimbra", "Braga", "Florianópolis")
HEADER = [
    "Código",
    "Nome Completo",
    "E-mail",
    "Idade",
    "Salário",
    "Ativo",
    "Nascimento",
    "Cidade",
    "CEP",
    "Telefone",
    "Observação",
    "Atualizado em",
]


def record(i: int) -> list[object]:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=(i * 37) % 20000)
    updated = dt.datetime(2026, 1, 1, 8, 0) + dt.timedelta(minutes=i * 7)
    return [
        100_000 + i,
        f"Cliente {i} da Silva",
        f"cliente{i}@exemplo.com.br",
        18 + i % 60,
        round(1000 + (i * 37.25) % 9000, 2),
        i % 3 != 0,
        born,
        CITIES[i % len(CITIES)],
        f"{i % 99999:05d}-000",
        f"(21) 9{i % 10**8:08d}",
        "" if i % 4 else "ligar à tarde",
        updated,
    ]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            values = record(i)
            values[5] = "true" if values[5] else "false"
            values[6] = values[6].strftime("%d/%m/%Y")  # type: ignore[attr-defined]
            values[11] = values[11].isoformat(timespec="seconds")  # type: ignore[attr-defined]
            writer.writerow(values)


def write_xlsx(path: Path, rows: int) -> None:
    with xlsxwriter.Workbook(str(path), {"constant_memory": True}) as book:
        sheet = book.add_worksheet("Clientes")
        date = book.add_format({"num_format": "dd/mm/yyyy"})
        stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        sheet.write_row(0, 0, HEADER)
        for i in range(rows):
            values = record(i)
            for c, value in enumerate(values):
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(i + 1, c, value, stamp)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(i + 1, c, dt.datetime.combine(value, dt.time()), date)
                elif value == "":
                    continue
                else:
                    sheet.write(i + 1, c, value)


def peak_rss_kib() -> int:
    """This process's own peak RSS. Not getrusage's ru_maxrss: Linux carries a parent's peak
    over into the programs it starts, and the benchmark's parent holds whole files at times.
    (The worker's figure comes from getrusage, so it may include up to the service's RSS at
    the moment the worker was started, a few tens of MiB.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def measure(url: str, project: UUID, owner: UUID, path: Path) -> None:
    """Child-process half: ingest one file and print what it cost, as JSON."""
    from service import ingestion
    from service.entities import BatchMode
    from service.ingest import Source
    from service.settings import Settings

    pool = await db.create_pool(url, max_size=2)
    spare = ingestion.SpareWorker()
    spare.prepare()
    await asyncio.sleep(SPARE_SETTLE_SECONDS)  # a running service's worker waits idle
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    batch = await ingestion.ingest(
        pool,
        project_id=project,
        user_id=owner,
        sources=[Source(path=path, name=path.name)],
        mode=BatchMode.LIST_MODE,
        sheet=None,
        # A 1M-row CSV is ~130 MB, over the default 50 MiB per file.
        settings=Settings(max_file_bytes=1 << 30),
        spare=spare,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker used, reaped
    await spare.close()  # the next spare, started after the upload (not counted)
    await pool.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "batch": str(batch.id),
                "rows": batch.row_count,
                "service_rss_kib": peak_rss_kib(),
                "worker_rss_kib": worker.ru_maxrss,
                "service_cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                "worker_cpu": worker.ru_utime + worker.ru_stime,
            }
        )
    )


async def main(options: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        url = db.start_embedded(scratch)
        db.migrate(url)
        pool = await db.create_pool(url, max_size=2)
        owner = await pool.fetchval("INSERT INTO users (external_id) VALUES ('b') RETURNING id")
        project = await pool.fetchval(
            "INSERT INTO projects (user_id, name) VALUES ($1, 'bench') RETURNING id", owner
        )
        for rows in options.rows:
            for kind in options.formats:
                path = scratch / f"clientes-{rows}.{kind}"
                # Generated in a child process, so that xlsxwriter's memory is not in here.
                await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, __file__, "_generate", kind, str(rows), str(path)],
                    check=True,
                )
                engines, copies, inserts = [], [], []
                for _ in range(options.rounds):  # interleaved, so that noise hits all alike
                    await baselines.reset(pool)
                    child = await asyncio.to_thread(
                        subprocess.run,
                        [
                            sys.executable,
                            __file__,
                            "_measure",
                            url,
                            str(project),
                            str(owner),
                            str(path),
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    engine = json.loads(child.stdout.strip().splitlines()[-1])
                    engines.append(engine)
                    exported = scratch / "rows.csv"
                    baselines.export_rows(url, UUID(engine["batch"]), exported)
                    await baselines.reset(pool)
                    copies.append(baselines.psql_copy(url, exported))
                    await baselines.reset(pool)
                    columns = baselines.read_columns(exported)
                    inserts.append(await baselines.seed_insert(pool, columns))
                    del columns
                engine = sorted(engines, key=lambda run: run["seconds"])[len(engines) // 2]
                results.append(
                    (
                        kind,
                        rows,
                        path.stat().st_size,
                        engine,
                        statistics.median(copies),
                        statistics.median(inserts),
                    )
                )
        await pool.close()

    print(f"{options.rounds} round(s) of each method, interleaved; the median of each\n")
    print(
        "| file | rows | MiB | method | seconds | rows/s | vs psql \\copy "
        "| peak RSS service / worker | CPU s service / worker |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---|---|")
    for kind, rows, size, engine, copy_seconds, insert_seconds in results:
        mib = f"{size / 2**20:.0f}"
        rss = f"{engine['service_rss_kib'] / 1024:.0f} / {engine['worker_rss_kib'] / 1024:.0f} MiB"
        cpu = f"{engine['service_cpu']:.2f} / {engine['worker_cpu']:.2f}"
        for method, seconds, memory, cpu_time in (
            ("sheetflow ingest (engine)", engine["seconds"], rss, cpu),
            ("`psql \\copy` of the same rows", copy_seconds, "", ""),
            ("seed: INSERT x 5,000 rows", insert_seconds, "", ""),
        ):
            print(
                f"| {kind} | {rows:,} | {mib} | {method} | {seconds:.2f} | {rows / seconds:,.0f} "
                f"| {copy_seconds / seconds:.2f}x | {memory} | {cpu_time} |"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        _, _, kind, rows, path = sys.argv
        (write_csv if kind == "csv" else write_xlsx)(Path(path), int(rows))
    elif len(sys.argv) > 1 and sys.argv[1] == "_measure":
        _, _, url, project, owner, path = sys.argv
        asyncio.run(measure(url, UUID(project), UUID(owner), Path(path)))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
        parser.add_argument(
            "--rounds", type=int, default=1, help="runs of each method, interleaved (medians)"
        )
        parser.add_argument(
            "--formats", nargs="+", default=["csv", "xlsx"], choices=["csv", "xlsx"]
        )
        asyncio.run(main(parser.parse_args()))
