"""Reading uploaded files, as both passes do: the per-file limit and format, the CSV record
stream, and the small facts about rows and cells that both passes share."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from service import errors
from service.ingest import delimited
from service.ingest.delimited import TextDialect
from service.ingest.formats import FileFormat, detect_format
from service.ingest.keys import cell_address, column_index, column_letter
from service.ingest.plans import Source
from service.settings import Settings

CHUNK_ROWS = 2048
"""Rows handled together: enough to amortise per-chunk work, small enough to stay flat."""

UNLIMITED = 1 << 62
"""A character limit that never bites: pass 2 of a two-pass read re-reads values that pass 1
already measured."""


def open_source(source: Source, settings: Settings) -> FileFormat:
    """The format of an upload, once its size is within `max_file_bytes`."""
    size = source.path.stat().st_size
    if size > settings.max_file_bytes:
        raise errors.LimitExceeded(
            f"{source.name!r} is {size:,} bytes; the limit is {settings.max_file_bytes:,} per file",
            limit="max_file_bytes",
            value=settings.max_file_bytes,
            file=source.name,
        )
    return detect_format(source.path, source.name)


def csv_dialect(source: Source) -> TextDialect:
    """Encoding and delimiter of a CSV file. A file whose first 64 KiB are UTF-8 but whose
    rest is not is read in its legacy encoding (`delimited.legacy_encoding`): the whole
    file is checked first, so that reading can stream rows out from the first record."""
    dialect = delimited.sniff(source.path, source.name)
    if dialect.encoding == "utf-8" and not delimited.is_utf8_file(source.path):
        legacy = delimited.legacy_encoding(delimited.non_utf8_sample(source.path))
        dialect = TextDialect(encoding=legacy, delimiter=dialect.delimiter)
    return dialect


def csv_sheet_name(file: str) -> str:
    """The sheet name of a CSV file: its name without extension (what Excel shows)."""
    return PurePosixPath(file.replace("\\", "/")).stem or file


def csv_rows(stream: Any, dialect: TextDialect, file: str) -> Iterator[tuple[int, list[str]]]:
    """(record number, fields) of every non-blank record of an open CSV file; a record is
    blank when its fields hold nothing but whitespace and NUL characters (which are removed)."""
    number = 0
    try:
        for number, record in enumerate(delimited.records(stream, dialect), 1):
            # `any` settles most records; only a blank-looking first field costs a join.
            if not any(record) or (
                not record[0].replace("\x00", "").strip()
                and not "".join(record).replace("\x00", "").strip()
            ):
                continue
            yield number, record
    except UnicodeDecodeError as error:
        raise undecodable(file, dialect, error) from None
    except csv.Error as error:
        failed = number + 1
        if "field larger than field limit" in str(error):
            raise TooLongField(failed) from None
        raise errors.CorruptFile(
            f"{file!r} cannot be read as CSV at record {failed} ({error})",
            file=file,
            row=failed,
        ) from None


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


def no_header(file: str, *, csv: bool, sheet: str | None) -> errors.CorruptFile:
    """The error for an upload with no header row to read: an empty CSV file, or a workbook
    whose visible sheets (or the `sheet` asked for) are all empty."""
    if csv:
        return errors.CorruptFile(f"{file!r} has no header row: it is empty", file=file)
    if sheet is None:
        return errors.CorruptFile(f"{file!r} has no data: every visible sheet is empty", file=file)
    return errors.CorruptFile(f"Sheet {sheet!r} of {file!r} is empty", file=file, sheet=sheet)


class TooLongField(Exception):
    def __init__(self, row: int) -> None:
        super().__init__(row)
        self.row = row


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


def fit_record(cells: list[Any], width: int) -> list[Any]:
    """A CSV record cut or padded to the header's width."""
    if len(cells) > width:
        return cells[:width]
    return cells + [""] * (width - len(cells))


def undecodable(file: str, dialect: TextDialect, error: UnicodeDecodeError) -> errors.CorruptFile:
    return errors.CorruptFile(
        f"{file!r} is not valid {dialect.encoding} text ({error.reason}); save it as UTF-8",
        file=file,
    )


def split_address(address: str) -> tuple[int, int]:
    """(1-based row, 0-based column) of an A1 address."""
    letters = len(address) - len(address.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return int(address[letters:]), column_index(address[:letters])
