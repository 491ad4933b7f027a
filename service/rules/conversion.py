"""Values converted to a field's declared type, by the rules of spec §4.3-4.4.

`convert(type, value)` takes a value as the ingestion stores it (JSON: text, a number, a
boolean; dates already ISO text) and returns it in the field's type, or `NO_MATCH` when it
does not convert (the caller keeps the value as it was and reports a `type` message):

- integer: whole numbers within ±2^53 (a JSON double holds them exactly), and text of one
  (`"42"`, `"+42"`, `"0042"`, `"42.0"`: a field that says integer wants the number; the
  column's inference alone keeps `"00123"` as text).
- number: numbers, and text of one (`-1.5`, `2e3`, a leading `+`); no thousands
  separators and no decimal comma, as in inference (`1.234` could be either).
- boolean: booleans, and `true`/`false`/`verdadeiro`/`falso` in any letter case.
- date: ISO `YYYY-MM-DD` or day-first `D/M/YYYY` (never month-first), a real calendar day;
  a date-time at midnight is its date (calamine reads date cells so).
- datetime: an ISO date-time (`T` or a space, optional seconds, fraction rounded to the
  second, optional `Z`/offset kept) or day-first `D/M/YYYY HH:MM[:SS]`; a date alone is
  its midnight.
- time: `H:MM[:SS]` with hours 0-23, as `HH:MM:SS`.
- email, url: text that inference would call one, trimmed.
- string: text as it is; numbers and booleans as their JSON text (`42`, `1.5`, `true`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Final

from service.ingest.inference import EMAIL, URL, classify_text
from service.schemas import FieldType

MAX_SAFE_INTEGER: Final = 2**53


class _NoMatch:
    def __repr__(self) -> str:
        return "NO_MATCH"


NO_MATCH: Final = _NoMatch()
"""What `convert` returns for a value that does not fit the type."""

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,16}(?:\.0*)?")
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_BOOLEANS = {"true": True, "false": False, "verdadeiro": True, "falso": False}
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DAY_FIRST = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_CLOCK = r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
_TIME = re.compile(_CLOCK)
_ISO_DATETIME = re.compile(
    rf"([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})[T ]{_CLOCK}(Z|[+-][0-9]{{2}}:?[0-9]{{2}})?"
)
_DAY_FIRST_DATETIME = re.compile(rf"([0-9]{{1,2}})/([0-9]{{1,2}})/([0-9]{{4}})[T ]{_CLOCK}")


def _integer(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else NO_MATCH
    if kind is float:
        if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int(value)
        return NO_MATCH
    if kind is str and _INTEGER_TEXT.fullmatch(value):
        number = int(value.split(".", 1)[0])
        return number if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER else NO_MATCH
    return NO_MATCH


def _number(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is float:
        return value
    if kind is str and _NUMBER_TEXT.fullmatch(value):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return NO_MATCH
        if number.is_integer() and abs(number) <= MAX_SAFE_INTEGER:
            return int(number)
        return number
    return NO_MATCH


def _boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    if type(value) is str:
        return _BOOLEANS.get(value.lower(), NO_MATCH)
    return NO_MATCH


def _day(year: str, month: str, day: str) -> dt.date | None:
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return date if date.year >= 1000 else None


def _date(value: Any) -> Any:
    if type(value) is not str:
        return NO_MATCH
    match = _ISO_DATE.fullmatch(value)
    if match is not None:
        date = _day(*match.groups())
        return NO_MATCH if date is None else date.isoformat()
    match = _DAY_FIRST.fullmatch(value)
    if match is not None:
        day, month, year = match.groups()
        date = _day(year, month, day)
        return NO_MATCH if date is None else date.isoformat()
    converted = _datetime(value)
    if isinstance(converted, str) and converted.endswith("T00:00:00"):
        return converted[:10]
    return NO_MATCH


def _datetime(value: Any) -> Any:
    if type(value) is not str:
        return NO_MATCH
    zone = ""
    match = _ISO_DATETIME.fullmatch(value)
    if match is not None:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        zone = zone or ""
    else:
        match = _DAY_FIRST_DATETIME.fullmatch(value)
        if match is None:
            plain = _ISO_DATE.fullmatch(value) or _DAY_FIRST.fullmatch(value)
            date = _date(value) if plain else None
            return NO_MATCH if not isinstance(date, str) else f"{date}T00:00:00"
        day, month, year, hour, minute, second, fraction = match.groups()
    date = _day(year, month, day)
    if date is None or not (0 <= int(hour) <= 23):
        return NO_MATCH
    seconds = int(second or 0) + (1 if fraction and int(fraction[0]) >= 5 else 0)
    if int(minute) > 59 or int(second or 0) > 59:
        return NO_MATCH
    moment = dt.datetime.combine(date, dt.time(int(hour), int(minute))) + dt.timedelta(
        seconds=seconds
    )
    if zone and zone != "Z" and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    return moment.isoformat() + zone


def _time(value: Any) -> Any:
    if type(value) is not str:
        return NO_MATCH
    match = _TIME.fullmatch(value)
    if match is None:
        return NO_MATCH
    hour, minute, second, fraction = match.groups()
    if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59:
        return NO_MATCH
    seconds = int(second or 0) + (1 if fraction and int(fraction[0]) >= 5 else 0)
    moment = dt.datetime(2000, 1, 1, int(hour), int(minute)) + dt.timedelta(seconds=seconds)
    if moment.day != 1:
        return NO_MATCH  # 23:59:59.5 would round into the next day
    return moment.time().isoformat()


def _kind(kind: int) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return value if type(value) is str and classify_text(value) == kind else NO_MATCH

    return convert


def _string(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)
    return NO_MATCH


CONVERTERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.INTEGER: _integer,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.TIME: _time,
    FieldType.EMAIL: _kind(EMAIL),
    FieldType.URL: _kind(URL),
    FieldType.STRING: _string,
}


def convert(type_: FieldType, value: Any) -> Any:
    """`value` (not None) in `type_`, or `NO_MATCH`."""
    return CONVERTERS[type_](value)


def _every_line(line: str) -> re.Pattern[str]:
    return re.compile(rf"(?:{line})(?:\n(?:{line}))*")


_LINES_INTEGER = _every_line(r"-?[0-9]{1,15}")
_LINES_NUMBER = _every_line(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")
_LINES_ISO_DATE = _every_line(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}")
_DAY_FIRST_LINE = r"([0-9]{2})/([0-9]{2})/([1-9][0-9]{3})"
_LINES_DAY_FIRST = _every_line(_DAY_FIRST_LINE)
_LINES_ISO_DATETIME = _every_line(
    r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2})?"
)


def convert_texts(type_: FieldType, texts: list[str]) -> list[Any] | None:
    """The values of a chunk of non-empty texts in `type_`, when all of them are in the
    usual shape of that type (digits, ISO or two-digit day-first dates, ISO date-times to the
    second, booleans): one regex over the chunk and C-level maps, no Python call per value.
    None when a text is in another shape, or does not convert: then `convert`, value by
    value, has the answer (the same one, where this one has one)."""
    if not texts:
        return []
    try:
        if type_ is FieldType.STRING:
            return texts
        if type_ is FieldType.BOOLEAN:
            flags = list(map(_BOOLEANS.get, map(str.lower, texts)))
            return None if None in flags else flags
        block = "\n".join(texts)
        if type_ is FieldType.INTEGER:
            return list(map(int, texts)) if _LINES_INTEGER.fullmatch(block) else None
        if type_ is FieldType.NUMBER:
            if not _LINES_NUMBER.fullmatch(block):
                return None
            return [int(number) if number.is_integer() else number for number in map(float, texts)]
        if type_ is FieldType.DATE:
            if _LINES_ISO_DATE.fullmatch(block):
                for _ in map(dt.date.fromisoformat, texts):
                    pass
                return texts
            if _LINES_DAY_FIRST.fullmatch(block):
                iso = [f"{text[6:]}-{text[3:5]}-{text[:2]}" for text in texts]
                for _ in map(dt.date.fromisoformat, iso):
                    pass
                return iso
            return None
        if type_ is FieldType.DATETIME and _LINES_ISO_DATETIME.fullmatch(block):
            # A date alone is its midnight (calamine reads a midnight date-time as a date).
            moments = [text if len(text) > 10 else f"{text}T00:00:00" for text in texts]
            for _ in map(dt.datetime.fromisoformat, moments):
                pass
            return moments
    except ValueError:  # a day that does not exist: the slow path says so, value by value
        return None
    return None
