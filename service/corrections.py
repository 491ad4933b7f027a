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
column, and nothing is applied: the edits go through `review.apply_row_edits` in one
transaction (which re-validates exactly the rows changed, and refuses a batch no longer
pending review with 409).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import IO, Any
from uuid import UUID

import msgspec

from service import export, review
from service.db import Pool, transaction
from service.entities import Batch, StatusCounts
from service.errors import Unprocessable
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


def read_sheet(file: IO[bytes]) -> list[list[Any]]:
    """The first sheet's rows, as python-calamine reads them (blocking: run off the loop)."""
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_filelike(file)
        rows: list[list[Any]] = book.get_sheet_by_index(0).to_python()
    except Exception as error:  # calamine raises its own errors for anything unreadable
        raise Unprocessable(
            "file: not a readable XLSX workbook (send back the issues report)", field="file"
        ) from error
    return rows


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


def row_ids(rows: Sequence[Sequence[Any]]) -> dict[UUID, int]:
    """Each data row's id (column A), with its 1-based row number in the sheet."""
    found: dict[UUID, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if all(_blank(cell) for cell in row):
            continue
        try:
            row_id = UUID(str(row[0]).strip())
        except ValueError:
            raise Unprocessable(
                f"file: row {number} has no row id in column A (keep the hidden Row id column)",
                field="file",
            ) from None
        if row_id in found:
            raise Unprocessable(
                f"file: row {number} repeats the row id of row {found[row_id]}", field="file"
            )
        found[row_id] = number
    return found


def changes(
    rows: Sequence[Sequence[Any]],
    numbers: Mapping[UUID, int],
    current: Mapping[UUID, list[Any]],
    columns: Sequence[export.Column],
) -> dict[UUID, dict[str, Any]]:
    """`{row id: {key: new value}}` for the cells that differ from what the report wrote."""
    edits: dict[UUID, dict[str, Any]] = {}
    for row_id, number in numbers.items():
        row = list(rows[number - 1])
        row += [""] * max(0, len(columns) + 1 - len(row))
        for index, column in enumerate(columns):
            before = current[row_id][index]
            read = row[index + 1]
            if not same(as_written(export.typed(before, column.inferred_type)), read):
                edits.setdefault(row_id, {})[column.key] = stored(read, before)
    return edits


async def apply(
    pool: Pool, batch: Batch, actor_id: UUID, file: IO[bytes], *, max_chars: int
) -> Outcome:
    """Read the corrected report and apply its changed cells (see the module's docstring)."""
    review.ensure_pending(batch)
    rows = await asyncio.to_thread(read_sheet, file)
    if not rows:
        raise Unprocessable("file: the workbook's first sheet is empty", field="file")
    check_header(rows[0], expected_headings(batch))
    numbers = row_ids(rows)
    columns = export.plan([batch], export.Options(format=export.Format.XLSX), with_batch=False)
    async with transaction(pool) as conn:
        current = await store.cells_by_id(conn, batch.id, list(numbers), [c.key for c in columns])
        unknown = [row_id for row_id in numbers if row_id not in current]
        if unknown:
            raise Unprocessable(
                f"file: row {numbers[unknown[0]]} has row id {unknown[0]}, which is no row of "
                f"batch {batch.id}",
                field="file",
            )
        edits = changes(rows, numbers, current, columns)
        if not edits:
            counts = batch.status_counts
            return Outcome(rows_changed=0, cells_changed=0, before=counts, after=counts)
        outcome = await review.apply_row_edits(conn, batch, actor_id, edits, max_chars=max_chars)
    return Outcome(
        rows_changed=outcome.rows_changed,
        cells_changed=outcome.cells_changed,
        before=outcome.counts_before,
        after=outcome.counts_after,
    )
