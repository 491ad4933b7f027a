"""The rules of a project schema's fields, applied to values: pure, no database (issue 18).

    coerce(field, value) -> (value, message | None)   the value in the field's type
    check(field, value)  -> [message, ...]            the field's rules on a converted value

Messages have spec §4.5's shape (`entities.ValidationMessage`) with these `type`s:

| type       | when                                                                       |
|------------|----------------------------------------------------------------------------|
| `type`     | the value does not convert to the field's type; it is kept as it was       |
| `required` | a required field is empty (or no column of the upload gives it)            |
| `enum`     | the value is not one of the field's `enum`                                 |
| `pattern`  | the value's text has no match for the field's `pattern`                    |
| `range`    | the value is below `min` or above `max`                                    |
| `length`   | the value's text is shorter than `minLength` or longer than `maxLength`    |
| `unique`   | the value repeats within the batch (found in SQL: `sql/rule_checks.sql`)   |

A message is an error or a warning by its field's `severity`: `is_error(field)`. A value
that did not convert gets its `type` message only: the other rules are about values of the
field's type. Empty values (`None`) only ever get `required`.

`FieldRules` is a field compiled once (its pattern, its enum as a set, its bounds) and applied
to a whole column of values at a time (`FieldRules.apply`), which is what the ingestion does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import re2
from re2 import _re2

from service.entities import ValidationMessage
from service.rules.conversion import CONVERTERS, NO_MATCH, convert, convert_texts
from service.schemas import FieldType, SchemaField, Severity

TYPE = "type"
REQUIRED = "required"
UNIQUE = "unique"
ENUM = "enum"
PATTERN = "pattern"
RANGE = "range"
LENGTH = "length"
RULE_TYPES = frozenset({TYPE, REQUIRED, UNIQUE, ENUM, PATTERN, RANGE, LENGTH})
"""The message types a schema's rules give; every other type is a built-in check's."""

MAX_PATTERN_MEMORY = 8 << 20
"""Bytes RE2 may use for one compiled pattern (its default): a pattern that needs more is
refused when the schema is saved."""

_TYPE_NAMES = {
    FieldType.INTEGER: "an integer",
    FieldType.NUMBER: "a number",
    FieldType.BOOLEAN: "a boolean (true/false)",
    FieldType.DATE: "a date (YYYY-MM-DD or DD/MM/YYYY)",
    FieldType.DATETIME: "a date and time (YYYY-MM-DDTHH:MM:SS)",
    FieldType.TIME: "a time (HH:MM:SS)",
    FieldType.EMAIL: "an email address",
    FieldType.URL: "a URL",
    FieldType.STRING: "text",
}
_SHOWN_ENUM_VALUES = 10
_TEXT_OR_NONE = frozenset({str, type(None)})
_NOTHING: frozenset[type] = frozenset()
_ALREADY = {
    FieldType.INTEGER: frozenset({int, type(None)}),
    FieldType.NUMBER: frozenset({int, float, type(None)}),
    FieldType.BOOLEAN: frozenset({bool, type(None)}),
}
"""Per type, the Python types of values that are that type's already."""
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_SPAN = (-1, -1)


class InvalidPattern(ValueError):
    """A pattern RE2 refuses; the message says why, in RE2's words."""


class Pattern:
    """A compiled RE2 pattern that answers one question: does a text contain a match?

    It calls the RE2 binding (`re2._re2`) directly: the package's `re`-like wrapper spends
    ~10x the match itself in Python per call (offset bookkeeping for `Match` objects that
    this never needs), which made a pattern the costliest rule of an upload."""

    __slots__ = ("_match", "source")

    def __init__(self, source: str, options: Any) -> None:
        self.source = source
        self._match = _re2.RE2(source.encode(), options).Match

    def found(self, text: str) -> bool:
        encoded = text.encode("utf-8", "replace")
        spans = self._match(_UNANCHORED, encoded, 0, len(encoded))
        return bool(spans[0] != _NO_SPAN)


def compile_pattern(pattern: str) -> Pattern:
    """The RE2 program of a pattern; `InvalidPattern` for one RE2 refuses (invalid, using
    what RE2 leaves out, or needing more than `MAX_PATTERN_MEMORY`). RE2 matches in time
    linear in the text, so no pattern can backtrack catastrophically: backreferences and
    lookaround, which would need backtracking, do not exist in it."""
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    options.log_errors = False
    try:
        re2.compile(pattern, options)  # its errors, in words
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidPattern(str(reason)) from None
    return Pattern(pattern, options)


def is_error(field: SchemaField) -> bool:
    """Whether the field's rule messages make a row an error (else a warning)."""
    return field.severity is Severity.ERROR


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


def _shown(value: Any) -> str:
    return _text(value)


class FieldRules:
    """One field, compiled: `coerce`, `check` and, for a whole column, `apply`."""

    __slots__ = (
        "_checks",
        "_enum",
        "_high",
        "_low",
        "_pattern",
        "error",
        "field",
        "key",
        "messages",
        "type_message",
    )

    def __init__(self, field: SchemaField) -> None:
        self.field = field
        self.key = field.key
        self.error = is_error(field)
        self._pattern = compile_pattern(field.pattern) if field.pattern is not None else None
        self._enum = None if field.enum is None else {(type(value), value) for value in field.enum}
        self._low = self._bound(field.min)
        self._high = self._bound(field.max)
        self.type_message = ValidationMessage(
            field=field.key,
            type=TYPE,
            message=f"Expected {_TYPE_NAMES[field.type]}; the value is kept as uploaded",
        )
        self.messages = _Messages(field)
        self._checks = (
            self._enum is not None
            or self._pattern is not None
            or self._low is not None
            or self._high is not None
            or field.min_length is not None
            or field.max_length is not None
        )

    def _bound(self, bound: Any) -> Any:
        """A bound in the type of the converted values (dates stay ISO text, which sorts
        as they do)."""
        if bound is None:
            return None
        converted = convert(self.field.type, bound)
        return None if converted is NO_MATCH else converted

    def coerce(self, value: Any) -> tuple[Any, ValidationMessage | None]:
        if value is None:
            return None, None
        converted = convert(self.field.type, value)
        if converted is NO_MATCH:
            return value, self.type_message
        return converted, None

    def check(self, value: Any) -> list[ValidationMessage]:
        """The rule messages of a value already converted to the field's type."""
        if value is None:
            return [self.messages.required] if self.field.required else []
        found: list[ValidationMessage] = []
        if self._enum is not None and not self._in_enum(value):
            found.append(self.messages.enum)
        text: str | None = None
        if self._pattern is not None:
            text = _text(value)
            if not self._pattern.found(text):
                found.append(self.messages.pattern)
        if self._low is not None or self._high is not None:
            found.extend(self._range(value))
        field = self.field
        if field.min_length is not None or field.max_length is not None:
            text = _text(value) if text is None else text
            if field.min_length is not None and len(text) < field.min_length:
                found.append(self.messages.too_short)
            elif field.max_length is not None and len(text) > field.max_length:
                found.append(self.messages.too_long)
        return found

    def _in_enum(self, value: Any) -> bool:
        assert self._enum is not None
        if (type(value), value) in self._enum:
            return True
        return type(value) is int and (float, float(value)) in self._enum

    def _range(self, value: Any) -> list[ValidationMessage]:
        try:
            if self._low is not None and value < self._low:
                return [self.messages.too_low]
            if self._high is not None and value > self._high:
                return [self.messages.too_high]
        except TypeError:  # a value of another type (a date-time with a zone against text)
            return []
        return []

    def apply(self, values: list[Any]) -> tuple[list[Any], dict[int, list[ValidationMessage]]]:
        """A column of values converted, and the messages of the indexes that get any: what
        `validate` gives value by value, one rule at a time over the column (a chunk of 2,048
        values costs a few list comprehensions per rule, not a few calls per value)."""
        field = self.field
        found: dict[int, list[ValidationMessage]] = {}
        kinds = set(map(type, values))
        bad: list[int] = []
        fast = None
        if kinds <= _ALREADY.get(field.type, _NOTHING):
            # A workbook's numbers and booleans (integers within ±2^53 by `values`).
            fast = texts = values
        elif kinds <= _TEXT_OR_NONE:
            texts = values if type(None) not in kinds else [v for v in values if v is not None]
            fast = convert_texts(field.type, texts)
        if fast is not None:
            if fast is texts:
                converted = values
            elif texts is values:
                converted = fast
            else:
                shaped = iter(fast)
                converted = [None if value is None else next(shaped) for value in values]
        else:
            convert = CONVERTERS[field.type]
            converted = [None if value is None else convert(value) for value in values]
            bad = [index for index, value in enumerate(converted) if value is NO_MATCH]
            for index in bad:
                converted[index] = values[index]
                found[index] = [self.type_message]
        if field.required and type(None) in kinds:
            for index, value in enumerate(values):
                if value is None:
                    found[index] = [self.messages.required]
        if not self._checks:
            return converted, found
        skip = set(bad)
        checked = [
            (index, value)
            for index, value in enumerate(converted)
            if value is not None and index not in skip
        ]
        if self._enum is not None:
            for index, value in checked:
                if not self._in_enum(value):
                    found.setdefault(index, []).append(self.messages.enum)
        if self._pattern is not None:
            found_in = self._pattern.found
            for index, value in checked:
                if not found_in(value if type(value) is str else _text(value)):
                    found.setdefault(index, []).append(self.messages.pattern)
        if self._low is not None or self._high is not None:
            low, high = self._low, self._high
            try:
                too_low = [] if low is None else [i for i, value in checked if value < low]
                too_high = [] if high is None else [i for i, value in checked if value > high]
            except TypeError:  # a value of another type somewhere: value by value
                for index, value in checked:
                    failed = self._range(value)
                    if failed:
                        found.setdefault(index, []).extend(failed)
            else:
                for index in too_low:
                    found.setdefault(index, []).append(self.messages.too_low)
                for index in too_high:
                    found.setdefault(index, []).append(self.messages.too_high)
        if field.min_length is not None or field.max_length is not None:
            shortest = -1 if field.min_length is None else field.min_length
            longest = 1 << 62 if field.max_length is None else field.max_length
            for index, value in checked:
                length = len(value if type(value) is str else _text(value))
                if length < shortest:
                    found.setdefault(index, []).append(self.messages.too_short)
                elif length > longest:
                    found.setdefault(index, []).append(self.messages.too_long)
        return converted, found


class _Messages:
    """The messages of one field that do not depend on the value, built once."""

    __slots__ = ("enum", "pattern", "required", "too_high", "too_long", "too_low", "too_short")

    def __init__(self, field: SchemaField) -> None:
        key = field.key
        self.required = ValidationMessage(
            field=key, type=REQUIRED, message="Required field is empty"
        )
        shown = ", ".join(_shown(value) for value in (field.enum or [])[:_SHOWN_ENUM_VALUES])
        more = len(field.enum or []) - _SHOWN_ENUM_VALUES
        if more > 0:
            shown += f" and {more} more"
        self.enum = ValidationMessage(field=key, type=ENUM, message=f"Not one of: {shown}")
        self.pattern = ValidationMessage(
            field=key, type=PATTERN, message=f"Does not match the pattern {field.pattern}"
        )
        self.too_low = ValidationMessage(
            field=key, type=RANGE, message=f"Less than the minimum, {_shown(field.min)}"
        )
        self.too_high = ValidationMessage(
            field=key, type=RANGE, message=f"Greater than the maximum, {_shown(field.max)}"
        )
        self.too_short = ValidationMessage(
            field=key,
            type=LENGTH,
            message=f"Shorter than the minimum length, {field.min_length} characters",
        )
        self.too_long = ValidationMessage(
            field=key,
            type=LENGTH,
            message=f"Longer than the maximum length, {field.max_length} characters",
        )


def no_column(field: SchemaField) -> ValidationMessage:
    """The `required` message of every row when no column of the upload gives the field."""
    return ValidationMessage(
        field=field.key,
        type=REQUIRED,
        message="Required field: no column of the upload gives it",
    )


def unique_message(field_key: str, others: Sequence[int], more: int) -> ValidationMessage:
    """The `unique` message naming up to five other rows (by source row number) holding the
    same value, and how many more there are."""
    rows = ", ".join(map(str, others))
    tail = f" and {more} more" if more > 0 else ""
    return ValidationMessage(
        field=field_key, type=UNIQUE, message=f"Value repeated in rows {rows}{tail}"
    )


_compiled: dict[int, tuple[SchemaField, FieldRules]] = {}


def rules_of(field: SchemaField) -> FieldRules:
    """The compiled rules of a field (compiled once per field object)."""
    entry = _compiled.get(id(field))
    if entry is not None and entry[0] is field:
        return entry[1]
    if len(_compiled) > 10_000:
        _compiled.clear()
    compiled = FieldRules(field)
    _compiled[id(field)] = (field, compiled)
    return compiled


def coerce(field: SchemaField, value: Any) -> tuple[Any, ValidationMessage | None]:
    """`value` in the field's type, or `value` as it was with a `type` message when it does
    not convert. `None` stays `None` (emptiness is `check`'s `required`)."""
    return rules_of(field).coerce(value)


def check(field: SchemaField, value: Any) -> list[ValidationMessage]:
    """The field's rule messages for a value already coerced (`unique` aside: it needs the
    other rows). Call it only for a value that converted (else the `type` message is all)."""
    return rules_of(field).check(value)


def validate(field: SchemaField, value: Any) -> tuple[Any, list[ValidationMessage]]:
    """`coerce`, then `check` if it converted: the stored value and all its rule messages."""
    converted, message = coerce(field, value)
    if message is not None:
        return converted, [message]
    return converted, check(field, converted)


def fields_by_key(fields: Iterable[SchemaField]) -> dict[str, SchemaField]:
    return {field.key: field for field in fields}


__all__ = [
    "ENUM",
    "LENGTH",
    "PATTERN",
    "RANGE",
    "REQUIRED",
    "RULE_TYPES",
    "TYPE",
    "UNIQUE",
    "FieldRules",
    "InvalidPattern",
    "Pattern",
    "check",
    "coerce",
    "compile_pattern",
    "is_error",
    "no_column",
    "rules_of",
    "unique_message",
    "validate",
]
