"""The parsing worker's side of the sandbox, run as `python -m service.ingestion.child`: read
one request from stdin, parse its files, write the frames (`protocol`) to stdout.

Spreadsheet parsers can be made to allocate hundreds of GiB or abort the whole process by a
crafted file (python-calamine does both), so parsing never runs in the service process. The
worker caps its own address space (RLIMIT_AS) and CPU time (RLIMIT_CPU) before it reads any
file; whatever kills it then (abort, MemoryError, SIGXCPU) kills only it, and the parent
reports the upload as unreadable. The pipe gives back-pressure for free: when the parent's
COPY falls behind, the worker blocks on write instead of piling rows up in memory.

A request marked `sheet_cells` reads one workbook's first sheet as it is, after the same
pre-checks, and sends its cells (`protocol.CellsFrame`): the corrected issues report of
`service.corrections`, as hostile as any upload.

A request marked `checks_only` runs only the checks that come before parsing
(`ingest.precheck`) and answers `done` (no rows) or `error`: the parent asks for that when a
worker died before its first frame (see `sandbox.Worker.unexpected_end`).
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import msgspec

from service import errors, ingest, logs
from service.entities import RowStatus, StatusCounts
from service.ingest import formats, guards, workbook
from service.ingest.matching import Matching
from service.ingestion.protocol import (
    CellsFrame,
    DoneFrame,
    PreviewFrame,
    Request,
    decode_request,
    error_frame,
    send,
    wire_cell,
)
from service.settings import Settings

logger = logging.getLogger("sheetflow.ingestion.child")

ROWS_PER_FRAME = 2_000
_Item = TypeVar("_Item")
_STATUS = operator.attrgetter("status")
_NO_ROWS = StatusCounts(valid=0, warning=0, error=0)
_encoder = msgspec.json.Encoder()


def _limit_resources(settings: Settings) -> None:
    memory = settings.worker_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = settings.worker_cpu_seconds
    # The soft limit sends SIGXCPU (the process dies); the hard limit one second later is
    # the kernel's SIGKILL in case the signal is caught.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def run(request: Request, channel: BinaryIO) -> None:
    """Parse the request's files (or only check them, or preview them) and write every frame
    to `channel`."""
    sources = [ingest.Source(path=Path(path), name=name) for path, name in request.sources]
    if request.scratch:
        # Every temporary file of the read (a workbook's repaired copy, see `ingest.repair`)
        # goes where the parent removes it however this process ends.
        tempfile.tempdir = request.scratch
    try:
        done: DoneFrame | PreviewFrame
        if request.checks_only:
            ingest.precheck(sources, request.settings)
            done = DoneFrame(count=0, counts=_NO_ROWS, columns=msgspec.Raw(b"[]"))
        elif request.preview_rows:
            done = _preview(request, sources)
        elif request.sheet_cells:
            done = _sheet_cells(request, sources, channel)
        else:
            done = _parse(request, sources, channel)
        send(channel, _encoder.encode(done))
    except (errors.IngestError, errors.InvalidInput) as error:
        send(channel, _encoder.encode(error_frame(error)))
    channel.flush()


def _parse(request: Request, sources: list[ingest.Source], channel: BinaryIO) -> DoneFrame:
    """Send the rows and amendments of the request's files; return the closing frame."""
    parser = _parser(request, sources)
    statuses: Counter[RowStatus] = Counter()
    count = 0
    for chunk in parser.chunks():
        statuses.update(map(_STATUS, chunk))
        count += len(chunk)
        expected = parser.expected_rows(count)
        send(channel, _encoder.encode({"type": "rows", "rows": chunk, "expected": expected}))
    for amended in _chunks(parser.amendments()):
        for amendment in amended:
            statuses[amendment.previous] -= 1
            statuses[amendment.status] += 1
        send(channel, _encoder.encode({"type": "amend", "rows": [row[:3] for row in amended]}))
    counts = StatusCounts(
        valid=statuses[RowStatus.VALID],
        warning=statuses[RowStatus.WARNING],
        error=statuses[RowStatus.ERROR],
    )
    columns = msgspec.Raw(_encoder.encode(parser.profile.columns))
    return DoneFrame(count=count, counts=counts, columns=columns)


def _preview(request: Request, sources: list[ingest.Source]) -> PreviewFrame:
    """The first `preview_rows` rows, and the read stopped there: what a preview costs does
    not grow with the file in a one-pass read (see `service.preview`)."""
    parser = _parser(request, sources)
    rows: list[ingest.ParsedRow] = []
    chunks = parser.chunks()
    try:
        for chunk in chunks:
            rows.extend(chunk[: request.preview_rows - len(rows)])
            if len(rows) >= request.preview_rows:
                break
    finally:
        chunks.close()
    return PreviewFrame(rows=rows, columns=parser.columns_read(), matches=parser.matches)


def _sheet_cells(request: Request, sources: list[ingest.Source], channel: BinaryIO) -> DoneFrame:
    """Send the non-blank rows of the one file's first visible sheet, as calamine reads them,
    in chunks (`CellsFrame`): after the pre-checks of an upload (size, format, and for a ZIP
    workbook the zip-bomb, far-cell and used-range guards), and at most `max_rows` of them."""
    (source,) = sources
    settings = request.settings
    fmt = formats.open_source(source, settings)
    if fmt is formats.FileFormat.CSV:
        raise errors.UnsupportedFormat(
            f"{source.name!r} is plain text, not a workbook", file=source.name
        )
    if fmt.is_zip:
        guards.inspect_archive(source.path, source.name, fmt, settings)
    count = 0
    with workbook.Workbook(source.path, source.name) as book:
        (name,) = book.select(None, first_only=True)
        loaded = book.load(name, settings)
        pad = [""] * loaded.first_column
        for chunk in _chunks(loaded.rows()):
            count += len(chunk)
            if count > settings.max_rows + 1:  # the header row, and at most max_rows below it
                raise errors.LimitExceeded(
                    f"{source.name!r} has more than {settings.max_rows:,} rows below its header",
                    limit="max_rows",
                    value=settings.max_rows,
                    file=source.name,
                    sheet=name,
                )
            rows = [(number, [wire_cell(cell) for cell in pad + cells]) for number, cells in chunk]
            send(channel, _encoder.encode(CellsFrame(rows=rows)))
    return DoneFrame(count=count, counts=_NO_ROWS, columns=msgspec.Raw(b"[]"))


def _parser(request: Request, sources: list[ingest.Source]) -> ingest.Parser:
    return ingest.Parser(
        sources,
        request.mode,
        request.sheet,
        request.settings,
        sandboxed=True,
        scratch=Path(request.scratch) if request.scratch else None,
        matching=matching(request),
        row_limit=request.preview_rows or None,
        schema=request.schema,
    )


def matching(request: Request) -> Matching | None:
    """How the request's columns go to its schema's fields, if it has a schema."""
    if request.schema is None:
        return None
    return Matching(request.schema.fields, explicit=request.mapping, saved=request.saved)


def _chunks(items: Iterator[_Item]) -> Iterator[list[_Item]]:
    while chunk := list(itertools.islice(items, ROWS_PER_FRAME)):
        yield chunk


def main() -> None:
    # The frame channel is the original stdout; anything else that prints goes to stderr.
    channel = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)
    # A worker may be started ahead of its upload (`sandbox.SpareWorker`): it waits here,
    # its imports done; if its service goes away first, the request is empty. (The parent
    # lowers the worker's CPU priority.)
    data = sys.stdin.buffer.read()
    if not data:
        return
    request = decode_request(data)
    logs.configure_worker(request.settings.log_format, request.request_id)
    _limit_resources(request.settings)
    started = time.monotonic()
    run(request, channel)
    logger.info(
        "parsing worker done: %d file(s) in %.3f s",
        len(request.sources),
        time.monotonic() - started,
    )


if __name__ == "__main__":
    main()
