"""A schema's rules applied to whole stored rows: what re-validation (and a row edit) needs.

`RowRules(keys, schema).revalidate(data, messages)` gives a stored row's messages and status
under the schema: the built-in messages of the ingestion (`cell_error`, `sanitized`,
`type_mismatch`, `empty`, `extra_cells`) are kept as they are, every rule message is
recomputed from the row's values (never changing them), except `unique`, which needs the
other rows and is recomputed in SQL beforehand (`service.rule_checks`): a row's `unique`
messages are kept for the fields that are unique in this schema and dropped for the others.
The order is the ingestion's: per column its built-in messages then its rule messages, then
the required fields no column gives, then `extra_cells`, then `unique`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.entities import RowStatus, ValidationMessage
from service.ingest.conforming import field_keys
from service.ingest.validation import CELL_ERROR, EXTRA_CELLS
from service.rules import RULE_TYPES, UNIQUE, is_error, no_column, rules_of
from service.schemas import ProjectSchema

Message = dict[str, Any]


def _plain(message: ValidationMessage) -> Message:
    return {"field": message.field, "type": message.type, "message": message.message}


class RowRules:
    def __init__(self, keys: Sequence[str], schema: ProjectSchema) -> None:
        self.keys = list(keys)
        self.order = {key: index for index, key in enumerate(self.keys)}
        mapped = field_keys(self.keys, schema.fields)
        self.rules = [(key, rules_of(field)) for key, field in mapped.items()]
        given = {field.key for field in mapped.values()}
        missing = [field for field in schema.fields if field.required and field.key not in given]
        self.missing = [_plain(no_column(field)) for field in missing]
        self.missing_error = any(is_error(field) for field in missing)
        self.unique = {field.key for field in mapped.values() if field.unique}
        self.error_fields = {field.key for field in schema.fields if is_error(field)}

    def revalidate(
        self, data: dict[str, Any], messages: list[Message]
    ) -> tuple[list[Message], RowStatus]:
        """One row's messages and status under the schema."""
        return self.revalidate_many([data], [messages])[0]

    def revalidate_many(
        self, datas: Sequence[dict[str, Any]], messages: Sequence[list[Message]]
    ) -> list[tuple[list[Message], RowStatus]]:
        """Many rows' messages and statuses, each field's rules applied to a column of them
        at once (`FieldRules.apply`)."""
        found_by_field = [
            (
                self.order[key],
                field_rules.error,
                field_rules.apply([data.get(key) for data in datas])[1],
            )
            for key, field_rules in self.rules
        ]
        hits: set[int] = set().union(*(found for _, _, found in found_by_field))
        plain = (
            (list(self.missing), RowStatus.ERROR if self.missing_error else RowStatus.WARNING)
            if self.missing
            else ([], RowStatus.VALID)
        )
        results: list[tuple[list[Message], RowStatus]] = []
        for index, row_messages in enumerate(messages):
            if not row_messages and index not in hits:
                results.append((list(plain[0]), plain[1]))  # the usual row: nothing to sort
                continue
            by_column: list[list[Message]] = [[] for _ in self.keys]
            tail: list[Message] = []
            uniques: list[Message] = []
            failed = False
            for message in row_messages:
                kind = message.get("type")
                if kind == UNIQUE:
                    if message.get("field") in self.unique:
                        uniques.append(message)
                        failed = failed or message.get("field") in self.error_fields
                    continue
                if kind in RULE_TYPES:
                    continue
                failed = failed or kind == CELL_ERROR
                column = self.order.get(message.get("field", ""))
                if column is None or kind == EXTRA_CELLS:
                    tail.append(message)
                else:
                    by_column[column].append(message)
            for column, error, found in found_by_field:
                added = found.get(index)
                if added:
                    by_column[column].extend(map(_plain, added))
                    failed = failed or error
            result = [message for column_messages in by_column for message in column_messages]
            if self.missing:
                result.extend(self.missing)
                failed = failed or self.missing_error
            result.extend(tail)
            result.extend(uniques)
            status = RowStatus.ERROR if failed else RowStatus.WARNING if result else RowStatus.VALID
            results.append((result, status))
        return results
