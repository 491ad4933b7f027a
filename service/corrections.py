"""Corrections: the issues report (`GET …/export?format=xlsx&report=issues`) edited by its
sender and sent back, its changed cells applied to the same rows as audited edits.

The file must be that report: its first sheet's header row exactly the report's (`Row id`,
the batch's original headers in column order, `Messages`), every later non-empty row with a
row id of a live row of this batch in column A, each id once. A cell is changed when the
value read back differs from the one the report wrote for the row as it is now (so the same
file sent back unchanged changes nothing, and a row edited since is compared with its new
values): numbers by value, dates and times as such, an empty cell and an empty text alike.
The `Messages` column is ignored, and so are rows left out of the file. A changed value is
stored as the ingestion would store it: whole numbers as integers, dates, date-times and
times as ISO text, text trimmed, empty as null; where the row held text (a CSV batch) the
new value is stored as text too. Anything wrong with the file is a 422 naming the row or
column, and nothing is applied (a file that is no workbook is a 422 too; one that the
upload's pre-checks and limits refuse, the upload's 413 or 422: see `apply`): the edits go
through `review.apply_row_edits` in one transaction (which re-validates exactly the rows
changed, and refuses a batch no longer pending review with 409).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec

from service import export, review, uploads
from service.db import Connection
from service.entities import Batch, BatchMode, StatusCounts
from service.errors import CorruptFile, LimitExceeded, Unprocessable, UnsupportedFormat
from service.ingest import values
from service.ingestion import protocol
from service.ingestion.pipeline import worker_request
from service.ingestion.sandbox import Worker
from service.settings import Settings
from service.store import export as store


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    rows_changed: int
    cells_changed: int
    before: StatusCounts
    after: StatusCounts


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def expected_headings(batch: Batch) -> list[str]:
    columns = export.plan([batch], export.Options(format=export.Format.XLSX), with_batch=False)
    return [export.ROW_ID_HEADING, *(c.heading for c in columns), export.MESSAGES_HEADING]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def as_written(value: Any) -> Any:
    """A stored value as the report's cell holds it (`export.typed`, then `Sheet.write`)."""
    if type(value) is int and abs(value) > 2**53:
        return str(value)
    if isinstance(value, list | dict):
        return msgspec.json.encode(value).decode()
    return value


def same(written: Any, read: Any) -> bool:
    """Whether the value read back is the one the report wrote."""
    if _blank(written) or _blank(read):
        return _blank(written) and _blank(read)
    if isinstance(written, bool) or isinstance(read, bool):
        return type(written) is type(read) and written == read
    if isinstance(written, int | float) and isinstance(read, int | float):
        return math.isclose(written, read, rel_tol=1e-12, abs_tol=0.0)
    if isinstance(written, dt.datetime) or isinstance(read, dt.datetime):
        return bool(written == read)
    if isinstance(written, dt.date) and isinstance(read, dt.date):
        return written == read
    if isinstance(written, str) and isinstance(read, str):
        return written.strip() == read.strip()
    return bool(written == read)


def stored(read: Any, before: Any) -> Any:
    """The value to store for a changed cell read back as `read` (the row held `before`)."""
    if _blank(read):
        return None
    if isinstance(read, float) and read.is_integer() and abs(read) <= 2**53:
        read = int(read)
    if isinstance(read, dt.datetime):
        value: Any = read.isoformat(timespec="seconds")
    elif isinstance(read, dt.date | dt.time):
        value = read.isoformat()
    elif isinstance(read, dt.timedelta):  # a duration typed in a cell: as the ingestion does
        value = values.iso_duration(read)
    elif isinstance(read, str):
        value = read.strip()
    else:
        value = read
    if isinstance(before, str) and not isinstance(value, str):
        return "true" if value is True else "false" if value is False else str(value)
    return value


def check_header(found: Sequence[Any], expected: Sequence[str]) -> None:
    cells = list(found) + [""] * max(0, len(expected) - len(found))
    for index, heading in enumerate(expected):
        if cells[index] != heading:
            raise Unprocessable(
                f"file: column {column_letter(index)} of the header row is {cells[index]!r}, "
                f"not {heading!r}: send back the issues report with its header row unchanged",
                field="file",
            )
    extra = [str(cell) for cell in cells[len(expected) :] if not _blank(cell)]
    if extra:
        raise Unprocessable(
            f"file: column {column_letter(len(expected))} of the header row is not the "
            f"report's ({extra[0]!r}): add no columns",
            field="file",
        )


Row = tuple[int, list[Any]]
"""A non-blank row of the sheet: its 1-based number, its cells from column A on."""


def row_ids(rows: Sequence[Row], seen: dict[UUID, int]) -> dict[UUID, Row]:
    """Each data row's id (column A) with the row; `seen` holds the ids of the rows before
    (with their numbers), and takes these in."""
    found: dict[UUID, Row] = {}
    for number, cells in rows:
        try:
            row_id = UUID(str(cells[0]).strip())
        except ValueError:
            raise Unprocessable(
                f"file: row {number} has no row id in column A (keep the hidden Row id column)",
                field="file",
            ) from None
        if row_id in seen:
            raise Unprocessable(
                f"file: row {number} repeats the row id of row {seen[row_id]}", field="file"
            )
        seen[row_id] = number
        found[row_id] = (number, cells)
    return found


def changes(
    rows: Mapping[UUID, Row],
    current: Mapping[UUID, list[Any]],
    columns: Sequence[export.Column],
) -> dict[UUID, dict[str, Any]]:
    """`{row id: {key: new value}}` for the cells that differ from what the report wrote."""
    edits: dict[UUID, dict[str, Any]] = {}
    for row_id, (_, cells) in rows.items():
        row = cells + [""] * max(0, len(columns) + 1 - len(cells))
        for index, column in enumerate(columns):
            before = current[row_id][index]
            read = row[index + 1]
            if not same(as_written(export.typed(before, column.inferred_type)), read):
                edits.setdefault(row_id, {})[column.key] = stored(read, before)
    return edits


async def apply(
    conn: Connection, batch: Batch, actor_id: UUID, part: uploads.Part, *, settings: Settings
) -> Outcome:
    """Read the corrected report and apply its changed cells (see the module's docstring).

    The file is spooled to disk and read by a parsing worker (`service.ingestion`), never in
    this process: a corrections file is as hostile as any upload, so it gets the upload's
    limits and pre-checks (size, format, zip bomb, far cells, used range), the worker's
    memory and CPU limits, and the upload's deadline, and is refused with the same 4xx.
    The rows arrive in chunks and are compared chunk by chunk with the stored rows, on
    `conn` (the one holding the request's upload slots, `service.admission`), in the
    transaction that applies the edits: what this process holds grows with the row ids seen
    (to refuse a repeated one) and the changed cells, never with the sheet.
    """
    review.ensure_pending(batch)
    expected = expected_headings(batch)
    columns = export.plan([batch], export.Options(format=export.Format.XLSX), with_batch=False)
    deadline = asyncio.timeout(settings.ingest_timeout_seconds)
    with tempfile.TemporaryDirectory(
        prefix="sheetflow-corrections-", ignore_cleanup_errors=True
    ) as scratch:
        source = await uploads.spool(part, Path(scratch) / uploads.spooled_name(0, part), settings)
        request = worker_request([source], BatchMode.LIST_MODE, None, settings, scratch)
        worker = await Worker.start(msgspec.structs.replace(request, sheet_cells=True))
        try:
            async with deadline, conn.transaction():
                edits = await _read_changes(conn, worker, batch, expected, columns)
                if not edits:
                    counts = batch.status_counts
                    return Outcome(rows_changed=0, cells_changed=0, before=counts, after=counts)
                outcome = await review.apply_row_edits(
                    conn, batch, actor_id, edits, max_chars=settings.max_cell_chars
                )
        except TimeoutError:
            if not deadline.expired():
                raise
            limit = settings.ingest_timeout_seconds
            raise LimitExceeded(
                f"{source.name}: reading it took longer than {limit:g} seconds, the limit "
                "per upload",
                limit="ingest_timeout_seconds",
                value=round(limit),
                file=source.name,
            ) from None
        except UnsupportedFormat as error:
            raise Unprocessable(
                f"file: not a readable XLSX workbook (send back the issues report): {error.detail}",
                field="file",
            ) from None
        finally:
            await worker.close()
    return Outcome(
        rows_changed=outcome.rows_changed,
        cells_changed=outcome.cells_changed,
        before=outcome.counts_before,
        after=outcome.counts_after,
    )


async def _read_changes(
    conn: Connection,
    worker: Worker,
    batch: Batch,
    expected: Sequence[str],
    columns: Sequence[export.Column],
) -> dict[UUID, dict[str, Any]]:
    """The edits of the worker's rows, chunk by chunk: the header checked first, then each
    chunk's row ids checked and its rows compared with the stored ones."""
    keys = [column.key for column in columns]
    seen: dict[UUID, int] = {}
    edits: dict[UUID, dict[str, Any]] = {}
    header_checked = False
    while not isinstance(frame := await worker.frame(), protocol.DoneFrame):
        if not isinstance(frame, protocol.CellsFrame):
            raise CorruptFile(f"{', '.join(worker.names)}: the file could not be parsed")
        rows = [(number, list(map(protocol.cell_from_wire, cells))) for number, cells in frame.rows]
        if not header_checked:
            header = rows.pop(0)[1] if rows and rows[0][0] == 1 else []
            check_header(header, expected)
            header_checked = True
        numbered = row_ids(rows, seen)
        current = await store.cells_by_id(conn, batch.id, list(numbered), keys)
        unknown = [row_id for row_id in numbered if row_id not in current]
        if unknown:
            raise Unprocessable(
                f"file: row {numbered[unknown[0]][0]} has row id {unknown[0]}, which is no row "
                f"of batch {batch.id}",
                field="file",
            )
        edits.update(changes(numbered, current, columns))
    if not header_checked:
        raise Unprocessable("file: the workbook's first sheet is empty", field="file")
    return edits
