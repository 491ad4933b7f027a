"""A project schema applied to the rows of an upload, in the parsing worker (issue 18).

`Conformer` maps the batch's columns to the schema's fields and, chunk by chunk, converts
each mapped column's values to its field's type and adds its rule messages
(`service.rules`). A column maps to the field whose key equals the column's normalized key
(the matching by label, alias, fuzzy or saved mapping is `match_columns`' job, issue 18
item 2, and replaces `field_keys` alone). A required field that no column gives is a
`required` message on every row. `unique` needs every row at once and is checked in SQL after
the COPY (`service.rule_checks`). With no schema there is no `Conformer` and rows are
exactly as before.

Rule messages of a column come after its built-in ones; the rows' status counts them by the
field's severity (`failed` holds the rows with an error).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from service import rules
from service.entities import ValidationMessage
from service.ingest.keys import normalize_key
from service.schemas import ProjectSchema, SchemaField


def field_keys(keys: Iterable[str], fields: Sequence[SchemaField]) -> dict[str, SchemaField]:
    """Data key → the field it maps to, for the keys that map to one."""
    by_key = {field.key: field for field in fields}
    found: dict[str, SchemaField] = {}
    taken: set[str] = set()
    for key in keys:
        field = by_key.get(key) or by_key.get(normalize_key(key))
        if field is not None and field.key not in taken:
            found[key] = field
            taken.add(field.key)
    return found


class Conformer:
    def __init__(self, keys: Sequence[str], schema: ProjectSchema) -> None:
        self.schema = schema
        mapped = field_keys(keys, schema.fields)
        self.rules = {key: rules.rules_of(field) for key, field in mapped.items()}
        given = {field.key for field in mapped.values()}
        missing = [field for field in schema.fields if field.required and field.key not in given]
        self.missing = [rules.no_column(field) for field in missing]
        self.missing_error = any(rules.is_error(field) for field in missing)

    def column(
        self,
        key: str,
        values: list[Any],
        messages: dict[int, list[ValidationMessage]],
        failed: set[int],
    ) -> list[Any]:
        """One chunk of a column: its values in the field's type (as they were when they do
        not convert), its rule messages added to `messages` (and `failed`)."""
        field_rules = self.rules.get(key)
        if field_rules is None:
            return values
        converted, found = field_rules.apply(values)
        for index, added in found.items():
            messages.setdefault(index, []).extend(added)
        if found and field_rules.error:
            failed.update(found)
        return converted

    def rows(
        self, count: int, messages: dict[int, list[ValidationMessage]], failed: set[int]
    ) -> None:
        """The messages of every row of a chunk: required fields that no column gives."""
        if not self.missing:
            return
        for index in range(count):
            messages.setdefault(index, []).extend(self.missing)
        if self.missing_error:
            failed.update(range(count))

    def record(self, data: dict[str, Any], messages: list[ValidationMessage]) -> bool:
        """One row at once (a profile-mode form): its data converted in place, its messages
        added; whether one of them is an error."""
        found: dict[int, list[ValidationMessage]] = {}
        failed: set[int] = set()
        for key in self.rules:
            if key in data:
                (data[key],) = self.column(key, [data[key]], found, failed)
        self.rows(1, found, failed)
        messages.extend(found.get(0, ()))
        return bool(failed)
