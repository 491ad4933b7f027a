"""CSV, TSV and TXT files: encoding, delimiter, and a streaming record reader.

Memory never grows with the file: records are read through `open(..., newline="")`,
whose incremental decoder turns bytes into text a buffer at a time, and `csv.reader`
yields one record at a time. Only sniffing reads a bounded prefix (64 KiB).

Encoding (spec §4.1):

1. A byte order mark decides: UTF-8 (`utf-8-sig`), UTF-16 or UTF-32. UTF-16/32 text is
   decoded with `surrogatepass`, so a lone surrogate is kept and later replaced, with a
   warning, rather than failing the file.
2. Otherwise UTF-8 is assumed when the prefix is valid UTF-8, and the whole file is held
   to it: the first pass reads every byte through a strict UTF-8 decoder, and a decoding
   error there sends the file back to step 3 (`legacy_encoding`) and restarts the pass.
3. Text that is not UTF-8 is cp1252, what Excel writes on Western and Portuguese Windows,
   unless it is clearly in another script. charset-normalizer is only asked when most
   non-ASCII bytes come in runs of three or more (words of Cyrillic, Greek, Arabic,
   Hebrew or CJK text); accented Latin text has them alone or in pairs (`São`, `ção`),
   and on short samples charset-normalizer guesses cp1250/cp1258 or even Big5 for it.
   Its answer is taken only when its decoded text uses a non-Latin script. The five byte
   values cp1252 leaves undefined are read as the C1 controls Windows maps them to, so a
   cp1252 file never fails to decode.

Delimiter: among `,` `;` tab `|`, the one that splits the sample's records into the most
consistent number of fields (then the most fields) wins; a single-column file gets tab
for `.tsv` and comma otherwise. Quotes are `"` with `""` as an escaped quote, fields may
span lines, and line ends may be CRLF, LF or CR.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TextIO

import charset_normalizer
import msgspec

from service import errors
from service.ingest.formats import SNIFF_BYTES, extension

if TYPE_CHECKING:
    from service.ingest.plans import Source

DELIMITERS = (",", ";", "\t", "|")
_SNIFF_RECORDS = 200
_LONG_RUN = re.compile(rb"[\x80-\xff]{3,}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_LATIN_ALPHABETS = (
    "Latin",
    "Control character",
    "General Punctuation",
    "Currency Symbols",
    "Letterlike Symbols",
    "Spacing Modifier Letters",
    "Number Forms",
    "Box Drawing",
    "Block Elements",
    "Geometric Shapes",
    "Mathematical Operators",
)
_CP1252_HOLES = "cp1252-holes"


def _read_cp1252_holes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_CP1252_HOLES, _read_cp1252_holes)


class TextDialect(msgspec.Struct, frozen=True):
    """How to read one delimited file; found by pass 1 and reused by pass 2."""

    encoding: str
    delimiter: str

    @property
    def decode_errors(self) -> str:
        if self.encoding == "cp1252":
            return _CP1252_HOLES
        if self.encoding.startswith("utf-16") or self.encoding.startswith("utf-32"):
            return "surrogatepass"
        return "strict"

    @property
    def may_carry_surrogates(self) -> bool:
        return self.decode_errors == "surrogatepass"


def sniff(path: Path, name: str) -> TextDialect:
    """Encoding and delimiter of a text file, from its first 64 KiB."""
    with path.open("rb") as stream:
        prefix = stream.read(SNIFF_BYTES)
        complete = len(prefix) < SNIFF_BYTES
    encoding = _bom_encoding(prefix)
    if encoding is None:
        encoding = "utf-8" if _is_utf8(prefix, final=complete) else legacy_encoding(prefix)
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    sample = decoder.decode(prefix, final=complete)
    if not complete:
        # The last line may be cut short; keep whole lines only.
        sample = sample[: max(sample.rfind("\n"), 0)] or sample
    preferred = "\t" if extension(name) == ".tsv" else ","
    return TextDialect(encoding=encoding, delimiter=_sniff_delimiter(sample, preferred))


def _bom_encoding(prefix: bytes) -> str | None:
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if prefix.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _is_utf8(data: bytes, *, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def is_utf8_file(path: Path) -> bool:
    """Whether the whole file is valid UTF-8, read in blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def legacy_encoding(sample: bytes) -> str:
    """The encoding of text that is not UTF-8 (see the module docstring)."""
    high_bytes = len(_HIGH_BYTE.findall(sample))
    in_long_runs = sum(len(run) for run in _LONG_RUN.findall(sample))
    if not high_bytes or in_long_runs * 2 < high_bytes:
        return "cp1252"
    guess = charset_normalizer.from_bytes(sample).best()
    if guess is None:
        return "cp1252"
    non_latin = [
        alphabet
        for alphabet in guess.alphabets
        if not any(latin in alphabet for latin in _LATIN_ALPHABETS)
    ]
    return codecs.lookup(guess.encoding).name if non_latin else "cp1252"


def non_utf8_sample(path: Path) -> bytes:
    """Up to 64 KiB of the file's blocks that hold non-ASCII bytes, for `legacy_encoding`."""
    sample = bytearray()
    with path.open("rb") as stream:
        while len(sample) < SNIFF_BYTES and (block := stream.read(SNIFF_BYTES // 4)):
            if not block.isascii():
                sample += block
    return bytes(sample)


def _sniff_delimiter(sample: str, preferred: str) -> str:
    best, best_score = preferred, (0.0, 0, preferred == "\t")
    for delimiter in DELIMITERS:
        widths: list[int] = []
        try:
            for record in csv.reader(io.StringIO(sample), delimiter=delimiter, strict=False):
                if any(field.strip() for field in record):
                    widths.append(len(record))
                    if len(widths) == _SNIFF_RECORDS:
                        break
        except csv.Error:
            pass  # a field past the size limit (an unclosed quote?): judge what was read

        if not widths:
            continue
        width, frequency = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        score = (frequency / len(widths), width, delimiter == preferred)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def open_text(path: Path, dialect: TextDialect) -> TextIO:
    return path.open(encoding=dialect.encoding, errors=dialect.decode_errors, newline="")


def records(stream: TextIO, dialect: TextDialect) -> Iterator[list[str]]:
    """Records of an open text file, one list of raw fields each (blank lines are `[]`)."""
    return csv.reader(
        stream,
        delimiter=dialect.delimiter,
        quotechar='"',
        doublequote=True,
        skipinitialspace=False,
        strict=False,
    )


def allow_fields_up_to(max_chars: int) -> None:
    """Raise the csv module's (process-wide) field size limit to fit `max_chars`.

    The limit stays: a field past it raises `csv.Error`, which is what keeps an unclosed
    quote from reading the rest of the file into one field. Surrounding whitespace is
    trimmed later, so the limit leaves room for some.
    """
    csv.field_size_limit(max_chars + 1024)


def csv_dialect(source: Source, *, whole_file: bool = True) -> TextDialect:
    """Encoding and delimiter of a CSV file. A file whose first 64 KiB are UTF-8 but whose
    rest is not is read in its legacy encoding (`legacy_encoding`): the whole
    file is checked first, so that reading can stream rows out from the first record.
    `whole_file=False` (a preview, which reads its first rows only) trusts the first 64 KiB."""
    dialect = sniff(source.path, source.name)
    if whole_file and dialect.encoding == "utf-8" and not is_utf8_file(source.path):
        legacy = legacy_encoding(non_utf8_sample(source.path))
        dialect = TextDialect(encoding=legacy, delimiter=dialect.delimiter)
    return dialect


def csv_sheet_name(file: str) -> str:
    """The sheet name of a CSV file: its name without extension (what Excel shows)."""
    return PurePosixPath(file.replace("\\", "/")).stem or file


def csv_rows(stream: Any, dialect: TextDialect, file: str) -> Iterator[tuple[int, list[str]]]:
    """(record number, fields) of every non-blank record of an open CSV file; a record is
    blank when its fields hold nothing but whitespace and NUL characters (which are removed)."""
    number = 0
    try:
        for number, record in enumerate(records(stream, dialect), 1):
            # `any` settles most records; only a blank-looking first field costs a join.
            if not any(record) or (
                not record[0].replace("\x00", "").strip()
                and not "".join(record).replace("\x00", "").strip()
            ):
                continue
            yield number, record
    except UnicodeDecodeError as error:
        raise undecodable(file, dialect, error) from None
    except csv.Error as error:
        failed = number + 1
        if "field larger than field limit" in str(error):
            raise TooLongField(failed) from None
        raise errors.CorruptFile(
            f"{file!r} cannot be read as CSV at record {failed} ({error})",
            file=file,
            row=failed,
        ) from None


class TooLongField(Exception):
    def __init__(self, row: int) -> None:
        super().__init__(row)
        self.row = row


def fit_record(cells: list[Any], width: int) -> list[Any]:
    """A CSV record cut or padded to the header's width."""
    if len(cells) > width:
        return cells[:width]
    return cells + [""] * (width - len(cells))


def undecodable(file: str, dialect: TextDialect, error: UnicodeDecodeError) -> errors.CorruptFile:
    return errors.CorruptFile(
        f"{file!r} is not valid {dialect.encoding} text ({error.reason}); save it as UTF-8",
        file=file,
    )
