"""The project schema's rules applied to edited rows (issue 19 item 1): a row edit is
re-validated by its column's type (in SQL, `sql/edits.sql`) and then by the rules of the
schema version the batch was last validated with (`schemaVersion` on the batch), in the
edit's transaction.

- Values given by an edit are converted to their field's type before they are stored
  (`convert`: `"42"` in an `integer` field is stored as 42; a value that does not convert is
  kept as given and gets a `type` message), so the audit trail records the stored value. A
  `replace … contains` computes its values in SQL: they are converted by the recheck.
- `unique` is rechecked exactly, set-based over the whole batch (`rule_checks`, the statement
  of the upload and the re-validation), for the unique fields among the edited keys: a row
  whose value no longer repeats loses its message, the rows that now repeat get theirs.
- Then every row this transaction changed (the edited ones, and those whose `unique`
  messages changed) is read in pages of `PAGE_ROWS` by position and its rule messages and
  status recomputed by `rules.rows.RowRules` (built-in messages kept), the batch's counts
  adjusted by the statuses that changed. Memory: one page, whatever the edit's size.

A row's `version` goes up once per transaction that changes it: the edit bumps the edited
rows; a row whose `unique` message changed without being edited is bumped by that recheck.
Only the edited rows get events (a neighbour's `unique` message is not an edit of it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from service import rule_checks, rules
from service.db import Executor
from service.entities import Batch, RowStatus
from service.rules.rows import Message, RowRules
from service.schemas import ProjectSchema
from service.store import edits as edit_store
from service.store import project_schemas
from service.store import rule_checks as rule_check_store
from service.store.edits import EditedRow

PAGE_ROWS = 5000


class SchemaEdits:
    """A batch's schema version compiled for its keys."""

    def __init__(self, schema: ProjectSchema, keys: Sequence[str]) -> None:
        self.schema = schema
        self.keys = list(keys)
        self.row_rules = RowRules(self.keys, schema)
        self.fields = dict(self.row_rules.rules)

    def convert(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A patch's values in their fields' types (kept as given when they do not convert,
        or when the key is no field's)."""
        converted: dict[str, Any] = {}
        for key, value in patch.items():
            field_rules = self.fields.get(key)
            converted[key] = value if field_rules is None else field_rules.coerce(value)[0]
        return converted

    def changes(
        self, page: Sequence[EditedRow], convert_keys: Sequence[str]
    ) -> tuple[list[UUID], list[Any], list[RowStatus], list[list[Message]]]:
        """The rows of a page whose data, messages or status change under the schema."""
        datas = [dict(row.data) for row in page]
        for key in convert_keys:
            field_rules = self.fields.get(key)
            if field_rules is not None:
                converted = field_rules.apply([data.get(key) for data in datas])[0]
                for data, value in zip(datas, converted, strict=True):
                    if key in data:
                        data[key] = value
        checked = self.row_rules.revalidate_many(
            datas, [list(row.validation_messages) for row in page]
        )
        ids: list[UUID] = []
        new_datas: list[Any] = []
        statuses: list[RowStatus] = []
        messages: list[list[Message]] = []
        for row, data, (new, status) in zip(page, datas, checked, strict=True):
            if data != row.data or new != row.validation_messages or status is not row.status:
                ids.append(row.id)
                new_datas.append(data)
                statuses.append(status)
                messages.append(new)
        return ids, new_datas, statuses, messages


async def for_batch(db: Executor, batch: Batch) -> SchemaEdits | None:
    """The rules of the schema version the batch was last validated with; None without one."""
    if batch.schema_version is None:
        return None
    schema = await project_schemas.get_schema_by_version(db, batch.project_id, batch.schema_version)
    if schema is None:
        return None
    return SchemaEdits(schema, [column.normalized_key for column in batch.column_metadata])


async def recheck(
    db: Executor,
    batch_id: UUID,
    checker: SchemaEdits,
    edited_keys: Iterable[str],
    *,
    convert_keys: Sequence[str] = (),
) -> None:
    """Re-validate by the schema's rules the rows this transaction edited (call it after the
    edit's statement, in its transaction, holding the batch's lock)."""
    edited = set(edited_keys)
    if convert_keys:
        await _pass(db, batch_id, checker, convert_keys)
    for key, field in rule_checks.unique_fields(checker.schema, checker.keys):
        if key not in edited:
            continue
        change = await rule_check_store.mark_repeated_values(
            db, batch_id, key, field.key, error=rules.is_error(field), replace=True
        )
        await edit_store.add_status_counts(db, batch_id, change)
    await _pass(db, batch_id, checker, ())


async def _pass(
    db: Executor, batch_id: UUID, checker: SchemaEdits, convert_keys: Sequence[str]
) -> None:
    position = -1
    while True:
        page = await edit_store.edited_rows_after(db, batch_id, position, PAGE_ROWS)
        if not page:
            return
        position = page[-1].position
        if len(page) > 1:
            found = await asyncio.to_thread(checker.changes, page, convert_keys)
        else:
            found = checker.changes(page, convert_keys)
        ids, datas, statuses, messages = found
        if ids:
            await edit_store.rewrite_edited_rows(db, batch_id, ids, datas, statuses, messages)
