"""Benchmark: exports as an HTTP client sees them, against what this machine can do at best.

    uv run python bench/export.py [--rows 200000] [--rounds 3] [--port 18400]

The service runs as `sheetflow serve` on loopback with its embedded PostgreSQL (as in
bench/upload.py). One batch of `--rows` rows (bench/ingest.py's 12-column workbook, uploaded
over HTTP) is exported, each round, interleaved:

- NDJSON and CSV over HTTP (`GET …/export`, the body read to its end), against
  `psql -c "\\copy (SELECT data FROM ingestion_rows WHERE batch_id = …) TO STDOUT"` of the
  same batch, its output thrown away: the price of PostgreSQL writing the rows' JSON alone;
- XLSX over HTTP against xlsxwriter writing the same rows, already in memory and typed, in
  the same constant-memory mode, to a file.

The service's resident memory is sampled every 20 ms during each request; the peak is
reported with the process's memory before the first export. Medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import loopback
import psutil
from ingest import write_xlsx

from service import db, export


async def sampled_peak(pid: int, running: asyncio.Event) -> int:
    process = psutil.Process(pid)
    peak = process.memory_info().rss
    while not running.is_set():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.02)
    return peak


async def timed_download(client: httpx.AsyncClient, url: str, pid: int) -> tuple[float, int, int]:
    """(seconds, bytes, peak RSS of the service) of one GET read to its end."""
    done = asyncio.Event()
    sampler = asyncio.create_task(sampled_peak(pid, done))
    received = 0
    started = time.perf_counter()
    async with client.stream("GET", url) as response:
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_raw(1 << 20):
            received += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    return seconds, received, await sampler


def psql_copy_out(url: str, batch_id: str) -> float:
    query = f"SELECT data FROM ingestion_rows WHERE batch_id = '{batch_id}' ORDER BY position"
    started = time.perf_counter()
    psql = str(db.postgres_bin_dir() / "psql")
    subprocess.run(
        [psql, "--no-psqlrc", "-q", "-d", url, "-c", f"\\copy ({query}) TO STDOUT"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def xlsxwriter_from_memory(headings: list[str], rows: list[list[Any]], path: Path) -> float:
    started = time.perf_counter()
    with path.open("wb") as output:
        sheet = export.Sheet(output, headings, hidden_first=False)
        sheet.write(rows)
        sheet.close()
    return time.perf_counter() - started


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        async with loopback.serving(scratch, 1, None, options.port) as (url, base, service):
            await run(options, scratch, url, base, service.pid)


async def run(options: argparse.Namespace, scratch: Path, url: str, base: str, pid: int) -> None:
    pool = await db.create_pool(url, max_size=2)
    version = await pool.fetchval("SELECT current_setting('server_version_num')::int")
    timings: dict[str, list[float]] = {}
    peaks: dict[str, int] = {}
    sizes: dict[str, int] = {}
    async with httpx.AsyncClient(
        base_url=base, headers=loopback.bearer("bench"), timeout=3600
    ) as client:
        project = (await client.post("/projects", json={"name": "bench"})).json()["id"]
        source = scratch / "clientes.xlsx"
        write_xlsx(source, options.rows)
        created = await loopback.upload(client, project, source)
        assert created.status_code == 201, created.text
        batch = created.json()
        columns = sorted(batch["columnMetadata"], key=lambda column: column["position"])
        headings = [column["originalHeader"] for column in columns]
        records = await pool.fetch(
            "SELECT data FROM ingestion_rows WHERE batch_id = $1 ORDER BY position", batch["id"]
        )
        in_memory = [
            [
                export.typed(record["data"][column["normalizedKey"]], column["inferredType"])
                for column in columns
            ]
            for record in records
        ]
        del records
        at_rest = psutil.Process(pid).memory_info().rss
        path = f"/projects/{project}/batches/{batch['id']}/export"
        for _ in range(options.rounds):
            timings.setdefault("psql", []).append(psql_copy_out(url, batch["id"]))
            for kind in ("ndjson", "csv", "xlsx"):
                seconds, size, peak = await timed_download(client, f"{path}?format={kind}", pid)
                timings.setdefault(kind, []).append(seconds)
                peaks[kind] = max(peaks.get(kind, 0), peak)
                sizes[kind] = size
            timings.setdefault("xlsxwriter", []).append(
                await asyncio.to_thread(
                    xlsxwriter_from_memory, headings, in_memory, scratch / "memory.xlsx"
                )
            )
    await pool.close()
    median = {name: statistics.median(values) for name, values in timings.items()}
    mib = 1 << 20
    print(
        f"{options.rows:,} rows x {len(columns)} columns, PostgreSQL {version}, "
        f"medians of {options.rounds} interleaved rounds; service RSS before: "
        f"{at_rest / mib:.0f} MiB"
    )
    print()
    print("| export | HTTP s | MB | baseline | baseline s | speed vs baseline | peak RSS MiB |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for kind, baseline in (("ndjson", "psql"), ("csv", "psql"), ("xlsx", "xlsxwriter")):
        label = "psql \\copy data" if baseline == "psql" else "xlsxwriter, rows in memory"
        print(
            f"| {kind} | {median[kind]:.2f} | {sizes[kind] / 1e6:.0f} | {label} | "
            f"{median[baseline]:.2f} | {median[baseline] / median[kind]:.2f}x | "
            f"{peaks[kind] / mib:.0f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=18400)
    asyncio.run(main(parser.parse_args()))
