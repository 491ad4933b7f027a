"""Records of the binary Excel formats, read for what python-calamine 0.9 drops:
their error cells (`#DIV/0!`, `#N/A`…), which it hands over as empty cells
(dimastbk/python-calamine#105).

- **xls** (BIFF8 or BIFF5 records in the `Workbook` stream of an OLE2 compound file,
  opened with `olefile`): `xls_error_cells` walks the stream once. Its globals give each
  sheet's name and offset (`BoundSheet8`); each sheet's records give the error constants
  (`BoolErr` with fError set) and the formulas whose cached result is an error
  (`Formula`). Charts and other substreams nested in a sheet are skipped, as calamine
  skips them. The stream is read into memory, as calamine reads it (an upload is at most
  `max_file_bytes`), but only the error cells are kept: xlrd, which also reads error
  cells, would hold every cell of the workbook as a Python object.
- **xlsb** (BIFF12 records in ZIP members): `XlsbCells` is fed a worksheet part as the
  pre-checks (`guards`) inflate it, and gives the sheet's extent (for their far-cell and
  width checks) and its error cells, both error constants (`BrtCellError`) and formulas
  whose cached result is an error (`BrtFmlaError`, which calamine leaves out of the sheet
  altogether). `xlsb_sheets` reads the sheet list of `xl/workbook.bin`.

Reading stays lenient: a record cut short ends the walk with what was found. The file has
already been read by calamine or will be, and calamine's answer about a damaged file is the
one the user gets; these walks only add the error cells calamine leaves out.
"""

from __future__ import annotations

import codecs
import logging
import struct
from collections.abc import Iterator
from pathlib import Path

import olefile

from service.ingest.keys import cell_address

logger = logging.getLogger(__name__)

ERROR_TEXTS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}
"""The error codes shared by BIFF8 and BIFF12, as Excel shows them."""

# xls (MS-XLS) record types
_BOF = 0x0809
_EOF = 0x000A
_CODEPAGE = 0x0042
_BOUND_SHEET = 0x0085
_BOOL_ERR = 0x0205
_FORMULA = 0x0006
_BIFF5 = 0x0500
_BIFF8 = 0x0600
_CODECS = {367: "ascii", 1200: "utf-16-le", 10000: "mac_roman", 32768: "mac_roman", 32769: "cp1252"}
_WORKBOOK_STREAMS = ("Workbook", "Book")

# xlsb (MS-XLSB) record types
_ROW_HEADER = 0x0000
_CELL_ERROR = 0x0003
_FORMULA_ERROR = 0x000B
_CELL_BLANK = 0x0001
_LAST_CELL = 0x000B
_BEGIN_SHEET_DATA = 0x0091
_END_SHEET_DATA = 0x0092
_BUNDLE_SHEET = 0x009C
_END_BUNDLE_SHEETS = 0x0090
_LAST_ROW = 0x0010_0000
"""calamine stops reading an xlsb sheet at a row header past this index."""
_U32 = struct.Struct("<I")


def error_text(code: int) -> str:
    return ERROR_TEXTS.get(code, "#ERROR")


def xls_error_cells(path: Path, file: str) -> dict[str, dict[str, str]]:
    """Sheet name → A1 address → error text, for every sheet of an xls workbook."""
    try:
        with olefile.OleFileIO(str(path)) as container:
            stream = next((s for s in _WORKBOOK_STREAMS if container.exists(s)), None)
            if stream is None:
                return {}
            data = container.openstream(stream).read()
    except Exception as error:  # calamine's verdict on a damaged file is the one given
        logger.info("the error cells of %r are not known: %s", file, error)
        return {}
    return xls_stream_error_cells(data)


def xls_stream_error_cells(data: bytes) -> dict[str, dict[str, str]]:
    """`xls_error_cells` of the workbook stream `data`: any bytes give an answer."""
    found: dict[str, dict[str, str]] = {}
    for offset, name in _xls_sheets(data):
        cells = _xls_sheet_errors(data, offset)
        if cells:
            found.setdefault(name, {}).update(cells)
    return found


def _xls_records(data: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + 4 <= len(data):
        kind, size = struct.unpack_from("<HH", data, offset)
        body = data[offset + 4 : offset + 4 + size]
        if len(body) < size:
            return
        yield kind, body
        offset += 4 + size


def _xls_sheets(data: bytes) -> list[tuple[int, str]]:
    """(stream offset, name) of each sheet, from the workbook globals: Unicode names in BIFF8
    (Excel 97 on), names in the workbook's codepage in BIFF5 (Excel 5 and 95)."""
    biff8 = True
    codepage = "cp1252"
    sheets = []
    for kind, body in _xls_records(data, 0):
        if kind == _BOF and len(body) >= 2:
            version = struct.unpack_from("<H", body)[0]
            if version not in (_BIFF5, _BIFF8):
                return []
            biff8 = version == _BIFF8
        elif kind == _CODEPAGE and len(body) >= 2:
            codepage = _codec(struct.unpack_from("<H", body)[0])
        elif kind == _BOUND_SHEET and len(body) >= 8:
            name = (
                _short_string(body[6:])
                if biff8
                else body[7 : 7 + body[6]].decode(codepage, "replace")
            )
            sheets.append((struct.unpack_from("<I", body)[0], name.replace("\0", "")))
        elif kind == _EOF:
            break
    return sheets


def _codec(codepage: int) -> str:
    """The Python codec of a Windows codepage number (BIFF5 names are in it)."""
    codec = _CODECS.get(codepage, f"cp{codepage}")
    try:
        codecs.lookup(codec)
    except LookupError:
        return "cp1252"
    return codec


def _short_string(body: bytes) -> str:
    """A ShortXLUnicodeString: a length, flags, then Latin-1 or UTF-16LE characters."""
    length = body[0]
    if body[1] & 0x01:
        return body[2 : 2 + 2 * length].decode("utf-16-le", "replace")
    return body[2 : 2 + length].decode("latin-1")


def _xls_sheet_errors(data: bytes, offset: int) -> dict[str, str]:
    cells: dict[str, str] = {}
    depth = 0
    for kind, body in _xls_records(data, offset):
        if kind == _BOF:
            depth += 1
        elif kind == _EOF:
            depth -= 1
            if depth <= 0:
                break
        elif depth != 1:
            continue  # a chart or other substream nested in the sheet
        elif kind == _BOOL_ERR and len(body) >= 8 and body[7] == 1:
            row, column = struct.unpack_from("<HH", body)
            cells[cell_address(row + 1, column)] = error_text(body[6])
        elif kind == _FORMULA and len(body) >= 14 and body[6] == 2 and body[12:14] == b"\xff\xff":
            row, column = struct.unpack_from("<HH", body)
            cells[cell_address(row + 1, column)] = error_text(body[8])
    return cells


def _xlsb_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The (type, body) records of a whole xlsb part held in memory."""
    at = 0
    while (header := _xlsb_header(data, at)) is not None:
        kind, size, at = header
        if at + size > len(data):
            return
        yield kind, data[at : at + size]
        at += size


def _xlsb_header(data: bytes, at: int) -> tuple[int, int, int] | None:
    """(type, body size, body offset) of the record at `at`, or None if `data` ends first:
    the type is 1 or 2 bytes and the size 1 to 4, 7 bits each, low bits first."""
    end = len(data)
    if at >= end:
        return None
    kind = data[at]
    at += 1
    if kind & 0x80:
        if at >= end:
            return None
        kind = (kind & 0x7F) | ((data[at] & 0x7F) << 7)
        at += 1
    size = 0
    for shift in (0, 7, 14, 21):
        if at >= end:
            return None
        byte = data[at]
        at += 1
        size |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    return kind, size, at


def xlsb_sheets(workbook: bytes) -> list[tuple[str, str, int]]:
    """(relationship id, sheet name, visibility) of each sheet of `xl/workbook.bin`, in
    workbook order; visibility is 0 visible, 1 hidden, 2 very hidden."""
    sheets = []
    for kind, body in _xlsb_records(workbook):
        if kind == _END_BUNDLE_SHEETS:
            break
        if kind != _BUNDLE_SHEET or len(body) < 12:
            continue
        state = struct.unpack_from("<I", body)[0]
        relationship, at = _wide_string(body, 8)
        name, _ = _wide_string(body, at)
        if relationship is not None and name is not None:
            sheets.append((relationship, name, state))
    return sheets


def _wide_string(body: bytes, at: int) -> tuple[str | None, int]:
    """An XLNullableWideString: a character count (0xFFFFFFFF for none), then UTF-16LE."""
    if at + 4 > len(body):
        return None, at
    count = struct.unpack_from("<I", body, at)[0]
    if count == 0xFFFFFFFF:
        return None, at + 4
    end = at + 4 + 2 * count
    if end > len(body):
        return None, at
    return body[at + 4 : end].decode("utf-16-le", "replace"), end


class XlsbCells:
    """The extent and error cells of one xlsb worksheet part, fed in chunks of any size.

    Value cells count as calamine counts them (blank cells, styling only, do not): `rows` is
    the 1-based number of the last row holding one, `columns` the 1-based number of the last
    column. `errors` maps (row, column), 0-based, to an error code. `too_wide` is the first
    (row, column), 0-based, at or past `max_columns`. Only the first bytes of a record are
    kept across chunks, so a huge record costs no memory."""

    __slots__ = (
        "carry",
        "columns",
        "ended",
        "errors",
        "in_data",
        "max_columns",
        "row",
        "rows",
        "skip",
        "too_wide",
    )

    def __init__(self, max_columns: int) -> None:
        self.max_columns = max_columns
        self.carry = b""
        self.skip = 0
        self.row = 0
        self.in_data = False
        self.ended = False
        self.rows = 0
        self.columns = 0
        self.errors: dict[tuple[int, int], int] = {}
        self.too_wide: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        if self.skip >= len(chunk):
            self.skip -= len(chunk)
            return
        data = self.carry + chunk[self.skip :]
        self.skip = 0
        self.carry = b""
        # One pass over every record of the sheet, the hot loop of an xlsb upload: its state
        # lives in locals, and the common header (1-byte type, 1-byte size) is read inline.
        end = len(data)
        at = 0
        row, rows, columns, in_data = self.row, self.rows, self.columns, self.in_data
        errors = self.errors
        u32 = _U32.unpack_from
        while at < end:
            kind = data[at]
            if kind < 0x80 and at + 1 < end and data[at + 1] < 0x80:
                size = data[at + 1]
                body = at + 2
            else:
                header = _xlsb_header(data, at)
                if header is None:
                    break
                kind, size, body = header
            if kind <= _LAST_CELL:
                need = 4 if kind == _ROW_HEADER else 9
                if in_data and kind != _CELL_BLANK and size >= need:
                    if body + need > end:
                        break  # the bytes needed are in the next chunk
                    if kind == _ROW_HEADER:
                        row = u32(data, body)[0]
                        if row > _LAST_ROW:
                            in_data = False
                            self.ended = True
                    else:
                        column = u32(data, body)[0]
                        if column >= columns:
                            columns = column + 1
                            if column >= self.max_columns and self.too_wide is None:
                                self.too_wide = (row, column)
                        if row >= rows:
                            rows = row + 1
                        if kind in (_CELL_ERROR, _FORMULA_ERROR):
                            errors[row, column] = data[body + 8]
            elif kind == _BEGIN_SHEET_DATA:
                in_data = not self.ended
            elif kind == _END_SHEET_DATA:
                in_data = False
                self.ended = True
            at = body + size
        self.row, self.rows, self.columns, self.in_data = row, rows, columns, in_data
        if at >= end:
            self.skip = at - end
        else:
            self.carry = data[at:]
