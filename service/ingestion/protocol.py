"""What crosses the pipe between the service and a parsing worker: the request, the frames,
the error kinds, their encoding.

The parent starts `python -m service.ingestion.child`, writes one JSON request to its stdin and
reads length-prefixed JSON frames from its stdout:

    rows     a chunk of rows, in source order
    amend    after the last row: final status and messages of rows sent earlier
    done     how many rows were sent, how many of each status, the batch's columns
    error    a clean refusal (an `IngestError`), with its class and location
    preview  instead of all of the above, for a preview: the first rows, columns, matching
    cells    instead of rows, for a sheet read as it is (`Request.sheet_cells`): a chunk of
             the first sheet's non-blank rows, their cells as calamine reads them (`wire_cell`)

Rows travel as JSON arrays whose `data` and `validationMessages` stay raw JSON on the parent's
side (`msgspec.Raw`): the parent never decodes a cell, it hands the bytes on to COPY.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from service import errors
from service.entities import (
    BatchMode,
    ColumnMetadata,
    RowRecord,
    RowStatus,
    StatusCounts,
    ValidationMessage,
)
from service.ingest.matching import ColumnMatch
from service.schemas import ProjectSchema
from service.settings import Settings

_LENGTH = struct.Struct(">I")


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
    request_id: str | None = None
    """The HTTP request's id (`service.logs`), for the worker's log lines."""
    schema: ProjectSchema | None = None
    """The project's current schema (`store.project_schemas.get_current_schema`): values of
    the columns mapped to its fields are converted and checked by `service.rules`. None:
    no schema, rows exactly as without one."""
    mapping: dict[str, str | None] | None = None
    """The upload's explicit mapping, source header or key → field key or None
    (`ingest.matching`); only with a schema."""
    saved: dict[str, dict[str, str | None]] = msgspec.field(default_factory=dict)
    """The project's remembered mappings by header fingerprint (`store.mappings`)."""
    preview_rows: int = 0
    """A preview (`service.preview`): read only this many rows and answer `preview`; 0: a
    whole ingestion."""
    sheet_cells: bool = False
    """Read the one file's first visible sheet as it is, after the same pre-checks as an
    upload, and answer `cells` frames then `done` (no rows): the corrected issues report of
    `service.corrections`, which is compared cell by cell and never ingested."""


class RowsFrame(msgspec.Struct, frozen=True, tag="rows"):
    rows: list[RowRecord[msgspec.Raw, msgspec.Raw]]
    """The parser's rows, their `data` and messages left as JSON."""
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


class PreviewFrame(msgspec.Struct, frozen=True, tag="preview"):
    """A preview's one answer: the first rows, the columns as far as they tell, the matching."""

    rows: list[RowRecord[dict[str, Any], list[ValidationMessage]]]
    columns: list[ColumnMetadata]
    matches: list[ColumnMatch] | None


class CellsFrame(msgspec.Struct, frozen=True, tag="cells"):
    """A chunk of a sheet read as it is (`Request.sheet_cells`)."""

    rows: list[tuple[int, list[Any]]]
    """(1-based row number, cells from column A on, each as `wire_cell` writes it) of each
    non-blank row, top to bottom."""


Frame = RowsFrame | AmendFrame | DoneFrame | ErrorFrame | PreviewFrame | CellsFrame

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


_TEMPORAL: dict[str, Callable[[str], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
}


def wire_cell(value: Any) -> Any:
    """A cell as it crosses the pipe: JSON's own types as they are (NULs removed from text,
    as PostgreSQL cannot store them), a date, date-time or time as `[kind, ISO text]`, a
    duration as `["duration", seconds]` (calamine never gives a list, so this is unambiguous)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dt.datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, dt.time):
        return ["time", value.isoformat()]
    if isinstance(value, dt.timedelta):
        return ["duration", value.total_seconds()]
    return value


def cell_from_wire(value: Any) -> Any:
    """The cell that `wire_cell` wrote."""
    if not isinstance(value, list):
        return value
    kind, given = value
    if kind == "duration":
        return dt.timedelta(seconds=given)
    return _TEMPORAL[kind](given)


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def encode_request(request: Request) -> bytes:
    return msgspec.json.encode(request, enc_hook=str)


def decode_request(data: bytes) -> Request:
    return msgspec.json.decode(data, type=Request, dec_hook=_dec_hook)


frame_decoder = msgspec.json.Decoder(Frame)


def send(channel: BinaryIO, payload: bytes) -> None:
    """Write one frame (its JSON) to `channel`, length first."""
    channel.write(_LENGTH.pack(len(payload)))
    channel.write(payload)
