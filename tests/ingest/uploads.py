"""Builders of the files the ingestion tests upload, and a one-call ingestion.

Every fixture is generated here, in the test's temporary directory: CSV from bytes,
xlsx with xlsxwriter (formulas carry cached values, as Excel saves them), xls with xlwt,
ods with odfpy, and hand-made ZIPs for the hostile cases.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import xlsxwriter
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from service.entities import BatchMode
from service.ingest import ParsedRow, Profile, Reading, Source, parse_rows, profile
from service.settings import Settings

LIST = BatchMode.LIST_MODE
PROFILE = BatchMode.PROFILE_MODE


def write_bytes(directory: Path, name: str, content: bytes) -> Source:
    path = directory / f"upload-{len(list(directory.iterdir()))}"
    path.write_bytes(content)
    return Source(path, name)


def csv_source(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Source:
    return write_bytes(directory, name, text.encode(encoding))


def xlsx_source(directory: Path, name: str, build: Callable[[xlsxwriter.Workbook], None]) -> Source:
    path = directory / f"upload-{len(list(directory.iterdir()))}"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_urls": False})
    build(book)
    book.close()
    return Source(path, name)


def table_xlsx(
    directory: Path, name: str, rows: Sequence[Sequence[Any]], sheet: str = "Data"
) -> Source:
    """An xlsx whose sheet holds `rows` from A1 (None leaves a cell blank)."""

    def build(book: xlsxwriter.Workbook) -> None:
        worksheet = book.add_worksheet(sheet)
        for row_index, row in enumerate(rows):
            for column_index, value in enumerate(row):
                if value is not None:
                    worksheet.write(row_index, column_index, value)

    return xlsx_source(directory, name, build)


def xls_source(directory: Path, name: str, build: Callable[[xlwt.Workbook], None]) -> Source:
    path = directory / f"upload-{len(list(directory.iterdir()))}"
    book = xlwt.Workbook()
    build(book)
    book.save(str(path))
    return Source(path, name)


def ods_source(directory: Path, name: str, sheets: dict[str, Sequence[Sequence[Any]]]) -> Source:
    """An ods with one table per entry; str cells are text, int/float are numbers."""
    document = OpenDocumentSpreadsheet()
    for sheet_name, rows in sheets.items():
        table = Table(name=sheet_name)
        for row in rows:
            table_row = TableRow()
            for value in row:
                if value is None:
                    table_row.addElement(TableCell())
                elif isinstance(value, str):
                    cell = TableCell(valuetype="string")
                    cell.addElement(P(text=value))
                    table_row.addElement(cell)
                else:
                    cell = TableCell(valuetype="float", value=value)
                    cell.addElement(P(text=str(value)))
                    table_row.addElement(cell)
            table.addElement(table_row)
        document.spreadsheet.addElement(table)
    path = directory / f"upload-{len(list(directory.iterdir()))}"
    document.save(str(path))
    return Source(path, name)


def zip_source(directory: Path, name: str, members: dict[str, bytes]) -> Source:
    path = directory / f"upload-{len(list(directory.iterdir()))}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return Source(path, name)


def ingest(
    sources: Sequence[Source],
    mode: BatchMode = LIST,
    sheet: str | None = None,
    settings: Settings | None = None,
) -> tuple[Profile, list[ParsedRow]]:
    """A whole read as the worker does it: the rows, then their amendments applied.

    Where the read is one pass (list mode over one sheet), the two-pass read of the same
    files must give exactly the same rows and columns: both ways are checked by every test."""
    settings = settings or Settings()
    reading = Reading(sources, mode, sheet, settings)
    rows = [row for chunk in reading.chunks() for row in chunk]
    for amendment in reading.amendments():
        row = rows[amendment.position]
        assert amendment.previous == row.status
        rows[amendment.position] = row._replace(
            status=amendment.status, validation_messages=amendment.validation_messages
        )
    found = reading.profile
    assert found.row_count == len(rows)
    assert [row.position for row in rows] == list(range(len(rows)))
    crossed = msgspec.msgpack.decode(msgspec.msgpack.encode(found), type=Profile)
    assert crossed == found
    assert msgspec.json.decode(msgspec.json.encode(found), type=Profile) == found
    two_pass = profile(sources, mode, sheet, settings)
    assert two_pass.columns == found.columns
    assert two_pass.files == found.files
    assert [
        row for chunk in parse_rows(sources, mode, sheet, settings, two_pass) for row in chunk
    ] == rows
    return found, rows


def read(
    sources: Sequence[Source],
    mode: BatchMode = LIST,
    sheet: str | None = None,
    settings: Settings | None = None,
) -> list[ParsedRow]:
    """The rows of an ingestion, for tests that need nothing else."""
    return ingest(sources, mode, sheet, settings)[1]


def keys(found: Profile) -> list[str]:
    return [column.normalized_key for column in found.columns]


def types(found: Profile) -> dict[str, str]:
    return {column.normalized_key: str(column.inferred_type) for column in found.columns}


def messages(row: ParsedRow) -> list[tuple[str, str]]:
    return [(message.field, message.type) for message in row.validation_messages]
