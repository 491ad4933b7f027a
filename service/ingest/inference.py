"""Whole-column type inference (spec §4.4) and the per-value type check of validation.

Every non-empty value has a *kind*; a column's type is decided from the kind counts of
**all** its values. Among integer, number, boolean, date, datetime, time, email and url,
the column takes the type that the largest share of its non-empty values fits, provided
that share is at least 95 %; ties go to the more specific type (the order just given).
Otherwise it is `string`, and `empty` when it has no value at all. Integers also fit
`number`, dates also fit `datetime` (calamine itself returns a midnight datetime as a
date), and everything fits `string`.
The kinds of text are defined by `classify_text`, of workbook cells by `cell_kind`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from service.entities import InferredType
from service.ingest.values import MAX_SAFE_INTEGER, CellTooLong, TextChunk, prepare_text

INTEGER, NUMBER, BOOLEAN, DATE, DATETIME, TIME, EMAIL, URL, STRING = range(9)
"""Kinds of non-empty values, in the order of specificity used to break ties."""

KIND_COUNT = 9
_CANDIDATES = (INTEGER, NUMBER, BOOLEAN, DATE, DATETIME, TIME, EMAIL, URL)
_KIND_TYPES = (
    InferredType.INTEGER,
    InferredType.NUMBER,
    InferredType.BOOLEAN,
    InferredType.DATE,
    InferredType.DATETIME,
    InferredType.TIME,
    InferredType.EMAIL,
    InferredType.URL,
    InferredType.STRING,
)
FITTING_KINDS: dict[InferredType, frozenset[int]] = {  # what each column type accepts
    InferredType.INTEGER: frozenset({INTEGER}),
    InferredType.NUMBER: frozenset({INTEGER, NUMBER}),
    InferredType.BOOLEAN: frozenset({BOOLEAN}),
    InferredType.DATE: frozenset({DATE}),
    InferredType.DATETIME: frozenset({DATE, DATETIME}),
    InferredType.TIME: frozenset({TIME}),
    InferredType.EMAIL: frozenset({EMAIL}),
    InferredType.URL: frozenset({URL}),
    InferredType.STRING: frozenset(range(KIND_COUNT)),
    InferredType.EMPTY: frozenset(range(KIND_COUNT)),
}
_TYPE_KINDS = {type_: kind for kind, type_ in enumerate(_KIND_TYPES)}

_INTEGER = r"-?(?:0|[1-9][0-9]{0,17})"
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_BOOLEAN = r"(?i:true|false|verdadeiro|falso)"
_YEAR = r"[1-9][0-9]{3}"
_ISO_DATE = rf"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_DAY_FIRST_DATE = rf"(?:0?[1-9]|[12][0-9]|3[01])/(?:0?[1-9]|1[0-2])/{_YEAR}"
_DATE = rf"{_ISO_DATE}|{_DAY_FIRST_DATE}"
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
_DATETIME = (
    rf"{_ISO_DATE}[T ]{_CLOCK}(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?"
    rf"|{_DAY_FIRST_DATE} {_CLOCK}"
)
_TIME = r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+"
_URL = r"(?i:https?|ftp)://[^\s/?#]+(?:[/?#]\S*)?"

# One group per kind, in kind order: `lastindex - 1` of a full match is the kind.
_TEXT_KIND = re.compile(
    "|".join(
        f"({pattern})"
        for pattern in (_INTEGER, _NUMBER, _BOOLEAN, _DATE, _DATETIME, _TIME, _EMAIL, _URL)
    )
)
_POSSIBLY_TYPED_LINE = re.compile(
    "(?m)^(?:"
    + "|".join(
        f"(?:{pattern})" for pattern in (_NUMBER, _BOOLEAN, _DATE, _DATETIME, _TIME, _EMAIL, _URL)
    )
    + ")$"
)
_TYPED_START = re.compile(r"\n[-0-9tTfFvV][^\n]*")
# Dates whose day could be past the end of their month (29-31 February, 31 of a 30-day
# month): the only ones the regexes above cannot vouch for on their own.
# Searched in "\n" + block: the literal first character lets the regex engine skip ahead.
_LATE_DAY = re.compile(
    r"\n(?:[0-9]{4}-(?:02-(?:29|3[01])|(?:0[469]|11)-31)"
    r"|(?:(?:29|3[01])/0?2|31/(?:0?[469]|11))/[0-9]{4})"
)


def _every_line(pattern: str) -> re.Pattern[str]:
    """A block regex: every newline-separated line is empty or matches `pattern`."""
    return re.compile(rf"(?:{pattern})?(?:\n(?:{pattern})?)*")


_EVERY_LINE_DIGITS = _every_line(r"-?[0-9]{1,18}")
_EVERY_LINE_DECIMAL = _every_line(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]+)?")
_EVERY_LINE_KIND = {
    BOOLEAN: _every_line(_BOOLEAN),
    DATE: _every_line(_DATE),
    DATETIME: _every_line(_DATETIME),
    TIME: _every_line(_TIME),
    EMAIL: _every_line(_EMAIL),
    URL: _every_line(_URL),
}


def _is_real_date(text: str) -> bool:
    """Whether the date at the start of an ISO or day-first text exists in the calendar."""
    if text[4:5] == "-":
        year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    else:
        day_text, month_text, rest = text.split("/", 2)
        year, month, day = int(rest[:4]), int(month_text), int(day_text)
    return day <= 28 or day <= calendar.monthrange(year, month)[1]


def classify_text(text: str) -> int:
    """The kind of a trimmed, non-empty text value. This is the definition; the chunk
    functions below are faster ways to the same answer.

    Text (CSV cells, text cells of workbooks), after trimming, is read like this:

    - integer: optional `-`, no leading zero, at most 18 digits, so it always fits a 64-bit
      integer; `"00123"` is string (spec); longer digit runs are number.
    - number: an integer part without leading zero, optional `.digits`, optional exponent.
      No thousands separators and no decimal comma: `1.234,56` is string, because `1.234`
      alone cannot be told apart from a decimal.
    - boolean: `true`, `false`, `verdadeiro`, `falso` in any letter case.
    - date: ISO `YYYY-MM-DD` or day-first `D/M/YYYY` (the seed's locale), a real calendar
      date in the years 1000-9999. Never month-first: `12/31/2024` is string.
    - datetime: such a date, then `T` or a space, then `HH:MM[:SS[.fraction]]`; ISO ones may
      end with `Z` or `±HH:MM`.
    - time: `H:MM[:SS[.fraction]]` with hours 0-23.
    - email: ASCII `local@domain.tld`; url: `http://`, `https://` or `ftp://` and a host.
    """
    match = _TEXT_KIND.fullmatch(text)
    if match is None:
        return STRING
    kind: int = match.lastindex - 1  # type: ignore[operator]  # a full match has a group
    if kind in (DATE, DATETIME) and not _is_real_date(text):
        return STRING
    return kind


def cell_kind(value: Any) -> int:
    """The kind of a non-empty workbook value (a trimmed `str` goes through the text rules).

    Workbook cells count as their type: numbers are integer (integral, within ±2^53) or
    number, then boolean, date, datetime, and time for times and durations.
    """
    kind = type(value)
    if kind is str:
        return classify_text(value)
    if kind is float:
        number: float = value
        if number.is_integer() and -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            return INTEGER
        return NUMBER
    if kind is bool:
        return BOOLEAN
    if kind is int:
        return INTEGER if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else NUMBER
    if kind is dt.date:
        return DATE
    if kind is dt.datetime:
        return DATETIME
    if kind is dt.time or kind is dt.timedelta:
        return TIME
    return STRING


def is_empty_cell(value: Any) -> bool:
    """Whether a workbook value holds nothing: blank text, or a NaN/±Infinity number that
    JSON cannot carry (it is stored as null, with a `sanitized` warning)."""
    if type(value) is str:
        return not value or value.isspace()
    return type(value) is float and not math.isfinite(value)


def _homogeneous_counts(chunk: TextChunk, guess: int) -> list[int] | None:
    """Exact kind counts when every value of the chunk is of the kind `guess` (or, for
    numerals, of the integer/number/leading-zero family); `None` when the chunk is mixed."""
    block, filled = chunk.block, chunk.filled
    counts = [0] * KIND_COUNT
    if guess == INTEGER:
        if _EVERY_LINE_DIGITS.fullmatch(block) is None:
            return None
        # Leading-zero numerals are strings; plain "0" and "-0" are integers.
        leading_zero = block.count("\n0") + block.count("\n-0") + block.startswith(("0", "-0"))
        if leading_zero:
            leading_zero -= chunk.values.count("0") + chunk.values.count("-0")
        counts[INTEGER] = filled - leading_zero
        counts[STRING] = leading_zero
        return counts
    if guess == NUMBER:
        if _EVERY_LINE_DECIMAL.fullmatch(block) is None:
            return None
        decimals = block.count(".")
        counts[NUMBER] = decimals
        counts[INTEGER] = filled - decimals
        return counts
    pattern = _EVERY_LINE_KIND.get(guess)
    if pattern is None or pattern.fullmatch(block) is None:
        return None
    counts[guess] = filled
    if guess in (DATE, DATETIME):
        impossible = sum(
            1 for late in _LATE_DAY.finditer("\n" + block) if not _is_real_date(late[0][1:])
        )
        counts[guess] -= impossible
        counts[STRING] = impossible
    return counts


def _mixed_counts(chunk: TextChunk) -> list[int]:
    """Exact kind counts of any chunk: only lines that could be typed are classified."""
    counts = [0] * KIND_COUNT
    if not chunk.single_line:
        for value in chunk.values:
            if value:
                counts[classify_text(value)] += 1
        return counts
    block = chunk.block
    lines: list[str] | None = None
    if "@" not in block and "://" not in block:
        # Without an email or a URL, only a line starting like a numeral, a date, a time
        # or a boolean can be typed: a cheap test that skips most text at C speed.
        starts = _TYPED_START.findall("\n" + block)
        if len(starts) * 4 <= chunk.filled:
            lines = [line[1:] for line in starts]
    if lines is None:
        # Many candidates (codes like "00123-000"): let the regex engine keep only the lines
        # that are typed in full, rather than classifying every one in Python.
        lines = [line[0] for line in _POSSIBLY_TYPED_LINE.finditer(block)]
    for line in lines:
        counts[classify_text(line)] += 1
    counts[STRING] += chunk.filled - len(lines)
    return counts


def text_kind_counts(chunk: TextChunk, guess: int) -> list[int]:
    """Kind counts of a text chunk; `guess` is the kind expected (a speed hint only).

    Speed: this runs on every cell of up to a million rows, so values are handled one column
    chunk at a time. The chunk is joined into one newline-separated block and matched by one
    precompiled "every line is an X" regex, X being the kind the column has shown so far; when
    that holds (columns are mostly homogeneous) the counts come from a few C-level `count`
    calls, with no Python code per value. Otherwise one multiline search finds the lines that
    could be anything but a string, and only those are classified one by one. Both paths give
    exactly what `classify_text`, the definition, gives.
    """
    if chunk.single_line and guess != STRING:
        counts = _homogeneous_counts(chunk, guess)
        if counts is not None:
            return counts
    return _mixed_counts(chunk)


def infer_type(counts: Sequence[int], filled: int) -> InferredType:
    """The column type for kind counts over `filled` non-empty values (spec §4.4)."""
    if not filled:
        return InferredType.EMPTY
    best, best_fit = InferredType.STRING, 0
    for kind in _CANDIDATES:
        type_ = _KIND_TYPES[kind]
        fit = sum(counts[fitting] for fitting in FITTING_KINDS[type_])
        if fit * 100 >= filled * 95 and fit > best_fit:
            best, best_fit = type_, fit
    return best


def text_misfits(chunk: TextChunk, type_: InferredType) -> list[int]:
    """Indexes of the chunk's non-empty values that do not fit a column of `type_`."""
    if type_ is InferredType.STRING or type_ is InferredType.EMPTY:
        return []
    fitting = FITTING_KINDS[type_]
    if chunk.single_line:
        counts = _homogeneous_counts(chunk, _TYPE_KINDS[type_])
        if counts is not None and all(
            not count or kind in fitting for kind, count in enumerate(counts)
        ):
            return []
    return [
        index
        for index, value in enumerate(chunk.values)
        if value and classify_text(value) not in fitting
    ]


KIND_OF_TYPE: dict[type, int] = {
    # The kind of any value of these Python types (calamine's), whatever the value.
    bool: BOOLEAN,
    dt.date: DATE,
    dt.datetime: DATETIME,
    dt.time: TIME,
    dt.timedelta: TIME,
}


def typed_kind_counts(raw: Sequence[Any], type_counts: Counter[type]) -> list[int] | None:
    """Kind counts of a chunk of workbook values, from their Python types alone, when that
    is enough: no text but blank cells, and numbers that are all finite and within ±2^53.
    `None` when the chunk needs looking at cell by cell."""
    blanks = type_counts.get(str, 0)
    if blanks and raw.count("") != blanks:
        return None
    counts = [0] * KIND_COUNT
    for kind, count in type_counts.items():
        direct = KIND_OF_TYPE.get(kind)
        if direct is not None:
            counts[direct] += count
        elif kind is float or kind is int:
            numbers = (
                [value for value in raw if type(value) is kind] if len(type_counts) > 1 else raw
            )
            if not all(map(math.isfinite, numbers)) or not (
                min(numbers) >= -MAX_SAFE_INTEGER and max(numbers) <= MAX_SAFE_INTEGER
            ):
                return None
            integral = sum(map(float.is_integer, numbers)) if kind is float else count
            counts[INTEGER] += integral
            counts[NUMBER] += count - integral
        elif kind is not str:
            return None
    return counts


class ColumnStats:
    """Constant-memory accumulator of one column's facts over every chunk of values."""

    __slots__ = ("_guess", "counts", "filled", "rows")

    def __init__(self) -> None:
        self.counts = [0] * KIND_COUNT
        self.filled = 0
        """Non-empty values."""
        self.rows = 0
        """Rows in which the column exists (blank rows excluded)."""
        self._guess = STRING

    def add_text(self, chunk: TextChunk) -> list[int]:
        """Count a chunk of text values; returns the chunk's own kind counts."""
        self.rows += len(chunk.values)
        if not chunk.filled:
            return [0] * KIND_COUNT
        self.filled += chunk.filled
        counts = text_kind_counts(chunk, self._guess)
        self._add(counts)
        return counts

    def add_cells(
        self, raw: Sequence[Any], max_chars: int, type_counts: Counter[type] | None = None
    ) -> list[int]:
        """Count a chunk of workbook values as calamine returns them ('' for a blank
        cell), of which `type_counts` counts the Python types if known; returns the chunk's
        own kind counts."""
        if type_counts is None:
            type_counts = Counter(map(type, raw))
        if len(type_counts) == 1 and str in type_counts:
            return self.add_text(prepare_text(raw, max_chars, surrogates=False))
        self.rows += len(raw)
        counts = typed_kind_counts(raw, type_counts)
        if counts is None:
            counts = self._cell_by_cell(raw, max_chars)
        filled = sum(counts)
        self.filled += filled
        if filled:
            self._add(counts)
        return counts

    @staticmethod
    def _cell_by_cell(raw: Sequence[Any], max_chars: int) -> list[int]:
        counts = [0] * KIND_COUNT
        for index, value in enumerate(raw):
            if type(value) is str:
                text = value.replace("\x00", "").strip() if "\x00" in value else value.strip()
                if len(text) > max_chars:
                    raise CellTooLong(index, len(text))
                if text:
                    counts[classify_text(text)] += 1
            elif not is_empty_cell(value):
                counts[cell_kind(value)] += 1
        return counts

    def merge(self, other: ColumnStats) -> None:
        """Fold in the same column's facts from another sheet."""
        for kind, count in enumerate(other.counts):
            self.counts[kind] += count
        self.filled += other.filled
        self.rows += other.rows

    def _add(self, counts: list[int]) -> None:
        if not any(counts):
            return
        total = self.counts
        for kind, count in enumerate(counts):
            total[kind] += count
        # The chunk's commonest kind is the best bet for the next chunk of the same column.
        self._guess = max(range(KIND_COUNT), key=counts.__getitem__)

    @property
    def inferred_type(self) -> InferredType:
        return infer_type(self.counts, self.filled)

    @property
    def misfits(self) -> int:
        """Non-empty values that do not fit the inferred type."""
        type_ = self.inferred_type
        return self.filled - sum(self.counts[kind] for kind in FITTING_KINDS[type_])

    @property
    def mostly_filled(self) -> bool:
        """Filled in at least 95 % of its rows: an empty value in it deserves a warning."""
        return self.filled > 0 and self.filled * 100 >= self.rows * 95
