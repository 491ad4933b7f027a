"""Builders of hostile files. A `Build` takes the test's temporary directory and returns the
bytes to upload; most wrap the workbook builders of `tests.ingest.uploads` and bend what
they write: members replaced, dropped or lying about their size, hand-written sheet XML,
truncated files, files glued together."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter
import xlwt

from service.ingest import Source
from tests.ingest.uploads import (
    encrypted_archive,
    ods_archive,
    ods_content,
    ods_source,
    rezip,
    table_xlsx,
    xls_source,
    xlsx_source,
    zip_source,
)

Build = Callable[[Path], bytes]


def content(source: Source) -> bytes:
    return source.path.read_bytes()


def raw(data: bytes) -> Build:
    return lambda tmp: data


def text(body: str, encoding: str = "utf-8") -> Build:
    return lambda tmp: body.encode(encoding)


def table(rows: Sequence[Sequence[Any]], sheet: str = "Data") -> Build:
    """An xlsx (xlsxwriter) with `rows` from A1."""
    return lambda tmp: content(table_xlsx(tmp, "x", rows, sheet))


def xlsx(build: Callable[[xlsxwriter.Workbook], None]) -> Build:
    return lambda tmp: content(xlsx_source(tmp, "x", build))


def openpyxl_book(fill: Callable[[openpyxl.Workbook], None]) -> Build:
    """An xlsx written by openpyxl, which stores formulas without cached values."""

    def build(tmp: Path) -> bytes:
        book = openpyxl.Workbook()
        fill(book)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    return build


@dataclass(frozen=True)
class ErrorCell:
    """An xls error constant, by its BIFF code."""

    code: int


def xls(rows: Sequence[Sequence[Any]]) -> Build:
    def build(book: xlwt.Workbook) -> None:
        sheet = book.add_sheet("Data")
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                if isinstance(value, ErrorCell):
                    sheet.row(r).set_cell_error(c, value.code)
                else:
                    sheet.write(r, c, value)

    return lambda tmp: content(xls_source(tmp, "x", build))


def ods(rows: Sequence[Sequence[Any]]) -> Build:
    return lambda tmp: content(ods_source(tmp, "x", {"Data": rows}))


def with_parts(parts: dict[str, bytes] | Callable[[], dict[str, bytes]]) -> Build:
    """A one-sheet xlsx (sheet `Data`: `a` over `b`) with parts replaced or added; a callable
    makes big parts only when the case is built."""

    def build(tmp: Path) -> bytes:
        replace = parts() if callable(parts) else dict(parts)
        return content(rezip(table_xlsx(tmp, "x", [["a"], ["b"]]), "x", replace))

    return build


def worksheet_xml(rows: bytes, doctype: bytes = b"") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        + doctype
        + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + b"<sheetData>"
        + rows
        + b"</sheetData></worksheet>"
    )


def sheet_rows(*rows: bytes) -> Build:
    """A one-sheet xlsx (sheet `Data`) whose sheet XML holds exactly `rows`."""
    return with_parts({"xl/worksheets/sheet1.xml": worksheet_xml(b"".join(rows))})


def row(number: int, *cells: bytes) -> bytes:
    return b'<row r="%d">%s</row>' % (number, b"".join(cells))


def inline(ref: str, value: str) -> bytes:
    """A text cell of hand-written sheet XML."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").encode()
    return b'<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref.encode(), escaped)


def number(ref: str, literal: bytes) -> bytes:
    """A number cell of hand-written sheet XML, its value exactly `literal`."""
    return b'<c r="%s"><v>%s</v></c>' % (ref.encode(), literal)


def raw_ods(tables: bytes) -> Build:
    """An ods whose spreadsheet holds exactly `tables`."""
    return lambda tmp: ods_archive(ods_content(tables))


def ods_table(name: str, *rows: bytes) -> bytes:
    return b'<table:table table:name="%s">%s</table:table>' % (name.encode(), b"".join(rows))


def ods_row(*values: str, repeated: int = 1) -> bytes:
    """A row of text cells, repeated `repeated` times (`table:number-rows-repeated`)."""
    repeat = b' table:number-rows-repeated="%d"' % repeated if repeated > 1 else b""
    cells = b"".join(
        b'<table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell>'
        % value.encode()
        for value in values
    )
    return b"<table:table-row%s>%s</table:table-row>" % (repeat, cells)


def zipped(members: dict[str, bytes]) -> Build:
    return lambda tmp: content(zip_source(tmp, "x", members))


def rearchived(
    build: Build,
    *,
    first: dict[str, bytes] | None = None,
    drop: str | None = None,
    edit: tuple[str, Callable[[bytes], bytes]] | None = None,
) -> Build:
    """The archive rewritten: `first` members stored ahead of all others, `drop` left out,
    `edit` = (member, change) applied to one member."""

    def rewrite(tmp: Path) -> bytes:
        buffer = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(build(tmp))) as original,
            zipfile.ZipFile(buffer, "w") as copy,
        ):
            for name, data in (first or {}).items():
                copy.writestr(name, data, zipfile.ZIP_STORED)
            for info in original.infolist():
                if info.filename == drop:
                    continue
                data = original.read(info)
                if edit is not None and info.filename == edit[0]:
                    data = edit[1](data)
                copy.writestr(info, data, zipfile.ZIP_DEFLATED)
        return buffer.getvalue()

    return rewrite


def lying_member(build: Build, member: str, declared: int) -> Build:
    """The archive with headers that say `member` inflates to `declared` bytes."""

    def lie(tmp: Path) -> bytes:
        data = bytearray(build(tmp))
        size = declared.to_bytes(4, "little")
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            local = archive.getinfo(member).header_offset
        data[local + 22 : local + 26] = size  # uncompressed size in the local header
        start = 0
        while (central := data.find(b"PK\x01\x02", start)) >= 0:
            name_length = int.from_bytes(data[central + 28 : central + 30], "little")
            if data[central + 46 : central + 46 + name_length] == member.encode():
                data[central + 24 : central + 28] = size  # and in the central directory
            start = central + 4
        return bytes(data)

    return lie


def encrypted(build: Build) -> Build:
    return lambda tmp: encrypted_archive(build(tmp))


def truncated(build: Build, keep: float) -> Build:
    """The first `keep` share of the file."""

    def cut(tmp: Path) -> bytes:
        whole = build(tmp)
        return whole[: int(len(whole) * keep)]

    return cut


def glued(*parts: Build) -> Build:
    """The files one after the other (a polyglot when their formats differ)."""
    return lambda tmp: b"".join(part(tmp) for part in parts)
