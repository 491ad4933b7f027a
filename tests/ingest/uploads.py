"""Builders of the files the ingestion tests upload, and a one-call ingestion.

Every fixture is generated here, in the test's temporary directory: CSV from bytes,
xlsx with xlsxwriter (formulas carry cached values, as Excel saves them), xls with xlwt,
ods with odfpy, and hand-made ZIPs for the hostile cases (rewritten workbooks, archives
that lie about their sizes, XML entity bombs).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import xlsxwriter
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from bench import xlsb
from service.entities import BatchMode
from service.ingest import ParsedRow, Parser, Profile, Source, parse_rows, profile
from service.settings import Settings

LIST = BatchMode.LIST_MODE
PROFILE = BatchMode.PROFILE_MODE


def write_bytes(directory: Path, name: str, content: bytes) -> Source:
    path = directory / f"upload-{len(list(directory.iterdir()))}"
    path.write_bytes(content)
    return Source(path, name)


def xls_record(kind: int, body: bytes = b"") -> bytes:
    """A BIFF record of an xls workbook stream: type, size, body."""
    return struct.pack("<HH", kind, len(body)) + body


def xlsb_source(directory: Path, name: str, sheets: Sequence[xlsb.Sheet]) -> Source:
    return write_bytes(directory, name, xlsb.xlsb_bytes(sheets))


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


ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
ODS_MANIFEST = (
    b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    b'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    b'<manifest:file-entry manifest:full-path="/" manifest:media-type="' + ODS_MIMETYPE + b'"/>'
    b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    b"</manifest:manifest>"
)


def ods_content(tables: bytes) -> bytes:
    """The root element of an ods content.xml whose spreadsheet holds `tables`."""
    return (
        b"<office:document-content "
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        b'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" '
        b'office:version="1.2">'
        b"<office:body><office:spreadsheet>" + tables + b"</office:spreadsheet></office:body>"
        b"</office:document-content>"
    )


def ods_archive(document: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """An ods archive: the mimetype first and stored, `document` as content.xml."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", ODS_MIMETYPE, zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", ODS_MANIFEST, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", document, zipfile.ZIP_DEFLATED)
        for name, data in (extra or {}).items():
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


INDENTED_TABLES = b"""
   <table:table table:name="Sheet1" table:style-name="ta1">
 <table:table-column/>
 <table:table-row>
  <table:table-cell office:value-type="string">
   <text:p>Cidade</text:p>
  </table:table-cell>
  <table:table-cell office:value-type="string">
   <text:p>Hab</text:p>
  </table:table-cell>
 </table:table-row>
 <table:table-row>
  <table:table-cell office:value-type="string">
   <text:p><text:span>New</text:span> <text:span>York</text:span></text:p>
  </table:table-cell>
  <table:table-cell office:value-type="float" office:value="8.3">
   <text:p>8.3</text:p>
  </table:table-cell>
 </table:table-row>
 <table:table-row>
  <table:table-cell office:value-type="string">
   <text:p>Rio</text:p>
   <text:p>de Janeiro</text:p>
  </table:table-cell>
  <table:table-cell office:value-type="float" office:value="6" table:formula="=2*3">
   <text:p>6</text:p>
  </table:table-cell>
 </table:table-row>
</table:table>
"""


def indented_ods(directory: Path, *, mimetype: bool = True) -> Path:
    """An ods whose content.xml is indented as KSpread writes it: whitespace between rows
    and cells, which python-calamine 0.9.1 refuses ("Expecting 'table-cell', found Text")."""
    data = ods_archive(ods_content(INDENTED_TABLES))
    path = directory / "upload-kspread"
    path.write_bytes(data)
    if mimetype:
        return path
    bare = directory / "upload-kspread-bare"
    with zipfile.ZipFile(path) as whole, zipfile.ZipFile(bare, "w", zipfile.ZIP_DEFLATED) as copy:
        for member in whole.infolist():
            if member.filename != "mimetype":
                copy.writestr(member.filename, whole.read(member))
    return bare


def padded(source: Source, name: str, sheet_part: str = "xl/worksheets/sheet2.xml") -> Source:
    """`source` with every number of one sheet written `<c r="E2" t="n"><v> 41</v></c>`, as
    R's openxlsx writes some sheets, which python-calamine 0.9.1 refuses ("Parse float
    error")."""
    with zipfile.ZipFile(source.path) as archive:
        xml = archive.read(sheet_part)
    spaced = re.sub(
        rb'(<c r="[A-Z]+[0-9]+")((?: s="[0-9]+")?)><v>([0-9.]+)</v>', rb'\1\2 t="n"><v> \3</v>', xml
    )
    assert spaced != xml
    return rezip(source, name, {sheet_part: spaced})


def two_sheets(tmp_path: Path) -> Source:
    def build(book: xlsxwriter.Workbook) -> None:
        first = book.add_worksheet("iris")
        first.write_row(0, 0, ["species", "length"])
        first.write_row(1, 0, ["setosa", 5.1])
        second = book.add_worksheet("quakes")
        second.write_row(0, 0, ["species", "length", "stations"])
        second.write_row(1, 0, ["virginica", 6.5, 41])
        second.write_row(2, 0, ["versicolor", 7, 15])

    return xlsx_source(tmp_path, "x.xlsx", build)


def encrypted_archive(data: bytes) -> bytes:
    """A ZIP with the "encrypted" flag set on every member, in local and central headers."""
    flagged = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := flagged.find(signature, start)) >= 0:
            flagged[start + offset] |= 1
            start += 4
    return bytes(flagged)


def rezip(source: Source, name: str, replace: dict[str, bytes]) -> Source:
    """A copy of a ZIP workbook with some members replaced or added."""
    path = source.path.with_name(source.path.name + "-hostile")
    with zipfile.ZipFile(source.path) as original, zipfile.ZipFile(path, "w") as copy:
        for member in original.infolist():
            content = replace.pop(member.filename, None) or original.read(member)
            copy.writestr(member, content, zipfile.ZIP_DEFLATED)
        for member_name, content in replace.items():
            copy.writestr(member_name, content, zipfile.ZIP_DEFLATED)
    return Source(path, name)


def lying_zip(content: bytes, declared: int) -> bytes:
    """A one-member ZIP whose headers say `declared` bytes for a bigger deflated member."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(content) + compressor.flush()
    name = b"xl/worksheets/sheet1.xml"
    crc = zlib.crc32(content)
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), declared, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(data),
        declared,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory = central + name
    end = struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        1,
        1,
        len(directory),
        len(local) + len(name) + len(data),
        0,
    )
    return local + name + data + directory + end


def billion_laughs(root: bytes) -> bytes:
    """An XML document whose root element `root` may use `&lol9;`: declarations that expand
    it "billion laughs" style, to 10^9 copies of `lol`."""
    return (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
            for n in range(1, 10)
        )
        + b"]>"
        + root
    )


def entity_bomb(tmp_path: Path, name: str = "lol.xlsx") -> Source:
    """An xlsx whose shared strings are a billion laughs."""
    laughs = billion_laughs(
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
        b'uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    )
    return rezip(table_xlsx(tmp_path, "x", [["a"], ["b"]]), name, {"xl/sharedStrings.xml": laughs})


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
    reading = Parser(sources, mode, sheet, settings)
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
