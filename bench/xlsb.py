"""A small writer of xlsb workbooks, for the tests and the benchmarks: no Python library writes
the format.

It writes the records of MS-XLSB that a reader needs (the sheet list in `xl/workbook.bin`,
the sheet data in one part per sheet), without styles or shared strings: numbers are
`BrtCellReal`, text `BrtCellSt`, booleans `BrtCellBool`. Whatever it writes is checked
against python-calamine, an independent reader, by the tests that use it.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ERROR_CODES = {
    "#NULL!": 0x00,
    "#DIV/0!": 0x07,
    "#VALUE!": 0x0F,
    "#REF!": 0x17,
    "#NAME?": 0x1D,
    "#N/A": 0x2A,
}


@dataclass(frozen=True)
class ErrorValue:
    """An error constant (`BrtCellError`)."""

    text: str


@dataclass(frozen=True)
class FormulaError:
    """A formula whose cached result is an error (`BrtFmlaError`)."""

    text: str


class Blank:
    """A cell with a style but no value (`BrtCellBlank`)."""


BLANK = Blank()


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: Sequence[Sequence[object]] | Mapping[int, Sequence[object]]
    """Rows from `first_row` on, or by 0-based row index; cells from column A, None leaving
    a cell out."""
    hidden: bool = False
    first_row: int = 0


def record(kind: int, body: bytes = b"") -> bytes:
    """A BIFF12 record: type in 1 or 2 bytes, size in 1 to 4, 7 bits each, low bits first."""
    head = bytes([kind]) if kind < 0x80 else bytes([(kind & 0x7F) | 0x80, kind >> 7])
    size, packed = len(body), bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        packed.append(byte | (0x80 if size else 0))
        if not size:
            return head + bytes(packed) + body


def wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def cell(column: int, value: object) -> bytes:
    at = struct.pack("<I", column) + b"\x00\x00\x00\x00"  # column, style 0, no flags
    if isinstance(value, Blank):
        return record(0x01, at)
    if isinstance(value, ErrorValue):
        return record(0x03, at + bytes([ERROR_CODES[value.text]]))
    if isinstance(value, FormulaError):
        formula = struct.pack("<I", 0) + struct.pack("<I", 0)  # no tokens, no extra data
        return record(0x0B, at + bytes([ERROR_CODES[value.text]]) + b"\x00\x00" + formula)
    if isinstance(value, bool):
        return record(0x04, at + bytes([value]))
    if isinstance(value, int | float):
        return record(0x05, at + struct.pack("<d", value))
    if isinstance(value, str):
        return record(0x06, at + wide(value))
    raise TypeError(value)


def sheet_part(sheet: Sheet) -> bytes:
    rows = dict(
        sheet.rows if isinstance(sheet.rows, Mapping) else enumerate(sheet.rows, sheet.first_row)
    )
    width = max((len(row) for row in rows.values()), default=1)
    dimension = struct.pack("<IIII", min(rows, default=0), max(rows, default=0), 0, width - 1)
    out = [record(0x81), record(0x94, dimension), record(0x91)]
    for index, row in sorted(rows.items()):
        header = struct.pack("<IIH", index, 0, 0) + b"\x00\x00\x00" + struct.pack("<I", 0)
        out.append(record(0x00, header))
        out.extend(cell(column, value) for column, value in enumerate(row) if value is not None)
    out += [record(0x92), record(0x82)]
    return b"".join(out)


def xlsb_bytes(sheets: Sequence[Sheet]) -> bytes:
    workbook = [record(0x83), record(0x8F)]
    relationships = []
    for number, sheet in enumerate(sheets, 1):
        state = struct.pack("<II", 1 if sheet.hidden else 0, number)
        workbook.append(record(0x9C, state + wide(f"rId{number}") + wide(sheet.name)))
        relationships.append(
            f'<Relationship Id="rId{number}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{number}.bin"/>'
        )
    workbook += [record(0x90), record(0x9D, b"\x00" * 26), record(0x84)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary'
            '.macroEnabled.main"/></Types>',
        )
        archive.writestr(
            "xl/_rels/workbook.bin.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships">'
            + "".join(relationships)
            + "</Relationships>",
        )
        archive.writestr("xl/workbook.bin", b"".join(workbook))
        for number, sheet in enumerate(sheets, 1):
            archive.writestr(f"xl/worksheets/sheet{number}.bin", sheet_part(sheet))
    return buffer.getvalue()
