"""The parsing sandbox: a child process that parses one upload and streams its rows back.

Spreadsheet parsers can be made to allocate hundreds of GiB or abort the whole process by a
crafted file (python-calamine does both), so parsing never runs in the service process. The
parent starts `python -m service.ingestion.protocol`, writes one JSON request to its stdin and reads
length-prefixed JSON frames from its stdout:

    rows     a chunk of rows, in source order
    amend    after the last row: final status and messages of rows sent earlier
    done     how many rows were sent, how many of each status, the batch's columns
    error    a clean refusal (an `IngestError`), with its class and location

A request marked `checks_only` runs only the checks that come before parsing
(`ingest.precheck`) and answers `done` (no rows) or `error`: the parent asks for that when a
worker died before its first frame (see `pipeline.Worker.unexpected_end`).

The worker caps its own address space (RLIMIT_AS) and CPU time (RLIMIT_CPU) before it reads
any file; whatever kills it then (abort, MemoryError, SIGXCPU) kills only it, and the parent
reports the upload as unreadable. The pipe gives back-pressure for free: when the parent's
COPY falls behind, the worker blocks on write instead of piling rows up in memory.

Rows travel as JSON arrays whose `data` and `validationMessages` stay raw JSON on the parent's
side (`msgspec.Raw`): the parent never decodes a cell, it hands the bytes on to COPY.
"""

from __future__ import annotations

import itertools
import operator
import os
import resource
import struct
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import msgspec

from service import errors, ingest
from service.entities import BatchMode, RowStatus, StatusCounts
from service.settings import Settings

ROWS_PER_FRAME = 2_000
_LENGTH = struct.Struct(">I")
_Item = TypeVar("_Item")
_STATUS = operator.attrgetter("status")
_NO_ROWS = StatusCounts(valid=0, warning=0, error=0)


class Request(msgspec.Struct, frozen=True, kw_only=True):
    sources: list[tuple[str, str]]
    """(path on disk, client file name) per file, in upload order."""
    mode: BatchMode
    sheet: str | None
    settings: Settings
    checks_only: bool = False
    """Run only the checks that come before parsing (`ingest.precheck`), answering `done`
    with no rows when they pass."""
    scratch: str | None = None
    """A directory for temporary files that the parent removes once the worker has ended,
    however it ended."""


class RowsFrame(msgspec.Struct, frozen=True, tag="rows"):
    rows: list[tuple[int, msgspec.Raw, RowStatus, msgspec.Raw, str, str, int]]
    """ParsedRow fields: position, data, status, validation_messages, file, sheet, row index."""
    expected: int
    """How many rows the whole read is expected to give, as far as can be told yet."""


class AmendFrame(msgspec.Struct, frozen=True, tag="amend"):
    rows: list[tuple[int, RowStatus, msgspec.Raw]]
    """Amendment fields: position, status, validation_messages."""


class DoneFrame(msgspec.Struct, frozen=True, tag="done"):
    count: int
    counts: StatusCounts
    columns: msgspec.Raw
    """The batch's column metadata, as JSON."""


class ErrorFrame(msgspec.Struct, frozen=True, tag="error"):
    kind: str
    detail: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    limit: str | None = None
    value: int | None = None


Frame = RowsFrame | AmendFrame | DoneFrame | ErrorFrame

ERROR_KINDS: dict[str, type[errors.IngestError]] = {
    cls.__name__: cls
    for cls in (
        errors.IngestError,
        errors.UnsupportedFormat,
        errors.CorruptFile,
        errors.SheetNotFound,
        errors.LimitExceeded,
    )
}


def error_frame(error: errors.SheetflowError) -> ErrorFrame:
    if not isinstance(error, errors.IngestError):
        return ErrorFrame(kind=type(error).__name__, detail=error.detail)
    return ErrorFrame(
        kind=type(error).__name__,
        detail=error.detail,
        file=error.file,
        sheet=error.sheet,
        row=error.row,
        column=error.column,
        limit=getattr(error, "limit", None),
        value=getattr(error, "value", None),
    )


def error_from_frame(frame: ErrorFrame) -> errors.SheetflowError:
    """Rebuild the worker's error on the parent's side."""
    if frame.kind == "InvalidInput":
        return errors.InvalidInput(frame.detail)
    cls = ERROR_KINDS.get(frame.kind, errors.CorruptFile)
    where = {"file": frame.file, "sheet": frame.sheet, "row": frame.row, "column": frame.column}
    if cls is errors.LimitExceeded:
        return errors.LimitExceeded(
            frame.detail, limit=frame.limit or "", value=frame.value or 0, **where
        )
    return cls(frame.detail, **where)  # type: ignore[arg-type]


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def encode_request(request: Request) -> bytes:
    return msgspec.json.encode(request, enc_hook=str)


def decode_request(data: bytes) -> Request:
    return msgspec.json.decode(data, type=Request, dec_hook=_dec_hook)


frame_decoder = msgspec.json.Decoder(Frame)
_encoder = msgspec.json.Encoder()


def _send(channel: BinaryIO, payload: bytes) -> None:
    channel.write(_LENGTH.pack(len(payload)))
    channel.write(payload)


def _limit_resources(settings: Settings) -> None:
    memory = settings.worker_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = settings.worker_cpu_seconds
    # The soft limit sends SIGXCPU (the process dies); the hard limit one second later is
    # the kernel's SIGKILL in case the signal is caught.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def run(request: Request, channel: BinaryIO) -> None:
    """Parse the request's files (or only check them) and write every frame to `channel`."""
    sources = [ingest.Source(path=Path(path), name=name) for path, name in request.sources]
    try:
        if request.checks_only:
            ingest.precheck(sources, request.settings)
            done = DoneFrame(count=0, counts=_NO_ROWS, columns=msgspec.Raw(b"[]"))
        else:
            done = _parse(request, sources, channel)
        _send(channel, _encoder.encode(done))
    except (errors.IngestError, errors.InvalidInput) as error:
        _send(channel, _encoder.encode(error_frame(error)))
    channel.flush()


def _parse(request: Request, sources: list[ingest.Source], channel: BinaryIO) -> DoneFrame:
    """Send the rows and amendments of the request's files; return the closing frame."""
    reading = ingest.Reading(
        sources,
        request.mode,
        request.sheet,
        request.settings,
        sandboxed=True,
        scratch=Path(request.scratch) if request.scratch else None,
    )
    statuses: Counter[RowStatus] = Counter()
    count = 0
    for chunk in reading.chunks():
        statuses.update(map(_STATUS, chunk))
        count += len(chunk)
        expected = reading.expected_rows(count)
        _send(channel, _encoder.encode({"type": "rows", "rows": chunk, "expected": expected}))
    for amended in _chunks(reading.amendments()):
        for amendment in amended:
            statuses[amendment.previous] -= 1
            statuses[amendment.status] += 1
        _send(channel, _encoder.encode({"type": "amend", "rows": [row[:3] for row in amended]}))
    counts = StatusCounts(
        valid=statuses[RowStatus.VALID],
        warning=statuses[RowStatus.WARNING],
        error=statuses[RowStatus.ERROR],
    )
    columns = msgspec.Raw(_encoder.encode(reading.profile.columns))
    return DoneFrame(count=count, counts=counts, columns=columns)


def _chunks(items: Iterator[_Item]) -> Iterator[list[_Item]]:
    while chunk := list(itertools.islice(items, ROWS_PER_FRAME)):
        yield chunk


def main() -> None:
    # The frame channel is the original stdout; anything else that prints goes to stderr.
    channel = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)
    # A worker may be started ahead of its upload (`pipeline.SpareWorker`): it waits here,
    # its imports done; if its service goes away first, the request is empty. (The parent
    # lowers the worker's CPU priority.)
    data = sys.stdin.buffer.read()
    if not data:
        return
    request = decode_request(data)
    _limit_resources(request.settings)
    run(request, channel)


if __name__ == "__main__":
    main()
