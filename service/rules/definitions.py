"""Whether a proposed schema can be saved: every problem of its fields, one per entry.

`checked(fields)` returns the fields as they are saved (enum values and `min`/`max`
converted to the field's type: `"15/03/2024"` as `"2024-03-15"`, `"7"` as `7`) or raises
`errors.InvalidSchema` listing every problem found, each named by its place
(`fields[2].pattern`). The shape of each member (types, lengths, counts) is the wire's
(`api.project_schemas`); these are the rules across members and against §4.3-4.4.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from service import errors
from service.ingest.keys import normalize_key
from service.rules import InvalidPattern, compile_pattern
from service.rules.conversion import NO_MATCH, convert
from service.schemas import FieldType, SchemaField

_BOUNDED_TYPES = frozenset(
    {FieldType.INTEGER, FieldType.NUMBER, FieldType.DATE, FieldType.DATETIME, FieldType.TIME}
)
_ADDRESS = re.compile(r"[A-Z]{1,3}[1-9][0-9]{0,6}")


def checked(fields: Sequence[SchemaField]) -> list[SchemaField]:
    problems: list[tuple[str, str]] = []
    saved: list[SchemaField] = []
    seen: dict[str, int] = {}
    for index, field in enumerate(fields):
        where = f"fields[{index}]"
        found, field = _check_field(field, where)
        problems.extend(found)
        if field.key in seen:
            problems.append(
                (f"{where}.key", f"{field.key!r} is also the key of fields[{seen[field.key]}]")
            )
        else:
            seen[field.key] = index
        saved.append(field)
    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise errors.InvalidSchema(f"the schema has {count}; see `errors`", problems)
    return saved


def _check_field(field: SchemaField, where: str) -> tuple[list[tuple[str, str]], SchemaField]:
    problems: list[tuple[str, str]] = []
    normalized = normalize_key(field.key)
    if normalized != field.key:
        hint = f"; use {normalized!r}" if normalized else ""
        problems.append((f"{where}.key", f"{field.key!r} is not a normalized key{hint}"))
    changes: dict[str, Any] = {}
    if field.pattern is not None:
        try:
            compile_pattern(field.pattern)
        except InvalidPattern as error:
            problems.append((f"{where}.pattern", f"not a pattern RE2 accepts: {error}"))
    if field.enum is not None:
        if not field.enum:
            problems.append((f"{where}.enum", "lists no value; leave it out to allow any"))
        values = []
        for position, value in enumerate(field.enum):
            converted = convert(field.type, value)
            if converted is NO_MATCH:
                problems.append(
                    (f"{where}.enum[{position}]", f"{value!r} is not of the type {field.type}")
                )
            values.append(value if converted is NO_MATCH else converted)
        changes["enum"] = values
    for name in ("min", "max"):
        bound = getattr(field, name)
        if bound is None:
            continue
        if field.type not in _BOUNDED_TYPES:
            problems.append(
                (
                    f"{where}.{name}",
                    f"applies to integer, number, date, datetime and time "
                    f"fields, not to {field.type}",
                )
            )
            continue
        numeric = field.type in (FieldType.INTEGER, FieldType.NUMBER)
        if numeric != (type(bound) in (int, float)):
            kind = "a number" if numeric else "text (ISO or day-first)"
            problems.append((f"{where}.{name}", f"must be {kind} for a {field.type} field"))
            continue
        converted = convert(FieldType.NUMBER if numeric else field.type, bound)
        if converted is NO_MATCH:
            problems.append((f"{where}.{name}", f"{bound!r} is not a {field.type}"))
            continue
        changes[name] = converted
    low, high = changes.get("min"), changes.get("max")
    if low is not None and high is not None and low > high:
        problems.append((f"{where}.min", f"is greater than max ({high!r})"))
    if (
        field.min_length is not None
        and field.max_length is not None
        and field.min_length > field.max_length
    ):
        problems.append((f"{where}.minLength", "is greater than maxLength"))
    anchor = field.anchor
    if anchor is not None:
        if anchor.cell is not None:
            if anchor.label is not None or anchor.direction is not None or anchor.skip:
                problems.append(
                    (
                        f"{where}.anchor",
                        'is either {"cell"} or {"label", "direction", "skip"}, not both',
                    )
                )
            if not _ADDRESS.fullmatch(anchor.cell):
                problems.append((f"{where}.anchor.cell", f"{anchor.cell!r} is not an A1 address"))
        elif anchor.label is None or not normalize_key(anchor.label):
            problems.append(
                (f"{where}.anchor", "needs a `cell` or a `label` with letters or digits")
            )
        elif anchor.direction is None:
            problems.append((f"{where}.anchor.direction", "must be `right` or `below`"))
    return problems, msgspec.structs.replace(field, **changes) if changes else field
