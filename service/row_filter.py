"""Which rows of a batch a list (or an export) shows: one `RowFilter`, made from the query
parameters by `parse`, and handed to SQL as parameters (`RowFilter.arguments`).

    status=valid|warning|error          the row's validation status
    delivery=pending|in_progress|done|error
                                        the row's delivery state (rows of a completed batch
                                        only: a batch still under review matches none)
    q=text                              some value of the row contains `text`, ignoring case
                                        and accents (Unicode NFD, combining marks removed)
    where.<key>=value                   the row's value of `key` is `value`, compared as the
                                        column's inferred type; repeated: any of the values

Every condition given must hold. `where` compares exactly: an `integer` or `number` column
matches the number (whether the row holds it as a JSON number or, as CSV rows do, as its
text), `boolean` takes true/false/verdadeiro/falso, `date`, `datetime` and `time` take ISO (a
date also dd/mm/yyyy) and match the ISO text, or the text as typed; other types match the text
as typed, case included. An empty value matches an empty cell (JSON null). A key that is not
one of the keys the batch's rows hold (a column matched to a schema field holds its values
under the field's key, its `data_key`), or a value that does not parse as its column's type,
is `Unprocessable` (422 naming `where.<key>`).

The SQL side takes the four `arguments()` in this order, as
`$s::row_status, $d::delivery_status, $q::text, $w::jsonb` ($q is `q` made a regular
expression by `search_pattern`), and states the filter as
(`r` the row, `b` its batch):

    ($s IS NULL OR r.status = $s)
    AND ($d IS NULL OR (b.status = 'completed' AND r.delivery_status = $d))
    AND ($q IS NULL OR ((starts_with($q, '***:') OR r.data::text ~ $q)
                        AND <the row's values joined by U+001F> ~ $q))
    AND NOT EXISTS (SELECT 1 FROM jsonb_each($w) AS w(key, accepted)
                    WHERE NOT w.accepted @> jsonb_build_array(r.data -> w.key))

(`sql/row_filter.sql`, `get_filtered_row_page_json`, has it in full.) The key of `where` travels
inside the jsonb parameter, never in the SQL text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any

import msgspec

from service.entities import ColumnMetadata, DeliveryStatus, InferredType, RowStatus
from service.errors import InvalidInput, Unprocessable

WHERE_PREFIX = "where."
VALUE_SEPARATOR = "\x1f"
"""What the search puts between a row's values (U+001F, the unit separator), so that `q`
never matches across two of them; `q` may not contain it."""
MAX_Q_CHARS = 200
"""Longest `q`: a search term, not a document."""
MAX_WHERE_CHARS = 1000
"""Longest `where.<key>` value."""
MAX_WHERE_VALUES = 100
"""Most `where.<key>` values in one query, all keys together."""

_INTEGER = re.compile(r"[+-]?\d{1,18}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_BOOLEANS = {"true": True, "verdadeiro": True, "false": False, "falso": False}


class WhereTerm(msgspec.Struct, frozen=True, kw_only=True):
    """One `where.<key>=text`: the text as sent and the JSON values of the row that match it."""

    key: str
    text: str
    accepted: list[Any]


class RowFilter(msgspec.Struct, frozen=True, kw_only=True):
    status: RowStatus | None = None
    delivery: DeliveryStatus | None = None
    q: str | None = None
    where: tuple[WhereTerm, ...] = ()

    @property
    def reads_content(self) -> bool:
        """Whether anything but `status` is asked: such a page counts its matches by reading
        the batch's rows (`status` alone is counted on the batch)."""
        return self.delivery is not None or self.q is not None or bool(self.where)

    def arguments(self) -> tuple[RowStatus | None, DeliveryStatus | None, str | None, Any]:
        """The filter as SQL parameters: status, delivery, the pattern of `q` (`search_pattern`)
        and the `where` object (each key to the array of JSON values that match it; None when
        there is no `where`)."""
        accepted: dict[str, list[Any]] = {}
        for term in self.where:
            accepted.setdefault(term.key, []).extend(term.accepted)
        pattern = None if self.q is None else search_pattern(self.q)
        return self.status, self.delivery, pattern, accepted or None

    def query(self) -> list[tuple[str, str]]:
        """The filter as query parameters again (for the `next` link of a page)."""
        items: list[tuple[str, str]] = []
        if self.status is not None:
            items.append(("status", self.status.value))
        if self.delivery is not None:
            items.append(("delivery", self.delivery.value))
        if self.q is not None:
            items.append(("q", self.q))
        items.extend((WHERE_PREFIX + term.key, term.text) for term in self.where)
        return items


def parse(
    columns: Sequence[ColumnMetadata],
    *,
    status: RowStatus | None = None,
    delivery: DeliveryStatus | None = None,
    q: str | None = None,
    query: Iterable[tuple[str, str]] = (),
) -> RowFilter:
    """The filter for a batch with these `columns`: `status`, `delivery` and `q` as the HTTP
    layer decoded them, and every `where.<key>` among the raw `query` items (others are
    ignored). `InvalidInput` (400) for text that PostgreSQL cannot store or too much of it;
    `Unprocessable` (422) for an unknown key or a value its column's type refuses."""
    # A column matched to a schema field holds its values under the field's key (`data_key`).
    types = {column.data_key: column.inferred_type for column in columns}
    terms: list[WhereTerm] = []
    for name, text in query:
        if not name.startswith(WHERE_PREFIX):
            continue
        key = name[len(WHERE_PREFIX) :]
        _check_text(name, text, MAX_WHERE_CHARS)
        if key not in types:
            raise Unprocessable(
                f"{name}: the batch has no key {key!r} (its keys are in columnMetadata)",
                field=name,
            )
        terms.append(WhereTerm(key=key, text=text, accepted=accepted(types[key], text, name)))
        if len(terms) > MAX_WHERE_VALUES:
            raise InvalidInput(f"at most {MAX_WHERE_VALUES} where.<key> values in one request")
    if q is not None:
        _check_text("q", q, MAX_Q_CHARS)
        if VALUE_SEPARATOR in q:
            raise InvalidInput("q: must not contain U+001F (it separates the values searched)")
    return RowFilter(status=status, delivery=delivery, q=q or None, where=tuple(terms))


COMBINING_MARKS = "[\u0300-\u036f]*"
"""Marks that the search ignores wherever they stand (accents written apart from their letter,
as NFD text has them)."""


def fold(text: str) -> str:
    """Text as the search compares it: NFD, without the combining marks U+0300 to U+036F, lower
    case (what sql/fields.sql's value search does in SQL)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not "\u0300" <= c <= "\u036f").lower()


def _accented() -> dict[str, frozenset[str]]:
    """Each letter, lower case, with every character of the Basic Multilingual Plane that is
    that letter and combining marks (`é`, `É` and `ệ` under `e`)."""
    found: dict[str, set[str]] = {}
    for code in range(0x80, 0x10000):
        character = chr(code)
        decomposed = unicodedata.normalize("NFD", character)
        if len(decomposed) > 1 and all("\u0300" <= c <= "\u036f" for c in decomposed[1:]):
            found.setdefault(decomposed[0].lower(), set()).add(character)
    return {base: frozenset(characters) for base, characters in found.items()}


ACCENTED = _accented()


def search_pattern(q: str) -> str:
    """`q` as a PostgreSQL regular expression that finds, in text as stored, what `fold(q)`
    finds in `fold(text)`: each character of the folded `q` matches itself in either case or
    any of its accented forms, followed by any combining marks. Matching the stored text
    directly costs a third of folding every row (bench/README.md, "Review loop"). The
    pattern is a parameter of the query: whatever `q` holds, it is never SQL text. It starts
    with `***:` (PostgreSQL's "the rest is a regular expression") when `q` holds a character
    that JSON escapes, which tells the query not to try the row's jsonb text first
    (sql/row_filter.sql)."""
    folded = fold(q)
    groups = []
    for character in folded:
        options = sorted(
            o for o in {character, character.upper(), *ACCENTED.get(character, ())} if len(o) == 1
        )
        if all(o.isalnum() for o in options):  # a bracket: what PostgreSQL matches fastest
            groups.append("[" + "".join(options) + "]" + COMBINING_MARKS)
        else:
            escaped = (o if o.isalnum() else "\\" + o for o in options)
            groups.append("(?:" + "|".join(escaped) + ")" + COMBINING_MARKS)
    # JSON escapes these in a row's jsonb text: the query must not try that text first.
    escaped_in_json = any(c in '"\\' or c < " " for c in folded)
    return ("***:" if escaped_in_json else "") + "".join(groups)


def _check_text(name: str, text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise InvalidInput(f"{name}: at most {max_chars} characters")
    if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise InvalidInput(f"{name}: must be text without NUL (U+0000) or lone surrogates")


def accepted(kind: InferredType, text: str, name: str) -> list[Any]:
    """The JSON values of a cell of a column of type `kind` that `where.<key>=text` matches."""
    if text == "":
        return [None]
    value = _typed(kind, text.strip(), name)
    found: list[Any] = [value]
    for alternative in (None if isinstance(value, str) else _as_text(value), text):
        if alternative is not None and alternative not in found:
            found.append(alternative)
    return found


def _typed(kind: InferredType, text: str, name: str) -> Any:
    def refuse(what: str) -> Unprocessable:
        return Unprocessable(f"{name}: {text!r} is not {what}, the type of this column", field=name)

    if kind is InferredType.INTEGER:
        if not _INTEGER.fullmatch(text):
            raise refuse("an integer")
        return int(text)
    if kind is InferredType.NUMBER:
        if not _NUMBER.fullmatch(text):
            raise refuse("a number")
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise refuse("a finite number")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind is InferredType.BOOLEAN:
        if text.lower() not in _BOOLEANS:
            raise refuse("a boolean (true, false, verdadeiro, falso)")
        return _BOOLEANS[text.lower()]
    if kind is InferredType.DATE:
        day_first = _DAY_FIRST.fullmatch(text)
        try:
            if day_first:
                day, month, year = (int(part) for part in day_first.groups())
                return date(year, month, day).isoformat()
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise refuse("a date (YYYY-MM-DD or dd/mm/yyyy)") from None
    if kind is InferredType.DATETIME:
        try:
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            raise refuse("a date-time (YYYY-MM-DDTHH:MM:SS)") from None
    if kind is InferredType.TIME:
        try:
            return time.fromisoformat(text).isoformat()
        except ValueError:
            raise refuse("a time (HH:MM:SS)") from None
    return text


def _as_text(value: Any) -> str:
    """A number or boolean as a CSV cell would hold it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
