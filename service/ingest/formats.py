"""What kind of file an upload is, decided by its content (spec §4.1).

The client's MIME type is never consulted. The content decides, and the extension of the
client's file name must agree with it:

| format | content                                                          | extensions        |
|--------|------------------------------------------------------------------|-------------------|
| xlsx   | ZIP with `[Content_Types].xml` and `xl/workbook.xml`             | .xlsx .xlsm       |
| xlsb   | ZIP with `[Content_Types].xml` and `xl/workbook.bin`             | .xlsb             |
| xls    | OLE2 compound file (magic `D0 CF 11 E0 A1 B1 1A E1`), or a bare  | .xls              |
|        | BIFF2-4 worksheet stream (Excel 2.x-4.0, see below)              |                   |
| ods    | ZIP whose `mimetype` member says OpenDocument spreadsheet (any   | .ods              |
|        | position), or without one, whose `content.xml` is described by   |                   |
|        | `META-INF/manifest.xml` as an OpenDocument spreadsheet           |                   |
| csv    | text (below)                                                     | .csv .tsv .txt    |

A ZIP holding `xl/workbook.xml` or `xl/workbook.bin` is an Excel workbook even when its
`mimetype` member claims OpenDocument: calamine, which is not told the format, reads such a
polyglot as Excel, so it must be pre-checked (`guards`) as Excel too.

Text means: not one of the above, and, unless it starts with a UTF-16/UTF-32 byte order
mark, at most 1 % of its first 64 KiB (and at least 8 bytes, for tiny files) are control
bytes other than tab, line feed, carriage return, form feed and the old end-of-file mark
(0x1A); the same holds for its last 64 KiB, so that text with an archive appended (a
polyglot) is not read as CSV. That lets a few stray NUL characters through (they are
removed later, with a warning) and refuses binary files such as images and UTF-16 text
without a byte order mark.

A worksheet of Excel 2.x to 4.0 (a bare BIFF2-4 record stream, not OLE2: its first record is
the BOF of BIFF2, 3 or 4 saying "worksheet") is an xls too, read by `oldbiff`. Their charts,
macro sheets and Excel 4.0 workbooks are refused with a 415 that names them.

A mismatch (an `.xls` that is really an HTML export, a `.csv` that is a workbook) and an
unknown extension are `UnsupportedFormat` (415); an empty or unreadable container is
`CorruptFile` (422). Both name the file.
"""

from __future__ import annotations

import enum
import re
import struct
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from service import errors
from service.ingest import oldbiff
from service.settings import Settings

if TYPE_CHECKING:
    from service.ingest.plans import Source

SNIFF_BYTES = 64 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_MANIFEST = "META-INF/manifest.xml"
_MANIFEST_ENTRY = re.compile(rb"<(?:[\w.-]+:)?file-entry\b[^>]*>")
_ROOT_PATH = re.compile(rb"""\bfull-path\s*=\s*["']/["']""")
_MEDIA_TYPE = re.compile(rb"""\bmedia-type\s*=\s*["']([^"']*)["']""")
_OLD_BIFF = {0x0009: ("2.x", 2), 0x0209: ("3.0", 3), 0x0409: ("4.0", 4)}
"""The BOF record of each BIFF version before BIFF5, and the Excel that wrote it."""
_OLD_BIFF_STREAMS = {
    0x0010: "a worksheet",
    0x0020: "a chart",
    0x0040: "a macro sheet",
    0x0100: "a workbook",
}
_UNICODE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_CONTROL_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1A}
_BINARY_SHARE = 0.01
_BINARY_ALLOWANCE = 8


class FileFormat(enum.StrEnum):
    XLSX = "xlsx"
    XLSB = "xlsb"
    XLS = "xls"
    ODS = "ods"
    CSV = "csv"

    @property
    def is_zip(self) -> bool:
        return self in (FileFormat.XLSX, FileFormat.XLSB, FileFormat.ODS)


_FORMAT_OF_EXTENSION = {
    ".xlsx": FileFormat.XLSX,
    ".xlsm": FileFormat.XLSX,
    ".xlsb": FileFormat.XLSB,
    ".xls": FileFormat.XLS,
    ".ods": FileFormat.ODS,
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".txt": FileFormat.CSV,
}
_CONTENT_DESCRIPTION = {
    FileFormat.XLSX: "an Excel .xlsx/.xlsm workbook",
    FileFormat.XLSB: "an Excel .xlsb workbook",
    FileFormat.XLS: "an OLE2 file (a legacy .xls workbook, or a password-protected workbook)",
    FileFormat.ODS: "an OpenDocument .ods spreadsheet",
    FileFormat.CSV: "plain text",
}


def extension(name: str) -> str:
    """Lower-case extension of a client file name, which may carry a Windows path."""
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def format_of_name(name: str) -> FileFormat | None:
    """The format a client file name claims by its extension (`detect_format` checks it)."""
    return _FORMAT_OF_EXTENSION.get(extension(name))


def detect_format(path: Path, name: str) -> FileFormat:
    """The format of the file at `path`, uploaded as `name`, or a 415/422 naming it."""
    expected = _FORMAT_OF_EXTENSION.get(extension(name))
    if expected is None:
        raise errors.UnsupportedFormat(
            f"{name!r} is not a supported file type: upload .xlsx, .xlsm, .xlsb, .xls, "
            ".ods, .csv, .tsv or .txt files",
            file=name,
        )
    with path.open("rb") as stream:
        prefix = stream.read(SNIFF_BYTES)
        stream.seek(max(len(prefix), path.stat().st_size - SNIFF_BYTES))
        suffix = stream.read(SNIFF_BYTES)
    if not prefix:
        raise errors.CorruptFile(f"{name!r} is empty", file=name)
    _refuse_old_excel(prefix, name)
    found = _content_format(path, name, prefix, suffix)
    if found is not expected:
        content = _CONTENT_DESCRIPTION[found] if found else "not a spreadsheet"
        if oldbiff.is_old_worksheet(prefix):
            content = "an Excel 2.x-4.0 worksheet (a legacy .xls)"
        raise errors.UnsupportedFormat(
            f"{name!r} is named {extension(name)} but its content is {content}: "
            "save it in the format its name says",
            file=name,
        )
    return found


def _refuse_old_excel(prefix: bytes, name: str) -> None:
    """A file of Excel 2.x to 4.0 (1987-1992) is a bare BIFF2-4 record stream, not an OLE2
    file: it starts with the BOF record of its version, whose body says what the stream holds.
    A worksheet is an xls (read by `oldbiff`, as python-calamine reads BIFF5 and later only);
    a chart, a macro sheet or an Excel 4.0 workbook (several sheets in one stream) is refused
    by name rather than as "not a spreadsheet"."""
    if len(prefix) < 8:
        return
    kind, size, _, sheet = struct.unpack_from("<HHHH", prefix)
    if kind not in _OLD_BIFF or not 4 <= size <= 16 or sheet not in _OLD_BIFF_STREAMS:
        return
    if sheet == oldbiff.WORKSHEET:
        return  # read by `oldbiff`
    excel, biff = _OLD_BIFF[kind]
    raise errors.UnsupportedFormat(
        f"{name!r} is an Excel {excel} file ({_OLD_BIFF_STREAMS[sheet]}, a BIFF{biff} record "
        "stream), which is not supported: open it in Excel or LibreOffice and save it as "
        ".xlsx, or as .xls (Excel 97-2003)",
        file=name,
    )


def _content_format(path: Path, name: str, prefix: bytes, suffix: bytes) -> FileFormat | None:
    if prefix.startswith(_ZIP_MAGIC):
        return _zip_format(path, name)
    if prefix.startswith(_OLE2_MAGIC) or oldbiff.is_old_worksheet(prefix):
        return FileFormat.XLS
    if prefix.startswith(_UNICODE_BOMS):
        return FileFormat.CSV
    return FileFormat.CSV if _looks_like_text(prefix) and _looks_like_text(suffix) else None


def _looks_like_text(sample: bytes) -> bool:
    control = sum(sample.count(byte) for byte in _CONTROL_BYTES)
    return control <= max(_BINARY_ALLOWANCE, len(sample) * _BINARY_SHARE)


def _zip_format(path: Path, name: str) -> FileFormat | None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                if "[Content_Types].xml" not in names:
                    return None
                return FileFormat.XLSX if "xl/workbook.xml" in names else FileFormat.XLSB
            return _opendocument_format(archive, names)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        OSError,
    ) as error:
        raise errors.CorruptFile(
            f"{name!r} is a damaged ZIP archive ({error})", file=name
        ) from None
    return None


def open_source(source: Source, settings: Settings) -> FileFormat:
    """The format of an upload, once its size is within `max_file_bytes`."""
    size = source.path.stat().st_size
    if size > settings.max_file_bytes:
        raise errors.LimitExceeded(
            f"{source.name!r} is {size:,} bytes; the limit is {settings.max_file_bytes:,} per file",
            limit="max_file_bytes",
            value=settings.max_file_bytes,
            file=source.name,
        )
    return detect_format(source.path, source.name)


def _opendocument_format(archive: zipfile.ZipFile, names: set[str]) -> FileFormat | None:
    """ODS if the archive says it is an OpenDocument spreadsheet: by its `mimetype` member,
    wherever it sits (tools that re-zip a document do not always keep it first), or, without
    one, by the media type its manifest gives the document itself. Only the first bytes of
    either are inflated, so a bomb costs nothing here."""
    if "mimetype" in names:
        with archive.open("mimetype") as mimetype:
            declared = mimetype.read(len(ODS_MIMETYPE) + 1).strip()
        return FileFormat.ODS if declared == ODS_MIMETYPE else None
    if "content.xml" not in names or _MANIFEST not in names:
        return None
    with archive.open(_MANIFEST) as manifest:
        head = manifest.read(SNIFF_BYTES)
    for entry in _MANIFEST_ENTRY.findall(head):
        if _ROOT_PATH.search(entry):
            found = _MEDIA_TYPE.search(entry)
            return FileFormat.ODS if found and found[1] == ODS_MIMETYPE else None
    return None
