"""Benchmark: uploads in parallel, the figure a plan for more hosts rests on.

    uv run python bench/parallel.py                      # 50k-row CSVs, 1, 2 and 4 at once
    uv run python bench/parallel.py --rows 20000 --parallel 1,2,4,8 --workers 2

Starts `sheetflow serve` (`--workers` web processes) on loopback against its own embedded
PostgreSQL, then for each count k sends k uploads of the same `--rows`-row x 12-column CSV (the
ingestion benchmark's columns) at the same moment, `--rounds` times, each to its own project,
and prints the seconds until the last 201, the rows stored per second in all, and each upload's
median time. Each of the k uploads is sent by a user of its own, and the service is started
with room for k uploads at once (`SHEETFLOW_MAX_INGESTIONS`, and the pool to hold them), so
that the caps of issue 14 do not refuse the uploads being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import httpx
import loopback
from ingest import write_csv


async def one_upload(base: str, path: Path, user: int = 0) -> float:
    async with httpx.AsyncClient(
        base_url=base, headers=loopback.bearer(f"bench-{user}"), timeout=600
    ) as client:
        project = (await client.post("/projects", json={"name": f"p {uuid4()}"})).json()["id"]
        started = time.perf_counter()
        (await loopback.upload(client, project, path)).raise_for_status()
        return time.perf_counter() - started


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        path = scratch / "upload.csv"
        write_csv(path, options.rows)
        size = path.stat().st_size
        most = max(4, *options.parallel)
        os.environ.setdefault("SHEETFLOW_MAX_INGESTIONS", str(most))
        os.environ.setdefault("SHEETFLOW_POOL_SIZE", str(most + 6))
        async with loopback.serving(scratch, options.workers) as (_, base, _):
            await one_upload(base, path)  # warm-up: the first upload's costs are not measured
            results = []
            for k in options.parallel:
                walls, each = [], []
                for _ in range(options.rounds):
                    started = time.perf_counter()
                    each += await asyncio.gather(*(one_upload(base, path, i) for i in range(k)))
                    walls.append(time.perf_counter() - started)
                results.append((k, statistics.median(walls), statistics.median(each)))
    print(
        f"{options.rows:,}-row x 12-column CSV uploads ({size / 2**20:.1f} MiB each), "
        f"`serve --workers {options.workers}`, median of {options.rounds} rounds"
    )
    print()
    print("| uploads at once | seconds to the last 201 | rows/s in all | each upload, median s |")
    print("|---:|---:|---:|---:|")
    for k, wall, each in results:
        print(f"| {k} | {wall:.2f} | {k * options.rows / wall:,.0f} | {each:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--parallel", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 4]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="web processes")
    asyncio.run(main(parser.parse_args()))
