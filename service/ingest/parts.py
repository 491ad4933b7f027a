"""Parts: a big xlsx worksheet cut at row boundaries into workbooks that calamine loads side
by side, while the `guards` pre-checks are still reading it.

calamine loads a whole worksheet before it gives its first row, in one thread: for 200,000
rows x 12 that is 1.5 s before anything can reach PostgreSQL, with the second core busy
only while the pre-checks run (0.6 s). So on a machine with more than one CPU, a big sheet
(`MIN_BYTES` of XML) is cut into parts, four per CPU (see `part_count`), by a `Cutter`,
which says how, and why the parts make the same sheet.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import IO, Any

from service.ingest import guards

MIN_BYTES = 16 * 1024 * 1024
"""Sheets with less XML than this are loaded whole: cutting them saves too little."""
MAX_PARTS = 8
_MAX_HEAD = 1024 * 1024
_SHEET_DATA = re.compile(rb"<((?:\w+:)?)sheetData(?:\s[^>]*)?(?<!/)>")
_WORKSHEET = re.compile(rb"<((?:\w+:)?)worksheet[\s>]")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*/>")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")
_ROW_START = re.compile(rb"\s*<(?:\w+:)?row\b([^>]*)>")
_ROW_NUMBER = re.compile(rb'\sr="[0-9]+"')
_UNSAFE = (b"<![CDATA[", b"<!--")
_OVERLAP = 16
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


class CannotCut(Exception):
    """This sheet is loaded whole."""


def part_count(size: int, shared_strings: int) -> int:
    """How many parts a sheet of `size` bytes of XML is cut into (1: not cut), in a workbook
    whose shared strings take `shared_strings` bytes.

    Four parts per CPU: the more parts, the sooner the last one is loaded once the pre-checks
    have read the end of the sheet (for 200k rows, the first row comes after 1.51 s with 2
    parts, 1.40 with 3, 1.34 with 4, 1.18 with 8, against 1.6 uncut; the whole ingestion
    took 4.23-4.46 s with 8 parts, 4.69 with 4, side by side), but each part costs the rows
    before it again (python-calamine pads a part's rows from row 1) and its own read of the
    shared strings. So a part must hold at least twice as many bytes of sheet as
    there are bytes of shared strings (a sheet whose text is mostly shared strings gains
    nothing, measured: 1.54 s uncut, 1.56 in 2 parts, 1.64 in 4)."""
    cpus = len(os.sched_getaffinity(0))
    if size < MIN_BYTES or cpus < 2:
        return 1
    count = min(MAX_PARTS, 4 * cpus)
    if shared_strings:
        count = min(count, size // (2 * shared_strings))
    return max(count, 1)


def plan(
    archive_path: Path,
    file: str,
    sheet: str | None,
    load: Callable[[str, Path], Any],
    scratch: Path | None = None,
) -> Cutter | None:
    """A `Cutter` for the sheet a list-mode read of this xlsx workbook will load alone (the
    one named, else the only visible one), when it is worth cutting; else `None`, also for
    a workbook these few reads cannot make sense of (the pre-checks will say what is wrong).
    The caller checks that calamine picks the same sheet."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            worksheets = guards.worksheet_parts(archive, file)
            book = guards.small_xml(archive, "xl/workbook.xml", file)
            sizes = {info.filename: info.file_size for info in archive.infolist()}
    except Exception:
        return None
    visible = [
        element.get("name", "")
        for element in book.iter(f"{_MAIN_NS}sheet")
        if element.get("state", "visible") == "visible"
    ]
    wanted = [sheet] if sheet is not None else visible
    if len(wanted) != 1:
        return None
    member = next((part for part, name in worksheets.items() if name == wanted[0]), None)
    if member is None:
        return None
    count = part_count(sizes.get(member, 0), sizes.get(guards.SHARED_STRINGS, 0))
    if count < 2:
        return None
    return Cutter(archive_path, member, wanted[0], count, sizes[member], worksheets, load, scratch)


class Cutter:
    """Writes the parts of one worksheet from its XML, fed in chunks (`feed`, then `finish`,
    or `end` if the feeding stopped early), and loads each with `load(sheet, path)` in a
    thread of its own; `pieces` waits for them. Never raises from `feed` or `finish`.

    The pre-checks inflate every byte of the sheet anyway: a `Cutter` is handed those bytes
    (it is one of their scanners), writes each part as a workbook of its own (uncompressed, in
    a temporary directory: the original's XML parts but the worksheets, plus one slice of the
    sheet's rows), and has calamine load it in a thread of its own as soon as it is written
    (calamine releases the GIL). `workbook.LoadedSheet` then reads the parts one after the
    other as one sheet. For 200k rows the first row comes about 0.4 s sooner. The workbook's
    shared strings are read once per part, so a sheet whose text is mostly shared strings is cut
    into fewer parts, or none.

    Why the parts make the same sheet:
    - A cut falls right after a row's end tag, so every cell stays in its row, and each slice
      sits between the sheet's own head (everything up to `<sheetData>`) and the end tags of
      `sheetData` and `worksheet`: well-formed XML. The head loses its `<dimension>`, which
      calamine would use to reserve room for the whole sheet in every part.
    - Cells keep their references, so they keep their rows and columns. calamine numbers a row
      without an `r` attribute after the row before it, which a later part does not have: a
      sheet whose first row in a part has no `r` is not cut.
    - A CDATA section or a comment could hold `</row>` as text: a sheet with either is not cut.
    - Rows must come in order: a part whose rows are not all below the rows of the parts before
      it is not used (`workbook`). python-calamine gives each part's rows from the sheet's row
      1, so real row numbers hold, and the sheet's used range is the union of the parts'.

    When a sheet cannot be cut, or anything fails while it is cut or a part is loaded, the sheet
    is loaded whole, as before, and gives the same rows or the same error. A failure of the
    Cutter never becomes the pre-checks' refusal.
    """

    def __init__(
        self,
        archive_path: Path,
        member: str,
        sheet: str,
        count: int,
        size: int,
        skip: Collection[str],
        load: Callable[[str, Path], Any],
        scratch: Path | None = None,
    ) -> None:
        """`skip`: the members not copied into the parts (the workbook's worksheets);
        `scratch`: where the parts' directory goes."""
        self.archive_path = archive_path
        self.member = member
        self._skip = skip
        self.sheet = sheet
        self.count = count
        self._target = max(1, size // count)
        self._load = functools.partial(load, sheet)
        self._directory = Path(tempfile.mkdtemp(prefix="sheetflow-parts-", dir=scratch))
        self._loaders: list[_Loader] = []
        self._failure: str | None = None
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._buffer = b""
        self._head: bytes | None = None
        self._closing = b""
        self._part: _PartFile | None = None
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            if self._failure is None:
                try:
                    self._feed(chunk)
                except Exception as error:  # the sheet is then loaded whole
                    self._fail(str(error) or type(error).__name__)

    def finish(self) -> None:
        with self._lock:
            self._finish()
            self._finished.set()

    def _finish(self) -> None:
        if self._failure is None:
            try:
                if self._head is None:
                    raise CannotCut("no <sheetData> element near the start of the sheet")
                if self._part is None:
                    self._start_part(self._buffer)
                    assert self._part is not None
                    self._part.write(self._buffer)
                self._complete(b"")  # the last part ends as the sheet does
            except Exception as error:
                self._fail(str(error) or type(error).__name__)

    def end(self) -> None:
        """No more bytes will come; if `finish` was not called, the cut failed."""
        with self._lock:
            if not self._finished.is_set():
                self._fail("the pre-checks stopped before the end of the sheet")
                self._finished.set()

    def pieces(self) -> list[Any]:
        """What `load` gave for each part, in row order; raises `CannotCut` (or what `load`
        raised). The temporary directory is gone once it returns."""
        try:
            self._finished.wait()
            if self._failure is not None:
                raise CannotCut(self._failure)
            return [loader.result() for loader in self._loaders]
        finally:
            self.close()

    def close(self) -> None:
        """Stop cutting, wait for the loads under way and remove the temporary directory."""
        self.end()
        for loader in self._loaders:
            loader.join()
        shutil.rmtree(self._directory, ignore_errors=True)

    def _fail(self, reason: str) -> None:
        self._failure = reason
        if self._part is not None:
            self._part.close()
            self._part = None

    def _feed(self, chunk: bytes) -> None:
        data = self._buffer + chunk
        self._buffer = b""
        if self._head is None:
            found = _SHEET_DATA.search(data)
            if found is None:
                if len(data) > _MAX_HEAD:
                    raise CannotCut("no <sheetData> element near the start of the sheet")
                self._buffer = data
                return
            head = data[: found.end()]
            _check_safe(head)
            worksheet = _WORKSHEET.search(head)
            if worksheet is None:
                raise CannotCut("no worksheet element")
            self._closing = b"</%ssheetData></%sworksheet>" % (found[1], worksheet[1])
            self._head = _DIMENSION.sub(b"", head)
            data = data[found.end() :]
        _check_safe(self._carry + chunk[:_OVERLAP])
        _check_safe(chunk)
        self._carry = chunk[-_OVERLAP:]
        while True:
            if self._part is None:
                if self._loaders and b">" not in data:
                    self._buffer = data  # wait for the whole tag that starts the part
                    return
                self._start_part(data)
            assert self._part is not None
            room = self._target - self._part.written
            last = len(self._loaders) == self.count - 1
            found = None if last or len(data) < room else _ROW_END.search(data, max(0, room))
            if found is None:
                self._part.write(data)
                return
            self._part.write(data[: found.end()])
            self._complete(self._closing)
            data = data[found.end() :]

    def _start_part(self, data: bytes) -> None:
        index = len(self._loaders)
        if index:
            row = _ROW_START.match(data)
            if row is None or _ROW_NUMBER.search(row[1]) is None:
                raise CannotCut("a part does not start with a numbered row")
        assert self._head is not None
        self._part = _PartFile(
            self._directory / f"part{index}.xlsx",
            self.archive_path,
            self.member,
            self._skip,
            self._head,
        )

    def _complete(self, closing: bytes) -> None:
        assert self._part is not None
        self._part.write(closing)
        path = self._part.close()
        self._part = None
        self._loaders.append(_Loader(self._load, path))


class _PartFile:
    """One part being written: the original's members but its worksheets, then the sheet."""

    def __init__(
        self, path: Path, archive_path: Path, member: str, skip: Collection[str], head: bytes
    ) -> None:
        self.path = path
        self.written = 0
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED)
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                name = info.filename
                if name in skip or not name.lower().endswith((".xml", ".rels")):
                    continue
                with archive.open(info) as source, self._zip.open(name, "w") as target:
                    shutil.copyfileobj(source, target)
        self._sheet: IO[bytes] | None = self._zip.open(member, "w", force_zip64=True)
        self._sheet.write(head)

    def write(self, data: bytes) -> None:
        assert self._sheet is not None
        self._sheet.write(data)
        self.written += len(data)

    def close(self) -> Path:
        if self._sheet is not None:
            self._sheet.close()
            self._sheet = None
        self._zip.close()
        return self.path


class _Loader(threading.Thread):
    def __init__(self, load: Callable[[Path], Any], path: Path) -> None:
        super().__init__(name="calamine-part", daemon=True)
        self._load = load
        self._path = path
        self._value: Any = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._value = self._load(self._path)
        except BaseException as error:  # handed over by `result`
            self._error = error

    def result(self) -> Any:
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def _check_safe(data: bytes) -> None:
    if b"<!" in data and any(token in data for token in _UNSAFE):
        raise CannotCut("the sheet holds a CDATA section or a comment")
