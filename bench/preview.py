"""Benchmark: the preview of a 1,000-row and of a 1,000,000-row CSV (issue 18, item 3).

    uv run python bench/preview.py                      # 1,000 and 1,000,000 rows
    uv run python bench/preview.py --rows 1000 200000 --repeat 7

The files are `bench/ingest.py`'s 12-column CSV, previewed against a 12-field schema (types,
required, an enum, a pattern, a range). Two measures per file, interleaved, medians of
`--repeat` runs:

- worker: `service.preview.read`, what the service does for a preview once the body is
  spooled: a new parsing worker, the matching, the first 20 rows read and sent back;
- parser: the same read in this process (`ingest.Parser`, stopped after 20 rows), without
  the worker's start.

Receiving and spooling the upload (which do grow with the file) are reported apart: they are
the HTTP body's cost, which an upload pays too. Peak RSS of this process is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ingest import HEADER, write_csv

from service import preview
from service.entities import BatchMode
from service.ingest import Parser, Source
from service.ingest.keys import normalize_key
from service.ingest.matching import Matching
from service.schemas import FieldType, ProjectSchema, SchemaField
from service.settings import Settings

TYPES = [
    FieldType.INTEGER,
    FieldType.STRING,
    FieldType.EMAIL,
    FieldType.INTEGER,
    FieldType.NUMBER,
    FieldType.BOOLEAN,
    FieldType.DATE,
    FieldType.STRING,
    FieldType.STRING,
    FieldType.STRING,
    FieldType.STRING,
    FieldType.DATETIME,
]


def schema() -> ProjectSchema:
    fields = [
        SchemaField(key=normalize_key(header), label=header, type=type_)
        for header, type_ in zip(HEADER, TYPES, strict=True)
    ]
    fields[1] = SchemaField(key=fields[1].key, label=HEADER[1], required=True)
    fields[3] = SchemaField(key=fields[3].key, type=FieldType.INTEGER, min=18, max=80)
    fields[7] = SchemaField(
        key=fields[7].key,
        enum=["São Paulo", "Niterói", "Belém", "Coimbra", "Braga", "Florianópolis"],
    )
    fields[8] = SchemaField(key=fields[8].key, pattern=r"^\d{5}-\d{3}$")
    return ProjectSchema(
        project_id=uuid.uuid4(),
        version=1,
        fields=fields,
        created_by=uuid.uuid4(),
        created_at=datetime.now(UTC),
        retired_at=None,
    )


async def worker_once(source: Source, settings: Settings, project: ProjectSchema) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as scratch:
        started = time.perf_counter()
        frame = await preview.read([source], BatchMode.LIST_MODE, None, settings, scratch, project)
        seconds = time.perf_counter() - started
    assert len(frame.rows) == preview.PREVIEW_ROWS, len(frame.rows)
    return seconds


def parser_once(source: Source, settings: Settings, project: ProjectSchema) -> float:
    started = time.perf_counter()
    parser = Parser(
        [source],
        BatchMode.LIST_MODE,
        None,
        settings,
        matching=Matching(project.fields),
        row_limit=preview.PREVIEW_ROWS,
    )
    rows = []
    chunks = parser.chunks()
    for chunk in chunks:
        rows.extend(chunk[: preview.PREVIEW_ROWS - len(rows)])
        if len(rows) >= preview.PREVIEW_ROWS:
            break
    chunks.close()
    parser.columns_read()
    return time.perf_counter() - started


def spool_seconds(path: Path, directory: Path) -> float:
    """Copying the file in 1 MiB chunks, as `uploads.spool` does with the body."""
    started = time.perf_counter()
    with path.open("rb") as source, (directory / "spooled").open("wb") as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)
    return time.perf_counter() - started


async def main(options: argparse.Namespace) -> None:
    settings = Settings(max_file_bytes=1 << 31)  # the 1M-row CSV is 147 MB; the default is 50 MB
    project = schema()
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as directory:
        sources = {}
        for rows in options.rows:
            path = Path(directory) / f"clientes-{rows}.csv"
            write_csv(path, rows)
            sources[rows] = Source(path=path, name=path.name)
        worker: dict[int, list[float]] = {rows: [] for rows in options.rows}
        parser: dict[int, list[float]] = {rows: [] for rows in options.rows}
        spool: dict[int, list[float]] = {rows: [] for rows in options.rows}
        await worker_once(sources[options.rows[0]], settings, project)  # warm the caches
        for _ in range(options.repeat):
            for rows, source in sources.items():
                worker[rows].append(await worker_once(source, settings, project))
                parser[rows].append(parser_once(source, settings, project))
                spool[rows].append(spool_seconds(source.path, Path(directory)))
        base = options.rows[0]
        print(f"preview of a CSV, 12 columns, 12-field schema; median of {options.repeat} runs")
        print(
            f"{'rows':>10} {'MB':>7} {'worker s':>9} {'ratio':>6} {'parser ms':>10} "
            f"{'ratio':>6} {'spool s':>8}"
        )
        for rows, source in sources.items():
            size = source.path.stat().st_size / 1e6
            w = statistics.median(worker[rows])
            p = statistics.median(parser[rows])
            print(
                f"{rows:>10,} {size:>7.1f} {w:>9.3f} {w / statistics.median(worker[base]):>6.2f} "
                f"{p * 1000:>10.1f} {p / statistics.median(parser[base]):>6.2f} "
                f"{statistics.median(spool[rows]):>8.3f}"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS of this process: {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--rows", type=int, nargs="+", default=[1_000, 1_000_000])
    arguments.add_argument("--repeat", type=int, default=5)
    asyncio.run(main(arguments.parse_args(sys.argv[1:])))
