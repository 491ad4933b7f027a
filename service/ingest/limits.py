"""The refusals of a read that runs into a limit of `Settings` (rows, cell length), worded
once for both passes."""

from __future__ import annotations

from service import errors
from service.ingest.keys import cell_address, column_letter
from service.settings import Settings


def too_many_rows(file: str, sheet: str, row: int, settings: Settings) -> errors.LimitExceeded:
    """The error for the data row `row` of `sheet`, the first one past `max_rows`."""
    limit = settings.max_rows
    return errors.LimitExceeded(
        f"{file!r} has more than {limit:,} data rows (row {row} of sheet "
        f"{sheet!r} is one too many)",
        limit="max_rows",
        value=limit,
        file=file,
        sheet=sheet,
        row=row,
    )


def too_long(
    file: str, sheet: str, row: int, column: int | None, length: int | None, settings: Settings
) -> errors.LimitExceeded:
    where = f"cell {cell_address(row, column)}" if column is not None else f"row {row}"
    size = f" has {length:,} characters" if length is not None else " is too long"
    return errors.LimitExceeded(
        f"In {file!r}, sheet {sheet!r}, {where}{size}; the limit is "
        f"{settings.max_cell_chars:,} characters per cell",
        limit="max_cell_chars",
        value=settings.max_cell_chars,
        file=file,
        sheet=sheet,
        row=row,
        column=column_letter(column) if column is not None else None,
    )
