"""Cell values in the shapes of spec §4.3, made safe for JSON and PostgreSQL jsonb.

Shapes: text is trimmed (an empty result is `None`); integral floats within ±2^53 become
integers; dates become `YYYY-MM-DD`, datetimes `YYYY-MM-DDTHH:MM:SS` and times `HH:MM:SS`,
all rounded to the second; durations become `H:MM:SS` with the hours allowed past 24
(`36:00:00`), as Excel shows them.

Safety: whatever JSON or jsonb cannot hold is changed and reported as a `sanitized`
warning (one of the spec's built-in message types, reused for every such repair):

- NUL characters are removed: PostgreSQL rejects `\\u0000` in jsonb and would abort COPY.
- Lone UTF-16 surrogates (only a UTF-16 CSV can carry them; workbook text comes from Rust
  strings and cannot) become U+FFFD: msgspec refuses to encode them.
- NaN and ±Infinity become `null`: msgspec would silently write `null` anyway.
- Integers beyond ±2^53 keep their decimal digits as a string: a JSON double cannot hold
  them exactly. (Floats need nothing: a double is exactly what JSON numbers hold.)
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

MAX_SAFE_INTEGER = 2**53
"""Integers up to this magnitude survive a JSON double exactly."""

NUL_REMOVED = "NUL characters removed (PostgreSQL cannot store them)"
SURROGATES_REPLACED = "Invalid characters (lone UTF-16 surrogates) replaced with U+FFFD"
NOT_FINITE = "Not a finite number (NaN or Infinity), stored as null"
BIG_INTEGER = "Integer beyond ±2^53 kept as text, so that no digit is lost"

_SURROGATE = re.compile("[\ud800-\udfff]")
_HALF_SECOND = 500_000


def has_surrogates(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def replace_surrogates(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def iso_datetime(value: dt.datetime) -> str:
    if value.microsecond >= _HALF_SECOND:
        value += dt.timedelta(seconds=1)
    return value.replace(microsecond=0).isoformat()


def iso_time(value: dt.time) -> str:
    if value.microsecond >= _HALF_SECOND:
        moment = dt.datetime.combine(dt.date.min, value) + dt.timedelta(seconds=1)
        value = moment.time()
    return value.replace(microsecond=0).isoformat()


def iso_duration(value: dt.timedelta) -> str:
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    minutes, second = divmod(abs(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours:02d}:{minute:02d}:{second:02d}"


def clean_text(text: str) -> tuple[str | None, str | None]:
    """Trimmed text or `None`, and the `sanitized` message when something was removed."""
    message = None
    if "\x00" in text:
        text = text.replace("\x00", "")
        message = NUL_REMOVED
    text = text.strip()
    return (text or None), message


def convert_cell(value: Any) -> tuple[Any, str | None]:
    """The JSON value of one workbook cell, and the `sanitized` message if it was repaired."""
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if kind is float:
        number: float = value
        if not math.isfinite(number):
            return None, NOT_FINITE
        if number.is_integer() and -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            return int(number), None
        return number, None
    if kind is bool:
        return value, None
    if kind is int:
        integer: int = value
        if -MAX_SAFE_INTEGER <= integer <= MAX_SAFE_INTEGER:
            return integer, None
        return str(integer), BIG_INTEGER
    if kind is dt.date:
        return value.isoformat(), None
    if kind is dt.datetime:
        return iso_datetime(value), None
    if kind is dt.time:
        return iso_time(value), None
    if kind is dt.timedelta:
        return iso_duration(value), None
    return clean_text(str(value))


def header_text(value: Any) -> str:
    """The exact text of a header cell; only what jsonb cannot hold is repaired (metadata
    is stored as jsonb too), without a message since metadata has no place for one."""
    if type(value) is str:
        text: str = value
        if "\x00" in text:
            text = text.replace("\x00", "")
        return replace_surrogates(text) if has_surrogates(text) else text
    converted, _ = convert_cell(value)
    if converted is None:
        return ""
    if converted is True or converted is False:
        return "TRUE" if converted else "FALSE"
    return str(converted)


class CellTooLong(Exception):
    """A value longer than the configured limit; `index` is its position in the chunk."""

    def __init__(self, index: int, length: int) -> None:
        super().__init__(index, length)
        self.index = index
        self.length = length


class TextChunk(NamedTuple):
    """One column's slice of text values, trimmed and repaired."""

    values: list[str]
    """Trimmed values, `""` when empty."""
    block: str
    """The values joined by newlines, for the block regexes of `inference`."""
    filled: int
    repaired: dict[int, str]
    """Index → `sanitized` message, for the values that had characters removed or replaced."""
    single_line: bool
    """No value contains a newline, so the lines of `block` are the values."""


def prepare_text(raw: Sequence[str], max_chars: int, *, surrogates: bool) -> TextChunk:
    """Trim a chunk of text values, remove NUL characters and, when the source can carry
    them (`surrogates`), replace lone surrogates. Raises `CellTooLong` for the first
    value longer than `max_chars` once trimmed."""
    values = list(map(str.strip, raw))
    block = "\n".join(values)
    repaired: dict[int, str] = {}
    if "\x00" in block:
        for index, value in enumerate(values):
            if "\x00" in value:
                values[index] = value.replace("\x00", "").strip()
                repaired[index] = NUL_REMOVED
    if surrogates and has_surrogates(block):
        for index, value in enumerate(values):
            if has_surrogates(value):
                values[index] = replace_surrogates(value)
                repaired[index] = (
                    f"{repaired[index]}; {SURROGATES_REPLACED}"
                    if index in repaired
                    else SURROGATES_REPLACED
                )
    if repaired:
        block = "\n".join(values)
    if len(block) > max_chars and max(map(len, values)) > max_chars:
        for index, value in enumerate(values):
            if len(value) > max_chars:
                raise CellTooLong(index, len(value))
    filled = len(values) - values.count("")
    single_line = block.count("\n") == len(values) - 1
    return TextChunk(values, block, filled, repaired, single_line)
