"""Benchmark: the HTTP API end to end, on loopback, against the service as a real process.

    uv run python bench/api.py [--rows 200000] [--seconds 30] [--clients 16]

(a) Upload of the ingestion benchmark's CSV and XLSX files through `POST …/batches`, timed
    from the first byte sent to the 201, next to `psql \\copy` of the very rows it stored.
(b) `GET …/rows?limit=100` and `GET …/fields` from 16 concurrent clients for 30 s each:
    requests/s, p50 and p99, and p50 against the same SQL run directly with asyncpg by 16
    concurrent tasks (what the HTTP layer, auth and JSON cost on top of the query).
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

from service import db, queries


async def load(seconds: float, clients: int, call) -> tuple[int, list[float]]:
    """Run `call` from `clients` concurrent loops for `seconds`; latencies in ms."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(loop() for _ in range(clients)))
    return len(latencies), latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        async with loopback.serving(scratch) as (url, base, _):
            await run(options, scratch, url, base)


async def run(options: argparse.Namespace, scratch: Path, url: str, base: str) -> None:
    pool = await db.create_pool(url, max_size=options.clients)
    uploads = []
    async with httpx.AsyncClient(
        base_url=base, headers=loopback.bearer("bench"), timeout=600
    ) as client:
        project = (await client.post("/projects", json={"name": "bench"})).json()["id"]
        batch_id = None
        for kind, write in (("csv", write_csv), ("xlsx", write_xlsx)):
            path = scratch / f"clientes.{kind}"
            write(path, options.rows)
            await baselines.reset(pool)
            started = time.perf_counter()
            response = await loopback.upload(client, project, path)
            seconds = time.perf_counter() - started
            assert response.status_code == 201, response.text
            batch_id = response.json()["id"]
            exported = scratch / "rows.csv"
            baselines.export_rows(url, UUID(batch_id), exported)
            await baselines.reset(pool)
            copy_seconds = baselines.psql_copy(url, exported)
            await pool.execute("DELETE FROM ingestion_rows")
            uploads.append((kind, seconds, copy_seconds))
        # Reads need a batch with rows: upload the CSV once more and keep it.
        response = await loopback.upload(client, project, scratch / "clientes.csv")
        batch_id = response.json()["id"]
        batch_url = f"/projects/{project}/batches/{batch_id}"
        # The first /fields computes the batch's statistics (then saved): timed on its own.
        started = time.perf_counter()
        assert (await client.get(f"{batch_url}/fields")).status_code == 200
        first_fields = time.perf_counter() - started

        reads = []
        for label, path, query, args in (
            (
                "GET …/rows?limit=100",
                f"{batch_url}/rows?limit=100",
                "list_rows_for_batch",
                (UUID(batch_id), 100, 0, None),
            ),
            (
                "GET …/fields (statistics saved)",
                f"{batch_url}/fields",
                "get_saved_field_stats",
                (UUID(batch_id),),
            ),
        ):

            async def over_http(path: str = path) -> None:
                response = await client.get(path)
                assert response.status_code == 200

            async def direct(query: str = query, args: tuple = args) -> None:
                await pool.fetch(queries.QUERIES[query].sql, *args)

            count, latencies = await load(options.seconds, options.clients, over_http)
            _, direct_latencies = await load(options.seconds, options.clients, direct)
            reads.append((label, count, latencies, direct_latencies))
    await pool.close()
    report(options, uploads, reads, first_fields)


def report(options, uploads, reads, first_fields) -> None:  # type: ignore[no-untyped-def]
    print(f"(a) upload of {options.rows:,} rows x 12 columns over HTTP, one run each")
    print()
    print("| file | HTTP upload s | rows/s | psql \\copy s | upload vs psql \\copy |")
    print("|---|---:|---:|---:|---:|")
    for kind, seconds, copy_seconds in uploads:
        print(
            f"| {kind} | {seconds:.2f} | {options.rows / seconds:,.0f} | {copy_seconds:.2f} "
            f"| {copy_seconds / seconds:.2f}x |"
        )
    print()
    print(f"(b) reads, {options.clients} concurrent clients, {options.seconds:.0f} s each")
    print(
        f"(the first GET …/fields, which computes and saves the statistics: {first_fields:.2f} s)"
    )
    print()
    print("| endpoint | requests/s | p50 ms | p99 ms | SQL alone p50 ms | p50 / SQL p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, count, latencies, direct_latencies in reads:
        p50, sql_p50 = statistics.median(latencies), statistics.median(direct_latencies)
        print(
            f"| {label} | {count / options.seconds:,.0f} | {p50:.1f} "
            f"| {percentile(latencies, 0.99):.1f} | {sql_p50:.1f} | {p50 / sql_p50:.2f}x |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
