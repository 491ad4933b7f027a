"""Copies of ZIP workbooks rewritten so that python-calamine reads what LibreOffice reads.

python-calamine 0.9.1 refuses two harmless shapes of XML that other writers produce:

- **ods**: whitespace between the elements of a table (`<table:table-row>`, a line break,
  `<table:table-cell>`), as KSpread writes `content.xml`, indented: "Expecting
  'table-cell', found Text". LibreOffice ignores whitespace there (it is no cell content).
  The copy drops whitespace-only text between elements, but keeps it inside paragraphs
  (`<text:span>a</text:span> <text:span>b…`).
  It also gives the archive its `mimetype` member when it has none (calamine insists on it,
  `formats` and LibreOffice do not).
- **xlsx**: numbers padded with spaces, `<v> 41</v>`, as R's openxlsx writes some sheets:
  "Parse float error". The copy trims the `<v>` of every cell that is not a string
  (`t="str"`) or an error (`t="e"`), whose text is kept as it is.

`repaired_copy` is only called after calamine has failed on the original, so the common case
pays nothing; the copy is streamed member by member, in 1 MiB chunks with a bounded carry, so
memory stays flat whatever the file's size, and its members are stored uncompressed (it
takes as much disk as the XML inflates to, at most the pre-checks' limit). It only makes
XML shorter: what the `guards` pre-checks found in the original (sizes, far cells,
declarations) holds for the copy. It still refuses to inflate more than the declared
sizes, and no more than the pre-checks allow (`guards.inflate_limit`), as it may run while
they are still reading the file (`parse`).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from service.ingest import guards
from service.ingest.formats import ODS_MIMETYPE, FileFormat

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
MAX_CARRY = 16 * 1024 * 1024
"""Bytes held back waiting for the end of an element; past it they are written unchanged."""
_SUFFIX = {FileFormat.ODS: ".ods", FileFormat.XLSX: ".xlsx"}

# ods: a run of whitespace between two tags, unless the second is a `text:` end tag or a
# `text:` start tag other than a paragraph's (those are inside a paragraph, where whitespace
# is text). No group in the pattern: the replacement is a plain copy, in C.
_BETWEEN_ELEMENTS = re.compile(rb">[ \t\r\n]+(?=<(?!/text:|text:(?!(?:p|h)[ \t\r\n/>])))")
# xlsx: the whitespace around the value of a cell that is not a string or an error.
_CELL_HEAD = (
    rb"<c\b(?![^>]*\bt\s*=\s*[\"'](?:str|e|inlineStr)[\"'])[^>]*>"
    rb"(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?<v>"
)
_LEADING = re.compile(rb"(" + _CELL_HEAD + rb")[ \t\r\n]+")
_TRAILING = re.compile(rb"(" + _CELL_HEAD + rb"[^<]*?)[ \t\r\n]+</v>")
_PADDED = re.compile(rb"<v>[ \t\r\n]|[ \t\r\n]</v>")
_LEADING_PADDING = re.compile(rb"<v>[ \t\r\n]+")
_TRAILING_PADDING = re.compile(rb"[ \t\r\n]+</v>")
_TRAILING_MARKS = (b" </v>", b"\t</v>", b"\n</v>", b"\r</v>")
_TEXT_CELL = re.compile(rb"""\bt\s*=\s*["'](?:str|e)["']""")


class _Rewriter(Protocol):
    changed: bool

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


def repaired_copy(path: Path, fmt: FileFormat) -> Path | None:
    """A copy of the workbook at `path` with the shapes above rewritten, in the temporary
    directory (the worker's scratch), named with its format's extension; `None` when the
    file has nothing to rewrite or cannot be copied (then calamine's own error stands).
    The caller deletes the copy."""
    suffix = _SUFFIX.get(fmt)
    if suffix is None:
        return None
    handle, name = tempfile.mkstemp(prefix="repaired-", suffix=suffix)
    os.close(handle)
    copy = Path(name)
    try:
        if _rewrite(path, copy, fmt):
            return copy
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as error:
        logger.info("%s cannot be repaired: %s", path.name, error)
    except (RuntimeError, NotImplementedError, ValueError, KeyError) as error:
        logger.info("%s cannot be repaired: %s", path.name, error)
    copy.unlink(missing_ok=True)
    return None


def _rewrite(path: Path, copy: Path, fmt: FileFormat) -> bool:
    """Write the rewritten archive to `copy`; whether anything was rewritten."""
    with zipfile.ZipFile(path) as archive:
        members = [member for member in archive.infolist() if not member.is_dir()]
        declared = sum(member.file_size for member in members)
        size = path.stat().st_size
        if len(members) > guards.MAX_MEMBERS or declared > guards.inflate_limit(size):
            return False
        if any(member.flag_bits & 0x1 for member in members):
            return False
        targets = _targets(archive, fmt)
        changed = False
        with zipfile.ZipFile(copy, "w") as out:
            names = {member.filename for member in members}
            if fmt is FileFormat.ODS and "mimetype" not in names:
                out.writestr("mimetype", ODS_MIMETYPE, compress_type=zipfile.ZIP_STORED)
                changed = True
            for member in members:
                rewriter = targets.get(member.filename, _none)()
                _copy_member(archive, member, out, rewriter)
                changed = changed or rewriter.changed
    return changed


def _targets(archive: zipfile.ZipFile, fmt: FileFormat) -> dict[str, Callable[[], _Rewriter]]:
    if fmt is FileFormat.ODS:
        return {"content.xml": OdsWhitespace}
    return {
        member: XlsxNumbers
        for member in archive.namelist()
        if member.startswith("xl/worksheets/") and member.endswith(".xml")
    }


def _copy_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, out: zipfile.ZipFile, rewriter: _Rewriter
) -> None:
    """Stream one member into `out` through `rewriter` (zipfile stops reading a member at
    its declared size, and checks its CRC at the end)."""
    info = zipfile.ZipInfo(member.filename, member.date_time)
    # Stored, not deflated: the copy is read once, at once, and compressing it took longer
    # than rewriting it. Its size is bounded by the pre-checks' limit on inflated bytes.
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = member.external_attr
    with (
        archive.open(member) as source,
        out.open(info, "w", force_zip64=member.file_size >= 1 << 31) as target,
    ):
        while chunk := source.read(CHUNK):
            target.write(rewriter.feed(chunk))
        target.write(rewriter.finish())


class _Unchanged:
    changed = False

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""


def _none() -> _Rewriter:
    return _Unchanged()


class OdsWhitespace:
    """Drops whitespace-only text between the elements of an ods `content.xml`, fed in chunks
    of any size: a run of whitespace between two tags goes, unless the second one is a
    `text:` end tag or a `text:` start tag other than a paragraph's (`<text:span>`,
    `<text:s/>`, `</text:p>`…), where the run is text inside a paragraph and stays. (A run
    inside a paragraph before an element of another namespace, a frame, say, would go:
    spreadsheets do not put those between words.) One regular expression, no Python code
    per run."""

    def __init__(self) -> None:
        self.carry = b""
        self.changed = False

    def feed(self, chunk: bytes) -> bytes:
        data = self.carry + chunk
        # The text up to the last `<` is rewritten; no run after the second-to-last `<`
        # (which still lacks the tag after it) is touched, so the output up to there is
        # final, and the rest is carried.
        last = data.rfind(b"<")
        end = data.rfind(b"<", 0, last) if last > 0 else -1
        if end <= 0:
            if len(data) > MAX_CARRY:
                self.carry = b""
                return data
            self.carry = data
            return b""
        self.carry = data[end:]
        squeezed = self._squeeze(data[:last])
        return squeezed[: len(squeezed) - (last - end)]

    def finish(self) -> bytes:
        data, self.carry = self.carry, b""
        return self._squeeze(data)

    def _squeeze(self, data: bytes) -> bytes:
        squeezed = _BETWEEN_ELEMENTS.sub(b">", data)
        if len(squeezed) != len(data):
            self.changed = True
        return squeezed


class XlsxNumbers:
    """Trims the whitespace around the `<v>` values of an xlsx worksheet's cells that are
    not strings or errors, fed in chunks of any size (cut after the last whole cell)."""

    def __init__(self) -> None:
        self.carry = b""
        self.changed = False

    def feed(self, chunk: bytes) -> bytes:
        data = self.carry + chunk
        end = max(data.rfind(b"</c>"), data.rfind(b":c>"))
        if end < 0:
            if len(data) > MAX_CARRY:
                self.carry = b""
                return data
            self.carry = data
            return b""
        end = data.index(b">", end) + 1
        self.carry = data[end:]
        return self._trim(data[:end])

    def finish(self) -> bytes:
        data, self.carry = self.carry, b""
        return self._trim(data)

    def _trim(self, data: bytes) -> bytes:
        if _PADDED.search(data) is None:
            return data
        if _TEXT_CELL.search(data) is None:  # no string or error cell: every value
            trimmed = _LEADING_PADDING.sub(b"<v>", data)
            if any(mark in trimmed for mark in _TRAILING_MARKS):  # rare: a slower pattern
                trimmed = _TRAILING_PADDING.sub(b"</v>", trimmed)
        else:
            trimmed = _TRAILING.sub(rb"\1</v>", _LEADING.sub(rb"\1", data))
        if len(trimmed) != len(data):
            self.changed = True
        return trimmed
