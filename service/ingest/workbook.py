"""Workbooks (xlsx, xlsm, xlsb, xls, ods) read through python-calamine (and the worksheets of
Excel 2.x-4.0, which calamine does not read, through `oldbiff`, shaped as calamine's).

- Sheets: worksheets only (chart, dialog and macro sheets have no cells), in workbook
  order. Hidden and very hidden sheets are skipped, unless named by the `sheet` option:
  naming one is an explicit request.
- Rows: `iter_rows` yields every row from row 1 (blank padding rows included) and, in
  each, the columns from the first used column on, so real row numbers and column letters
  follow from the row's position and the sheet's first column. Blank rows (every cell
  empty, or only whitespace and NUL characters) are skipped but keep their numbers.
- Values: formula cells give their cached value; numbers come as floats, dates, datetimes,
  times and durations as `datetime` objects; see `values.convert_cell` for their shapes.
- Error cells: python-calamine 0.9 reads them as empty; `guards` recovers them from the
  XML of xlsx/xlsm and ods files and from the records of xlsb files, `biff` from the
  records of xls files (`LoadedSheet.hold_errors`).
- Merged cells: calamine gives the merged value in the top-left cell only and reads the
  other cells of the range as empty. That is kept as is: the value appears once, where
  the sheet stores it, and the other cells are empty (so they may draw an `empty` warning
  in a column that is otherwise filled). Spreading the value would invent data the sheet
  does not hold.
- Any calamine failure, a password included, becomes `CorruptFile` naming file and sheet;
  but first, an ods that calamine cannot open, or an xlsx sheet it cannot load, is read again
  from a repaired copy (`repair`: the shapes of XML LibreOffice reads and calamine 0.9.1
  does not), when there is something to repair.

calamine holds a whole sheet in memory while it is read (about 0.9 GiB for 1M x 12), so a
read loads one sheet at a time. A workbook of one sheet is read in one pass (see `parse`) and
loaded once; a two-pass read loads each sheet once per pass.

calamine releases the GIL while it opens a workbook and loads a sheet (most of the time
before the first row of a big xlsx can be sent), so `Opening` can do that in a thread while
the caller runs the `guards` pre-checks, on another core.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import python_calamine
from python_calamine import CalamineSheet, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from service import errors
from service.ingest import formats, oldbiff, parts, repair
from service.ingest.formats import FileFormat
from service.ingest.keys import column_letter, split_address
from service.ingest.plans import Source
from service.settings import Settings

logger = logging.getLogger("sheetflow.ingest")

Cell = Any
"""A value as python-calamine returns it: str ('' when empty), float, int, bool, date,
datetime, time or timedelta."""


class Workbook:
    """An open workbook; use as a context manager."""

    def __init__(self, path: Path, file: str) -> None:
        self.path = path
        self.file = file
        self.format = formats.format_of_name(file)
        self._opened: CalamineWorkbook | oldbiff.OldWorkbook | None = None
        self._replaced: list[CalamineWorkbook | oldbiff.OldWorkbook] = []
        self._copy: Path | None = None
        self._repair_tried = False
        self._link: Path | None = None

    @property
    def _book(self) -> CalamineWorkbook | oldbiff.OldWorkbook:
        if self._opened is None:
            try:
                self._opened = self._open()
            except python_calamine.PasswordError:
                raise errors.CorruptFile(
                    f"{self.file!r} is password-protected; remove the password and upload it again",
                    file=self.file,
                ) from None
            except (
                python_calamine.CalamineError,
                ValueError,
                OSError,
                zipfile.BadZipFile,
            ) as error:
                raise errors.CorruptFile(
                    f"{self.file!r} cannot be read ({error})", file=self.file
                ) from None
            except BaseException as error:
                if not _is_panic(error):
                    raise
                raise errors.CorruptFile(f"{self.file!r} cannot be read", file=self.file) from None
        return self._opened

    def _open(self) -> CalamineWorkbook | oldbiff.OldWorkbook:
        if self.format is FileFormat.XLS:
            with self.path.open("rb") as stream:
                if oldbiff.is_old_worksheet(stream.read(8)):
                    return oldbiff.OldWorkbook(self.path, self.file)
        try:
            return CalamineWorkbook.from_path(self._named_path())
        except python_calamine.CalamineError:
            # An ods that LibreOffice reads but calamine does not (no `mimetype` member,
            # whitespace between cells): its repaired copy, if there is one (`repair`).
            repaired = self._repaired() if self.format is FileFormat.ODS else None
            if repaired is None:
                raise
            return repaired

    def _named_path(self) -> Path:
        """The file under a name whose extension is its format's: calamine picks its reader
        by the extension, and without one tries each reader in turn and reports only "Cannot
        detect file format". An upload is spooled under such a name (`uploads.spool`); any
        other path is given one through a symbolic link."""
        suffix = formats.extension(self.file)
        if self.format is None or self.path.suffix.lower() == suffix:
            return self.path
        self._link = Path(tempfile.mkdtemp(prefix="workbook-")) / f"workbook{suffix}"
        self._link.symlink_to(self.path.resolve())
        return self._link

    def _repaired(self) -> CalamineWorkbook | None:
        """The workbook opened from its repaired copy (`repair`), once; `None` when there is
        nothing to repair, or the copy does not open either (then the original's error
        stands). Only after calamine failed on the original: the common case pays nothing."""
        if self._repair_tried or self.format is None:
            return None
        self._repair_tried = True
        self._copy = repair.repaired_copy(self.path, self.format)
        if self._copy is None:
            return None
        try:
            return CalamineWorkbook.from_path(self._copy)
        except python_calamine.CalamineError as error:
            logger.info("the repaired copy of %r cannot be read either: %s", self.file, error)
            return None

    def _sheet(self, sheet: str, settings: Settings) -> CalamineSheet | oldbiff.OldSheet:
        """One sheet, from the repaired copy of an xlsx whose sheet calamine cannot read."""
        book = self._book
        if isinstance(book, oldbiff.OldWorkbook):
            return book.load(sheet, settings)
        try:
            return book.get_sheet_by_name(sheet)
        except python_calamine.WorksheetNotFound:
            raise
        except python_calamine.CalamineError:
            repaired = self._repaired() if self.format is FileFormat.XLSX else None
            if repaired is None:
                raise
        if self._opened is not None:
            self._replaced.append(self._opened)  # its sheets already loaded stay valid
        self._opened = repaired
        return repaired.get_sheet_by_name(sheet)

    def __enter__(self) -> Workbook:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for book in [*self._replaced, self._opened]:
            if book is not None:
                book.close()
        if self._copy is not None:
            self._copy.unlink(missing_ok=True)
        if self._link is not None:
            shutil.rmtree(self._link.parent, ignore_errors=True)

    def select(self, sheet: str | None, *, first_only: bool) -> list[str]:
        """Names of the sheets to read: the named one, else the visible worksheets (only
        the first of them when `first_only`)."""
        worksheets = [
            meta for meta in self._book.sheets_metadata if meta.typ == SheetTypeEnum.WorkSheet
        ]
        if sheet is not None:
            if not any(meta.name == sheet for meta in worksheets):
                available = ", ".join(repr(meta.name) for meta in worksheets) or "none"
                raise errors.SheetNotFound(
                    f"{self.file!r} has no worksheet named {sheet!r} (it has: {available})",
                    file=self.file,
                    sheet=sheet,
                )
            return [sheet]
        visible = [meta.name for meta in worksheets if meta.visible == SheetVisibleEnum.Visible]
        if not visible:
            raise errors.CorruptFile(f"{self.file!r} has no visible worksheet", file=self.file)
        return visible[:1] if first_only else visible

    def load(self, sheet: str, settings: Settings) -> LoadedSheet:
        """Load one sheet and check its width."""
        try:
            loaded = self._sheet(sheet, settings)
        except python_calamine.WorksheetNotFound:
            # Listed by the workbook, but its part is missing from the archive.
            raise errors.CorruptFile(
                f"Sheet {sheet!r} of {self.file!r} cannot be read: the file lists it but "
                "does not hold it",
                file=self.file,
                sheet=sheet,
            ) from None
        except (python_calamine.CalamineError, ValueError, OSError) as error:
            raise errors.CorruptFile(
                f"Sheet {sheet!r} of {self.file!r} cannot be read ({error})",
                file=self.file,
                sheet=sheet,
            ) from None
        except BaseException as error:
            if not _is_panic(error):
                raise
            raise errors.CorruptFile(
                f"Sheet {sheet!r} of {self.file!r} cannot be read",
                file=self.file,
                sheet=sheet,
            ) from None
        return LoadedSheet(self.file, sheet, [loaded], settings)

    def load_cut(self, cutter: parts.Cutter, settings: Settings) -> LoadedSheet | None:
        """The sheet `cutter` cut, loaded from its parts; `None` when that failed (then `load`
        it whole, for the same rows or the same error)."""
        try:
            pieces = cutter.pieces()
            _check_in_order(pieces)
        except Exception as error:
            logger.info("sheet %r of %r is loaded whole: %s", cutter.sheet, self.file, error)
            return None
        except BaseException as error:
            if not _is_panic(error):
                raise
            return None
        return LoadedSheet(self.file, cutter.sheet, pieces, settings)


def load_part(sheet: str, path: Path) -> CalamineSheet:
    """One sheet of a part written by `parts.Cutter`."""
    with CalamineWorkbook.from_path(path) as book:
        return book.get_sheet_by_name(sheet)


def _check_in_order(pieces: Sequence[CalamineSheet]) -> None:
    """Refuse parts whose rows are not below those of the parts before them (cells placed in
    other rows than theirs, or rows out of order): only a whole load reads those right."""
    last_row = -1
    for piece in pieces:
        start, end = piece.start, piece.end
        if start is None or end is None:
            continue
        if start[0] <= last_row:
            raise parts.CannotCut("rows out of order across parts")
        last_row = end[0]


class LoadedSheet:
    """One sheet in memory, as one piece or as parts read one after the other (`parts`): its
    rows, first column, width and height."""

    def __init__(
        self,
        file: str,
        name: str,
        pieces: Sequence[CalamineSheet | oldbiff.OldSheet],
        settings: Settings,
    ) -> None:
        self.name = name
        # Each piece with its first and last cells, (row, column) from 0; empty ones dropped.
        self.pieces = [
            (piece, piece.start, piece.end)
            for piece in pieces
            if piece.start is not None and piece.end is not None
        ]
        self.first_column = self.width = self.height = self.last_row = 0
        self._never_blank: frozenset[int] = frozenset()
        if not self.pieces:
            return
        self.first_column = min(start[1] for _, start, _ in self.pieces)
        last_column = max(end[1] for _, _, end in self.pieces)
        self.width = last_column - self.first_column + 1
        self.height = self.pieces[-1][2][0] - self.pieces[0][1][0] + 1
        self.last_row = self.pieces[-1][2][0] + 1
        if last_column + 1 > settings.max_columns:
            raise errors.LimitExceeded(
                f"Sheet {name!r} of {file!r} has a value in column {column_letter(last_column)} "
                f"(column {last_column + 1:,}), past the limit of {settings.max_columns:,} columns",
                limit="max_columns",
                value=settings.max_columns,
                file=file,
                sheet=name,
                column=column_letter(last_column),
            )

    def hold_errors(self, error_cells: Mapping[str, str]) -> None:
        """Take in the sheet's error cells (A1 address → text), before `first_column` and
        `rows` are read: their rows are never blank, and the sheet grows to cover those that
        calamine leaves outside it (to calamine, an xlsb formula whose cached result is an
        error is no cell at all). The `guards` checked their columns against the limit."""
        if not error_cells:
            return
        places = [split_address(address) for address in error_cells]
        self._never_blank = frozenset(row for row, _ in places)
        columns = [column for _, column in places]
        first, last = min(columns), max(columns)
        if self.width:
            first = min(first, self.first_column)
            last = max(last, self.first_column + self.width - 1)
        self.first_column, self.width = first, last - first + 1
        self.last_row = max(self.last_row, max(self._never_blank))

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(real 1-based row number, cells) of every non-blank row, top to bottom.

        A row is blank when every cell is empty or only whitespace and NUL characters
        (which are removed, so such a cell has no value); rows holding an error cell
        (`hold_errors`), which calamine reads as empty, are never blank.
        """
        never_blank = self._never_blank
        if not self.width:
            return
        empty_row = [""] * self.width
        for number, row in self._numbered_rows():
            # `==` stops at the first cell that differs: cheap on rows with data.
            first = row[0]
            blank = row == empty_row or (
                type(first) is str
                and (not first.strip() or ("\x00" in first and _is_blank_text(first)))
                and _is_blank(row)
            )
            if blank and number not in never_blank:
                continue
            yield number, row

    def _numbered_rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(real row number, cells from the sheet's first column on) of every row, blank
        ones included. python-calamine gives a piece's rows from row 1 (those before the
        piece's first are blank padding) and its cells from the piece's own first column;
        rows and columns that only error cells reach are padded here."""
        given = 0
        last_column = self.first_column + self.width - 1
        for piece, start, end in self.pieces:
            rows: Iterator[list[Cell]] = itertools.islice(piece.iter_rows(), given, None)
            left = [""] * (start[1] - self.first_column)
            right = [""] * (last_column - end[1])
            if left or right:
                rows = (left + row + right for row in rows)
            yield from enumerate(rows, given + 1)
            given = end[0] + 1
        for number in range(given + 1, self.last_row + 1):
            yield number, [""] * self.width


def open_for_list(
    source: Source,
    sheet: str | None,
    settings: Settings,
    *,
    cutter: parts.Cutter | None = None,
) -> tuple[Workbook, list[str], LoadedSheet | None]:
    """A workbook opened for a list-mode read: the sheets to read and, when there is just one,
    that sheet loaded (a one-pass read), from the parts of `cutter` when it cut that sheet.
    The caller closes the workbook."""
    book = Workbook(source.path, source.name)
    try:
        names = book.select(sheet, first_only=False)
        loaded = None
        if cutter is not None and names == [cutter.sheet]:
            loaded = book.load_cut(cutter, settings)
        elif cutter is not None:
            cutter.close()
        if loaded is None and len(names) == 1:
            loaded = book.load(names[0], settings)
    except BaseException:
        book.close()
        raise
    return book, names, loaded


class Opening(threading.Thread):
    """`open_for_list` in a thread of its own, started at once; `result` waits for it.

    Only for a process that may die: if the file is hostile, calamine may abort the whole
    process before the caller's pre-checks have refused it (the parsing worker's parent
    then runs the pre-checks alone, see `ingestion`). A daemon thread, so that a process
    whose pre-checks refused the file exits without waiting for calamine to finish."""

    def __init__(
        self,
        source: Source,
        sheet: str | None,
        settings: Settings,
        *,
        cutter: parts.Cutter | None = None,
    ) -> None:
        super().__init__(name="calamine", daemon=True)
        self._request = (source, sheet, settings)
        self._cutter = cutter
        self._outcome: tuple[Workbook, list[str], LoadedSheet | None] | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._outcome = open_for_list(*self._request, cutter=self._cutter)
        except BaseException as error:  # handed to the caller by `result`
            self._error = error

    def result(self) -> tuple[Workbook, list[str], LoadedSheet | None]:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome


def _is_panic(error: BaseException) -> bool:
    """Whether `error` is a Rust panic surfaced by pyo3: a BaseException (so that it is not
    swallowed by accident) that calamine raises on some malformed files instead of an error."""
    return type(error).__name__ == "PanicException"


def _is_blank_text(text: str) -> bool:
    return not text.replace("\x00", "").strip()


def _is_blank(row: Sequence[Any]) -> bool:
    return all(type(cell) is str and _is_blank_text(cell) for cell in row)
