"""Worksheets of Excel 2.x, 3.0 and 4.0 (1987-1992): bare BIFF2-4 record streams.

python-calamine reads BIFF5 (Excel 5) and later only, from an OLE2 file; older Excel saved
a worksheet as a plain stream of records, one file per sheet. This module reads the few
records that hold cell values, and gives them as python-calamine gives the cells of any
other workbook (`workbook.Workbook` uses it in calamine's place), so the rest of the
engine cannot tell the difference:

- numbers (`NUMBER`, `INTEGER` in BIFF2, `RK` in BIFF3-4) as floats, or, when the cell's
  number format is a date or time format (its `XF` record points to a `FORMAT` record),
  as `date` (whole days), `time` (under a day), `datetime`, or `timedelta` for elapsed
  time (`[h]:mm`), counted from 1900 (or 1904, `DATEMODE`) as Excel counts;
- text (`LABEL`), in the stream's codepage (`CODEPAGE`, else Windows-1252);
- booleans and error constants (`BOOLERR`): errors read as empty, as calamine reads
  them, and are listed by `error_cells` (the `guards` hand them to `hold_errors`);
- formulas (`FORMULA`): their cached result, a number, boolean, error, or the text of the
  `STRING` record that follows.

The file holds one worksheet (a stream whose BOF says chart, macro sheet or Excel 4.0
workbook is refused by `formats`); Excel names it after the file, and so does this module.

Reading is defensive: the file is read into memory (an upload is at most `max_file_bytes`,
as calamine reads an xls), a record cut short ends the walk, unknown records are skipped,
and cells are kept only up to a count bounded by the worker's memory (`MAX_CELLS_SHARE` of
`guards.cell_budget`), past which the sheet is refused as too large, like a calamine sheet
whose used range is too large. A column past `max_columns` is refused by `LoadedSheet`, as
for any other format. Any bytes give an answer or a `CorruptFile`/`LimitExceeded`.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from python_calamine import SheetMetadata, SheetTypeEnum, SheetVisibleEnum

from service import errors
from service.ingest import biff
from service.ingest.keys import cell_address
from service.settings import Settings

BOFS = {0x0009: 2, 0x0209: 3, 0x0409: 4}
"""The BOF record of each BIFF version this module reads."""
WORKSHEET = 0x0010
CELL_BYTES = 32
MAX_CELLS_SHARE = 4
"""A kept cell costs about four times the `CELL_BYTES` that `guards.cell_budget` allows a
calamine cell in half the worker's memory."""

_EOF = 0x000A
_DATEMODE = 0x0022
_CODEPAGE = 0x0042
_IXFE = 0x0044
_FORMATS = (0x001E, 0x041E)
_XFS = {0x0043: 2, 0x0243: 3, 0x0443: 4}
_INTEGER = 0x0002
_NUMBERS = (0x0003, 0x0203)
_LABELS = (0x0004, 0x0204)
_BOOLERRS = (0x0005, 0x0205)
_RK = 0x027E
_FORMULAS = (0x0006, 0x0206, 0x0406)
_STRINGS = (0x0007, 0x0207)
_DOUBLE = struct.Struct("<d")
_HEADER = struct.Struct("<HH")
_DATE_PARTS = re.compile(r"[dmyhs]", re.I)
_NOT_DATE = re.compile(r'"[^"]*"|\\.|_.|\*.|\[(?![hms]+\])[^\]]*\]')
_ELAPSED = re.compile(r"\[[hms]+\]", re.I)
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_BUILTIN_DATES = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}
"""Number formats that are dates when a BIFF4 file has no FORMAT records of its own."""


def is_old_worksheet(prefix: bytes) -> bool:
    """Whether a file starting with `prefix` is a BIFF2-4 worksheet stream."""
    if len(prefix) < 8:
        return False
    kind, size, _, sheet = struct.unpack_from("<HHHH", prefix)
    return kind in BOFS and 4 <= size <= 16 and sheet == WORKSHEET


class OldSheet:
    """The cells of the worksheet, shaped as a `python_calamine.CalamineSheet`: `start` and
    `end` are its first and last used (row, column), 0-based; `iter_rows` yields every row
    from row 0 to `end`, each from column `start` to `end`, "" where a cell is empty."""

    def __init__(self, name: str, cells: dict[tuple[int, int], Any]) -> None:
        self.name = name
        self._cells = cells
        self.start: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None
        if cells:
            rows = [row for row, _ in cells]
            columns = [column for _, column in cells]
            self.start = (min(rows), min(columns))
            self.end = (max(rows), max(columns))

    def iter_rows(self) -> Iterator[list[Any]]:
        if self.start is None or self.end is None:
            return
        by_row: dict[int, list[tuple[int, Any]]] = {}
        for (row, column), value in sorted(self._cells.items()):
            by_row.setdefault(row, []).append((column, value))
        first, last = self.start[1], self.end[1]
        for row in range(self.end[0] + 1):
            cells: list[Any] = [""] * (last - first + 1)
            for column, value in by_row.get(row, ()):
                cells[column - first] = value
            yield cells


class OldWorkbook:
    """A BIFF2-4 worksheet file, shaped as the part of `python_calamine.CalamineWorkbook`
    that `workbook.Workbook` uses."""

    def __init__(self, path: Path, file: str) -> None:
        self.file = file
        self.sheet_name = sheet_name(file)
        self._path = path
        self.sheets_metadata = [
            SheetMetadata(self.sheet_name, SheetTypeEnum.WorkSheet, SheetVisibleEnum.Visible)
        ]
        self._sheet: OldSheet | None = None

    def load(self, name: str, settings: Settings) -> OldSheet:
        """The sheet (`Workbook.select` has checked its name)."""
        if self._sheet is None:
            cells, _ = read(self._path.read_bytes(), self.file, settings)
            self._sheet = OldSheet(name, cells)
        return self._sheet

    def close(self) -> None:
        self._sheet = None


def sheet_name(file: str) -> str:
    """Excel names the one sheet of such a file after the file."""
    return PurePosixPath(file.replace("\\", "/")).stem or file


def error_cells(path: Path, file: str, settings: Settings) -> dict[str, dict[str, str]]:
    """Sheet name → A1 address → error text, for the `guards` (as `biff.xls_error_cells`)."""
    _, found = read(path.read_bytes(), file, settings)
    return {sheet_name(file): found} if found else {}


class _Reader:
    """The state of one walk over the records."""

    def __init__(self, version: int, file: str, max_cells: int) -> None:
        self.version = version
        self.file = file
        self.max_cells = max_cells
        self.codec = "cp1252"
        self.epoch = _EPOCH_1900
        self.formats: list[str] = []
        self.xf_formats: list[int] = []
        self.ixfe = 0
        self.cells: dict[tuple[int, int], Any] = {}
        self.errors: dict[str, str] = {}
        self.pending: tuple[int, int] | None = None
        """The cell of a FORMULA whose text result is in the next STRING record."""

    def put(self, row: int, column: int, value: Any) -> None:
        if (row, column) not in self.cells and len(self.cells) >= self.max_cells:
            raise errors.LimitExceeded(
                f"{self.file!r} holds more than {self.max_cells:,} cells: more than the parser "
                "can hold in memory",
                limit="worker_memory_bytes",
                value=self.max_cells,
                file=self.file,
            )
        self.cells[row, column] = value

    def text(self, body: bytes, at: int, length_bytes: int) -> str:
        if len(body) < at + length_bytes:
            return ""
        length = body[at] if length_bytes == 1 else struct.unpack_from("<H", body, at)[0]
        start = at + length_bytes
        return body[start : start + length].decode(self.codec, "replace")

    def xf_of(self, body: bytes) -> int:
        """The XF index of a cell record: 2 bytes after row and column in BIFF3-4; in BIFF2,
        the low 6 bits of the first attribute byte (63: the IXFE record before it)."""
        if self.version > 2:
            return int(struct.unpack_from("<H", body, 4)[0])
        index = body[4] & 0x3F
        return self.ixfe if index == 63 else index

    def number(self, body: bytes, value: float) -> Any:
        """A number as calamine gives it: a float, or a date/time when its format is one."""
        xf = self.xf_of(body)
        key = self.xf_formats[xf] if xf < len(self.xf_formats) else 0
        fmt = self.formats[key] if key < len(self.formats) else None
        if fmt is None:
            dated = not self.formats and key in _BUILTIN_DATES
            elapsed = False
        else:
            bare = _NOT_DATE.sub("", fmt)
            dated = bare.lower() != "general" and bool(_DATE_PARTS.search(bare))
            elapsed = bool(_ELAPSED.search(fmt))
        if not dated or not (0 <= value < 2958466):  # past 9999-12-31: a number
            return value
        if elapsed:
            return dt.timedelta(days=value)
        if value < 1:
            return _whole_seconds(dt.datetime(2000, 1, 1) + dt.timedelta(days=value)).time()
        if self.epoch is _EPOCH_1900 and value < 61:
            value += 1  # Excel's 1900-02-29, which never was, is after 1900-02-28
        moment = _whole_seconds(self.epoch + dt.timedelta(days=value))
        return moment.date() if value == int(value) else moment


def read(
    data: bytes, file: str, settings: Settings
) -> tuple[dict[tuple[int, int], Any], dict[str, str]]:
    """The cells ((row, column) 0-based → value) and error cells (A1 → text) of a BIFF2-4
    worksheet stream. A stream that is not one gives no cells."""
    if not is_old_worksheet(data[:8]):
        raise errors.CorruptFile(f"{file!r} is not an Excel 2.x-4.0 worksheet", file=file)
    max_cells = settings.worker_memory_bytes // (2 * CELL_BYTES * MAX_CELLS_SHARE)
    reader = _Reader(BOFS[_HEADER.unpack_from(data)[0]], file, max_cells)
    depth = 0
    at = 0
    while at + 4 <= len(data):
        kind, size = _HEADER.unpack_from(data, at)
        body = data[at + 4 : at + 4 + size]
        at += 4 + size
        if len(body) < size:
            break
        if kind in BOFS:
            depth += 1
        elif kind == _EOF:
            depth -= 1
            if depth <= 0:
                break
        elif depth == 1:
            _record(reader, kind, body)
    return reader.cells, reader.errors


def _record(reader: _Reader, kind: int, body: bytes) -> None:
    biff2 = reader.version == 2
    cell_at = 7 if biff2 else 6  # the value after row, column and XF (BIFF2: 3 attribute bytes)
    pending, reader.pending = reader.pending, None
    if kind in _STRINGS:
        if pending is not None:
            reader.put(*pending, reader.text(body, 0, 1 if biff2 else 2))
    elif kind == _CODEPAGE and len(body) >= 2:
        reader.codec = biff._codec(struct.unpack_from("<H", body)[0])
    elif kind == _DATEMODE and len(body) >= 2:
        reader.epoch = _EPOCH_1904 if struct.unpack_from("<H", body)[0] else _EPOCH_1900
    elif kind in _FORMATS:
        reader.formats.append(reader.text(body, 2 if kind == 0x041E else 0, 1))
    elif kind in _XFS and len(body) >= 3:
        reader.xf_formats.append(body[2] & 0x3F if kind == 0x0043 else body[1])
    elif kind == _IXFE and len(body) >= 2:
        reader.ixfe = struct.unpack_from("<H", body)[0]
    elif len(body) < cell_at:
        return
    elif kind in _NUMBERS and len(body) >= cell_at + 8:
        row, column = _HEADER.unpack_from(body)
        value = _DOUBLE.unpack_from(body, cell_at)[0]
        reader.put(row, column, reader.number(body, value))
    elif kind == _INTEGER and biff2 and len(body) >= cell_at + 2:
        row, column = _HEADER.unpack_from(body)
        value = float(struct.unpack_from("<H", body, cell_at)[0])
        reader.put(row, column, reader.number(body, value))
    elif kind == _RK and not biff2 and len(body) >= 10:
        row, column = _HEADER.unpack_from(body)
        reader.put(row, column, reader.number(body, _rk(struct.unpack_from("<I", body, 6)[0])))
    elif kind in _LABELS:
        row, column = _HEADER.unpack_from(body)
        reader.put(row, column, reader.text(body, cell_at, 1 if biff2 else 2))
    elif kind in _BOOLERRS and len(body) >= cell_at + 2:
        row, column = _HEADER.unpack_from(body)
        value, is_error = body[cell_at], body[cell_at + 1]
        if is_error:
            reader.errors[cell_address(row + 1, column)] = biff.error_text(value)
            reader.put(row, column, "")
        else:
            reader.put(row, column, bool(value))
    elif kind in _FORMULAS and len(body) >= cell_at + 8:
        _formula(reader, body, cell_at)


def _formula(reader: _Reader, body: bytes, at: int) -> None:
    """A FORMULA's cached result: a double, or, when its last two bytes are FFFF, a text
    (in the next STRING record), a boolean, an error or an empty text, by its first byte."""
    row, column = _HEADER.unpack_from(body)
    result = body[at : at + 8]
    if result[6:8] != b"\xff\xff":
        reader.put(row, column, reader.number(body, _DOUBLE.unpack(result)[0]))
        return
    kind = result[0]
    if kind == 0:
        reader.pending = (row, column)
    elif kind == 1:
        reader.put(row, column, bool(result[2]))
    elif kind == 2:
        reader.errors[cell_address(row + 1, column)] = biff.error_text(result[2])
        reader.put(row, column, "")
    else:
        reader.put(row, column, "")


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0) + dt.timedelta(
        seconds=round(moment.microsecond / 1_000_000)
    )


def _rk(value: int) -> float:
    """An RK number: a 30-bit integer or the top 30 bits of a double, maybe divided by 100."""
    if value & 0x02:
        number = float(value >> 2 if not value & 0x80000000 else (value >> 2) - (1 << 30))
    else:
        number = _DOUBLE.unpack(struct.pack("<Q", (value & 0xFFFFFFFC) << 32))[0]
    return number / 100 if value & 0x01 else number
