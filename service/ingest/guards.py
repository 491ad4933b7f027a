"""Pre-checks that keep hostile ZIP-based workbooks away from the parser.

calamine does not fail politely on every crafted file: it can abort the whole process, or
try to allocate hundreds of GiB for a sheet whose used range is huge but nearly empty. The
parsing worker runs under memory and CPU limits as the last line of defence; these checks,
in pure Python, turn the known killers into a clean error that names the file (and the
sheet when it is known). They run before calamine opens the file, except in the worker's
list-mode read of a workbook, where calamine loads the sheet at the same time (to save their
time, see `parse.Parser._open`): their refusal still wins, and a worker that calamine kills
first gets their answer from a second worker that runs only them. `inspect_archive` lists
what they cover.
"""

from __future__ import annotations

import html
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from xml.etree import ElementTree

from service import errors
from service.ingest import biff, oldbiff
from service.ingest.formats import FileFormat
from service.ingest.keys import cell_address, column_index, column_letter
from service.settings import Settings

MAX_MEMBERS = 10_000
MAX_ERROR_CELLS = 1_000_000
INFLATE_RATIO = 100
INFLATE_FLOOR = 64 * 1024 * 1024
INFLATE_CEILING = 2 * 1024 * 1024 * 1024
CALAMINE_CELL_BYTES = 32
_SMALL_PART_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
_OVERLAP = 128 * 1024
_ODS_MAX_ROW_BYTES = 64 * 1024 * 1024

ErrorCells = dict[str, dict[str, str]]
"""Sheet name → A1 address → the error text shown in the cell."""

_DECLARATIONS = (b"<!DOCTYPE", b"<!ENTITY")
SHARED_STRINGS = "xl/sharedStrings.xml"
_XLSB_RELATIONSHIPS = "xl/_rels/workbook.bin.rels"
_UNIQUE_COUNT = re.compile(rb'<(?:\w+:)?sst\s[^>]*?\buniqueCount="([0-9]+)"')
_SHORTEST_SHARED_STRING = len(b"<si/>")
_ROW_NUMBER = re.compile(rb'row r="([0-9]+)"')
_WIDE_REF = re.compile(rb' r="([A-Z]{2,})([0-9]+)"[^>]*(?<!/)>')
_NARROW_LETTER = re.compile(rb' r="([A-Z])[0-9]')
_NARROW_PAST = [re.compile(rb' r="[%c-Z][0-9]' % (ord("A") + known)) for known in range(26)]
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\s([^>]*?\bt="e"[^>]*)>(.*?)</(?:\w+:)?c>', re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_CELL_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)<")
_ODS_ITEM = re.compile(
    rb"<table:table(?=[\s>])([^>]*)>"
    rb"|<table:table-row(?=[\s/])([^>]*)/>"
    rb"|<table:table-row(?=[\s>])([^>]*)>(.*?)</table:table-row>",
    re.S,
)
_ODS_CELL = re.compile(rb"<table:(?:covered-)?table-cell(?=[\s/>])([^>]*?)(/?)>")
_ODS_SHEET_NAME = re.compile(rb'table:name="([^"]*)"')
_ODS_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated="([0-9]+)"')
_ODS_COLUMNS_REPEATED = re.compile(rb'table:number-columns-repeated="([0-9]+)"')
_ODS_ERROR = b'calcext:value-type="error"'
_ODS_TEXT = re.compile(rb"<text:p>([^<]*)</text:p>")


def inflate_limit(archive_bytes: int) -> int:
    return min(INFLATE_CEILING, max(INFLATE_FLOOR, INFLATE_RATIO * archive_bytes))


def cell_budget(settings: Settings) -> int:
    """The largest used range (rows x columns) handed to calamine."""
    return settings.worker_memory_bytes // (2 * CALAMINE_CELL_BYTES)


class Tap(Protocol):
    """Something else that wants the inflated bytes of one member (`parts.Cutter`)."""

    member: str

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...


def inspect_archive(
    path: Path, name: str, fmt: FileFormat, settings: Settings, tap: Tap | None = None
) -> ErrorCells:
    """Run every pre-check on a ZIP-based workbook; return its error cells by sheet. The
    bytes of `tap.member` are handed to `tap` too, once they have passed the checks.

    They cover:

    - **zip bomb**: too many members, declared sizes adding up past the inflation limit, or
      more bytes actually inflated than that limit (every member is inflated here, in 1 MiB
      steps, and the count stops at the limit). A member that inflates past its own declared
      size is refused too. The limit is 100 x the archive's size (at least 64 MiB, at most
      2 GiB): spreadsheet XML compresses 8-15x, bombs 1000x.
    - **XML entity bomb**: any `<!DOCTYPE` or `<!ENTITY` in an XML part (spreadsheets never
      need one, and expat or quick-xml should never be asked to expand one).
    - **lying shared-strings count** (xlsx): calamine reserves room for the `uniqueCount` of
      `xl/sharedStrings.xml` before reading a string (24 bytes each), so a tiny part that
      declares 4 billion strings exhausts the worker's memory. A count larger than the part
      could hold (each string takes at least the 5 bytes of `<si/>`) is refused.
    - **far cells / too many columns / too large a used range** (xlsx, xlsm, xlsb, ods): a cell in a
      column past `max_columns`, or a used range (rows x columns) larger than the parser could
      hold in half the worker's memory at 32 bytes per cell (calamine's cell size). For xlsx the
      sheet XML is scanned with regexes that cost little on ordinary sheets: `row r="…"` gives
      the last row, cell references with two or more letters the wide columns, and a search for
      a single letter past the widest seen so far the narrow ones. Cells without a value
      (`<c r="XFD9" s="1"/>`, styling only) are not counted, as calamine ignores them too. The
      `<dimension>` element is ignored: calamine does not trust it, and Excel often overstates
      it. For ods, whose rows and cells can repeat (`table:number-rows-repeated`), every row's
      extent is computed, repeats included. For xlsb, whose cell positions are binary, every
      record of the sheet is walked (`biff.XlsbCells`): 0.87 s for 200,000 rows x 12
      columns, where calamine loads the same sheet in 0.24 s (`bench/binary.py`).

    This scan also collects the cells holding an Excel error (`#DIV/0!`, `#N/A`…):
    python-calamine 0.9 reads them as empty cells (dimastbk/python-calamine#105), so their
    positions and texts come from the XML (xlsx `t="e"`, ods `calcext:value-type="error"`) or
    the records (xlsb). An xls has no pre-checks, but `inspect_workbook` gives its error
    cells too (`biff.xls_error_cells`).

    What is not covered, and left to the worker's limits: xls internals (an xls sheet cannot
    exceed 65,536 x 256 cells anyway), and xlsx cells whose reference puts them outside the
    row that holds them.
    """
    try:
        with zipfile.ZipFile(path) as archive, path.open("rb") as stream:
            return _inspect(archive, stream, path.stat().st_size, name, fmt, settings, tap)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
    ) as error:
        raise errors.CorruptFile(f"{name!r} is a damaged archive ({error})", file=name) from None


def inspect_workbook(
    path: Path, name: str, fmt: FileFormat, settings: Settings, tap: Tap | None = None
) -> ErrorCells:
    """The error cells of a workbook by sheet: for a ZIP workbook, once every pre-check has
    passed (`inspect_archive`); for an xls, which has no pre-checks, from its records."""
    if fmt.is_zip:
        return inspect_archive(path, name, fmt, settings, tap)
    if fmt is FileFormat.XLS:
        with path.open("rb") as stream:
            if oldbiff.is_old_worksheet(stream.read(8)):
                return oldbiff.error_cells(path, name, settings)
        return biff.xls_error_cells(path, name)
    return {}


def _inspect(
    archive: zipfile.ZipFile,
    stream: BinaryIO,
    archive_bytes: int,
    name: str,
    fmt: FileFormat,
    settings: Settings,
    tap: Tap | None,
) -> ErrorCells:
    members = [member for member in archive.infolist() if not member.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise errors.CorruptFile(
            f"{name!r} holds {len(members):,} archive members; a spreadsheet has a few dozen",
            file=name,
        )
    if any(member.flag_bits & 0x1 for member in members):
        raise errors.CorruptFile(f"{name!r} is encrypted; remove its password", file=name)
    limit = inflate_limit(archive_bytes)
    declared = sum(member.file_size for member in members)
    if declared > limit:
        raise errors.CorruptFile(
            f"{name!r} declares {declared:,} bytes of content in {archive_bytes:,} bytes: "
            "refused as a likely zip bomb",
            file=name,
        )
    worksheets: dict[str, str] = {}
    if fmt is FileFormat.XLSX:
        worksheets = worksheet_parts(archive, name)
    elif fmt is FileFormat.XLSB:
        worksheets = _xlsb_worksheet_parts(archive, name)
    error_cells: ErrorCells = {}
    budget = _InflateBudget(limit, name)
    for member in members:
        scanners: list[_Scanner] = []
        lower = member.filename.lower()
        if lower.endswith((".xml", ".rels")):
            scanners.append(_DeclarationScanner(name, member.filename))
        if fmt is FileFormat.XLSX and member.filename == SHARED_STRINGS:
            scanners.append(_SharedStringsScanner(name, member.file_size))
        sheet = worksheets.get(member.filename)
        if sheet is not None:
            worksheet: _WorksheetScanner | _XlsbSheetScanner = (
                _WorksheetScanner(name, sheet, settings)
                if fmt is FileFormat.XLSX
                else _XlsbSheetScanner(name, sheet, settings)
            )
            scanners.append(worksheet)
            error_cells[sheet] = worksheet.error_cells
        ods_content = None
        if fmt is FileFormat.ODS and member.filename == "content.xml":
            ods_content = _OdsContentScanner(name, settings)
            scanners.append(ods_content)
        if tap is not None and member.filename == tap.member:
            scanners.append(tap)
        for chunk in _inflate(stream, member, budget):
            for scanner in scanners:
                scanner.feed(chunk)
        for scanner in scanners:
            scanner.finish()
        if ods_content is not None:
            error_cells.update(ods_content.error_cells)
    return error_cells


class _InflateBudget:
    __slots__ = ("file", "limit", "spent")

    def __init__(self, limit: int, file: str) -> None:
        self.limit = limit
        self.file = file
        self.spent = 0

    def spend(self, size: int) -> None:
        self.spent += size
        if self.spent > self.limit:
            raise errors.CorruptFile(
                f"{self.file!r} inflates to more than {self.limit:,} bytes: "
                "refused as a likely zip bomb",
                file=self.file,
            )


def _inflate(stream: BinaryIO, member: zipfile.ZipInfo, budget: _InflateBudget) -> Iterator[bytes]:
    """The member's content in chunks of at most 1 MiB, every byte counted."""
    file = budget.file
    if member.flag_bits & 0x1:
        raise errors.CorruptFile(f"{file!r} is encrypted; remove its password", file=file)
    stream.seek(member.header_offset)
    header = stream.read(30)
    if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
        raise errors.CorruptFile(f"{file!r} is a damaged archive (bad member header)", file=file)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    stream.seek(member.header_offset + 30 + name_length + extra_length)
    remaining = member.compress_size
    produced = 0
    if member.compress_type == zipfile.ZIP_STORED:
        while remaining:
            data = stream.read(min(_CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            produced += len(data)
            budget.spend(len(data))
            yield data
    elif member.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        while not inflater.eof:
            data = inflater.unconsumed_tail
            if not data and remaining:
                data = stream.read(min(_CHUNK, remaining))
                remaining -= len(data)
            output = inflater.decompress(data, _CHUNK)
            if not output and not data:
                break  # truncated stream: reported below as a size mismatch
            if output:
                produced += len(output)
                budget.spend(len(output))
                if produced > member.file_size:
                    break
                yield output
    else:
        raise errors.CorruptFile(
            f"{file!r} uses an unsupported compression method ({member.compress_type})",
            file=file,
        )
    if produced != member.file_size:
        raise errors.CorruptFile(
            f"{file!r} is a damaged archive: member {member.filename!r} holds {produced:,}"
            f"{'+' if produced > member.file_size else ''} bytes, not the "
            f"{member.file_size:,} it declares",
            file=file,
        )


def _small_part(archive: zipfile.ZipFile, part: str, file: str) -> zipfile.ZipInfo:
    """A part that is read whole: it must be there, and small (zipfile stops reading a
    member at its declared size)."""
    try:
        member = archive.getinfo(part)
    except KeyError:
        raise errors.CorruptFile(f"{file!r} has no {part} part", file=file) from None
    if member.file_size > _SMALL_PART_BYTES:
        raise errors.CorruptFile(f"{file!r} has an oversized {part} part", file=file)
    return member


def small_xml(archive: zipfile.ZipFile, part: str, file: str) -> ElementTree.Element:
    data = archive.read(_small_part(archive, part, file))
    scanner = _DeclarationScanner(file, part)
    scanner.feed(data)
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise errors.CorruptFile(f"{file!r} has a malformed {part} ({error})", file=file) from None


def worksheet_parts(archive: zipfile.ZipFile, file: str) -> dict[str, str]:
    """Archive member name → sheet name, for the worksheets listed by `xl/workbook.xml`."""
    targets = _targets(archive, "xl/_rels/workbook.xml.rels", file)
    parts: dict[str, str] = {}
    for sheet in small_xml(archive, "xl/workbook.xml", file).iter():
        if not sheet.tag.endswith("}sheet"):
            continue
        identifier = next((v for k, v in sheet.attrib.items() if k.endswith("}id")), None)
        part = targets.get(identifier or "")
        if part is not None:
            parts[part] = sheet.get("name", "")
    return parts


def _xlsb_worksheet_parts(archive: zipfile.ZipFile, file: str) -> dict[str, str]:
    """Archive member name → sheet name, for the sheets listed by `xl/workbook.bin`. Without
    relationships there is no sheet to check: calamine then refuses the file itself."""
    if _XLSB_RELATIONSHIPS not in archive.namelist():
        return {}
    targets = _targets(archive, _XLSB_RELATIONSHIPS, file)
    workbook = _small_part(archive, "xl/workbook.bin", file)
    sheets = biff.xlsb_sheets(archive.read(workbook))
    return {targets[rel]: name for rel, name, _ in sheets if rel in targets}


def _targets(archive: zipfile.ZipFile, relationships: str, file: str) -> dict[str, str]:
    """Relationship id → archive member name, from the workbook's relationships part."""
    targets: dict[str, str] = {}
    for relationship in small_xml(archive, relationships, file).iter():
        target = relationship.get("Target")
        identifier = relationship.get("Id")
        if target and identifier:
            if target.startswith("/"):
                targets[identifier] = target.lstrip("/")
            else:
                targets[identifier] = posixpath.normpath(posixpath.join("xl", target))
    return targets


class _Scanner(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...


class _DeclarationScanner:
    """Refuses DOCTYPE and ENTITY declarations anywhere in an XML part."""

    __slots__ = ("file", "part", "tail")

    def __init__(self, file: str, part: str) -> None:
        self.file = file
        self.part = part
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        seam = self.tail + chunk[:16]  # a declaration cut in two by a chunk boundary
        for declaration in _DECLARATIONS:
            if declaration in chunk or declaration in seam:
                raise errors.CorruptFile(
                    f"{self.file!r} declares XML entities in {self.part} (a DOCTYPE): "
                    "refused as a likely entity bomb",
                    file=self.file,
                )
        self.tail = chunk[-16:]

    def finish(self) -> None:
        pass


class _SharedStringsScanner:
    """Refuses a shared-strings part whose `uniqueCount` it could not possibly hold."""

    __slots__ = ("file", "seen", "size")

    def __init__(self, file: str, size: int) -> None:
        self.file = file
        self.size = size
        self.seen = False

    def feed(self, chunk: bytes) -> None:
        if self.seen:
            return
        self.seen = True  # the count is an attribute of the root, in the first chunk
        found = _UNIQUE_COUNT.search(chunk)
        if found is not None and int(found[1]) * _SHORTEST_SHARED_STRING > self.size:
            raise errors.CorruptFile(
                f"{self.file!r} declares {int(found[1]):,} shared strings in a "
                f"{SHARED_STRINGS} of {self.size:,} bytes, which cannot hold them",
                file=self.file,
            )

    def finish(self) -> None:
        pass


class _WorksheetScanner:
    """Extent and error cells of one xlsx worksheet part, from its raw XML."""

    __slots__ = (
        "error_cells",
        "file",
        "last_row",
        "max_columns",
        "narrow_columns",
        "settings",
        "sheet",
        "tail",
        "wide_columns",
    )

    def __init__(self, file: str, sheet: str, settings: Settings) -> None:
        self.file = file
        self.sheet = sheet
        self.settings = settings
        self.max_columns = settings.max_columns
        self.last_row = 0
        self.narrow_columns = 0
        self.wide_columns = 0
        self.error_cells: dict[str, str] = {}
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        # Overlapping buffers: a reference or an error cell cut by a chunk boundary is
        # whole in the next buffer. Every fact gathered is a maximum or a dict entry,
        # so seeing a cell twice changes nothing.
        buffer = self.tail + chunk
        self.tail = buffer[-_OVERLAP:]
        rows = _ROW_NUMBER.findall(buffer)
        if rows:
            self.last_row = max(self.last_row, max(map(int, rows)))
        if self.narrow_columns < 26 and _NARROW_PAST[self.narrow_columns].search(buffer):
            letters = set(_NARROW_LETTER.findall(buffer))
            widest = max(ord(letter) - 64 for letter in letters)
            self.narrow_columns = max(self.narrow_columns, widest)
        refs = _WIDE_REF.findall(buffer)
        if refs:
            self._wide(refs)
        if b't="e"' in buffer:
            for cell in _ERROR_CELL.finditer(buffer):
                ref = _CELL_REF.search(cell[1])
                if ref is not None:
                    value = _CELL_VALUE.search(cell[2])
                    text = html.unescape(value[1].decode("utf-8", "replace")) if value else ""
                    self.error_cells[ref[1].decode("ascii")] = text or "#ERROR"
                    _check_error_count(self.file, len(self.error_cells))

    def _wide(self, refs: list[tuple[bytes, bytes]]) -> None:
        widest = max({letters for letters, _ in refs}, key=lambda letters: (len(letters), letters))
        columns = column_index(widest.decode("ascii")) + 1
        if columns > self.max_columns:
            row = next(int(digits) for letters, digits in refs if letters == widest)
            raise _too_wide(
                self.file, self.sheet, widest.decode("ascii"), columns, row, self.max_columns
            )
        self.wide_columns = max(self.wide_columns, columns)
        self.last_row = max(self.last_row, max(int(digits) for _, digits in refs))

    def finish(self) -> None:
        columns = max(self.narrow_columns, self.wide_columns)
        _check_used_range(self.file, self.sheet, self.last_row, columns, self.settings)


class _XlsbSheetScanner:
    """Extent and error cells of one xlsb worksheet part, from its records (`biff`)."""

    __slots__ = ("cells", "error_cells", "file", "settings", "sheet")

    def __init__(self, file: str, sheet: str, settings: Settings) -> None:
        self.file = file
        self.sheet = sheet
        self.settings = settings
        self.cells = biff.XlsbCells(settings.max_columns)
        self.error_cells: dict[str, str] = {}

    def feed(self, chunk: bytes) -> None:
        cells = self.cells
        cells.feed(chunk)
        if cells.too_wide is not None:
            row, column = cells.too_wide
            letter = column_letter(column)
            limit = self.settings.max_columns
            raise _too_wide(self.file, self.sheet, letter, column + 1, row + 1, limit)
        _check_error_count(self.file, len(cells.errors))

    def finish(self) -> None:
        cells = self.cells
        _check_used_range(self.file, self.sheet, cells.rows, cells.columns, self.settings)
        for (row, column), code in cells.errors.items():
            self.error_cells[cell_address(row + 1, column)] = biff.error_text(code)


def _too_wide(
    file: str, sheet: str, letter: str, columns: int, row: int, limit: int
) -> errors.LimitExceeded:
    """The refusal of a sheet with a value in column `letter` (number `columns`)."""
    return errors.LimitExceeded(
        f"Sheet {sheet!r} of {file!r} has a value in column {letter} (column {columns:,}), "
        f"past the limit of {limit:,} columns",
        limit="max_columns",
        value=limit,
        file=file,
        sheet=sheet,
        row=row,
        column=letter,
    )


def _check_used_range(file: str, sheet: str, rows: int, columns: int, settings: Settings) -> None:
    budget = cell_budget(settings)
    if rows * columns > budget:
        raise errors.LimitExceeded(
            f"Sheet {sheet!r} of {file!r} spans {rows:,} rows x {columns:,} columns "
            f"(up to cell {cell_address(rows, columns - 1)}): more than the {budget:,} "
            "cells the parser can hold in memory; delete the far-away cells",
            limit="worker_memory_bytes",
            value=settings.worker_memory_bytes,
            file=file,
            sheet=sheet,
        )


class _OdsContentScanner:
    """Extent and error cells of every sheet of an ods `content.xml`, repeats included."""

    def __init__(self, file: str, settings: Settings) -> None:
        self.file = file
        self.settings = settings
        self.max_columns = settings.max_columns
        self.error_cells: ErrorCells = {}
        self.error_count = 0
        self.sheet = ""
        self.rows = 0
        """Rows of the current sheet up to its last non-empty row."""
        self.blank_rows = 0
        """Empty rows after that: they count only if a non-empty row follows."""
        self.columns = 0
        self.carry = b""

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        cut = data.rfind(b"</table:table-row>")
        if cut < 0:
            self.carry = data
            if len(data) > _ODS_MAX_ROW_BYTES:
                raise errors.CorruptFile(f"{self.file!r} has a table row too large", file=self.file)
            return
        cut += len(b"</table:table-row>")
        self._scan(data[:cut])
        self.carry = data[cut:]

    def finish(self) -> None:
        self._scan(self.carry)
        self.carry = b""

    def _scan(self, data: bytes) -> None:
        for item in _ODS_ITEM.finditer(data):
            sheet_attributes, blank_row, row_attributes, body = item.groups()
            if sheet_attributes is not None:
                name = _ODS_SHEET_NAME.search(sheet_attributes)
                self.sheet = html.unescape(name[1].decode("utf-8", "replace")) if name else ""
                self.rows = self.blank_rows = self.columns = 0
            elif blank_row is not None:
                self.blank_rows += _repeats(_ODS_ROWS_REPEATED, blank_row)
            else:
                self._row(row_attributes or b"", body)

    def _row(self, attributes: bytes, body: bytes) -> None:
        repeats = _repeats(_ODS_ROWS_REPEATED, attributes)
        if b"<text:" not in body and b"office:value" not in body:
            self.blank_rows += repeats
            return
        self.rows += self.blank_rows
        self.blank_rows = 0
        first_row = self.rows + 1
        if b"repeated" in body:
            width = self._width(body)
        else:
            width = body.count(b"<table:table-cell") + body.count(b"<table:covered-table-cell")
        self.rows += repeats
        if width > self.max_columns:
            raise _too_wide(
                self.file, self.sheet, column_letter(width - 1), width, first_row, self.max_columns
            )
        self.columns = max(self.columns, width)
        _check_used_range(self.file, self.sheet, self.rows, self.columns, self.settings)
        if _ODS_ERROR in body:
            self._errors(body, first_row, repeats)

    def _width(self, body: bytes) -> int:
        """Columns up to the last non-empty cell, repeats included."""
        column = width = 0
        for cell in _ODS_CELL.finditer(body):
            attributes, self_closing = cell.groups()
            column += _repeats(_ODS_COLUMNS_REPEATED, attributes)
            if not self_closing:
                width = column
        return width

    def _errors(self, body: bytes, first_row: int, row_repeats: int) -> None:
        found = self.error_cells.setdefault(self.sheet, {})
        column = 0
        for cell in _ODS_CELL.finditer(body):
            attributes, self_closing = cell.groups()
            repeats = _repeats(_ODS_COLUMNS_REPEATED, attributes)
            if not self_closing and _ODS_ERROR in attributes:
                text = _ODS_TEXT.search(body, cell.end())
                message = html.unescape(text[1].decode("utf-8", "replace")) if text else ""
                for row in range(first_row, first_row + row_repeats):
                    for offset in range(repeats):
                        found[cell_address(row, column + offset)] = message or "#ERROR"
                    self.error_count += repeats
                    _check_error_count(self.file, self.error_count)
            column += repeats


def _check_error_count(file: str, count: int) -> None:
    if count > MAX_ERROR_CELLS:
        raise errors.CorruptFile(
            f"{file!r} has more than {MAX_ERROR_CELLS:,} cells holding an Excel error; "
            "fix the formulas first",
            file=file,
        )


def _repeats(pattern: re.Pattern[bytes], attributes: bytes) -> int:
    found = pattern.search(attributes)
    return max(1, int(found[1])) if found else 1


__all__ = ["ErrorCells", "cell_budget", "inflate_limit", "inspect_archive", "inspect_workbook"]
