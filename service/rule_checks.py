"""The rule checks that need a whole batch (issue 18): `unique`, in SQL, in the transaction
that stores the batch (after its COPY) or re-validates it (`service.revalidation`).

Values are compared as their text once converted to the field's type (`"42"` and `42` are
one value in an `integer` field, `"Ana"` and `"ana"` are two), with a hash of the values
first, so only the rows whose value repeats are sorted. Empty values
never repeat. The rows of every file and sheet of the batch are compared together."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from service import rules
from service.db import Executor
from service.entities import StatusCounts
from service.ingest.conforming import field_keys
from service.schemas import ProjectSchema, SchemaField
from service.store import rule_checks as store


def unique_fields(schema: ProjectSchema, keys: Iterable[str]) -> list[tuple[str, SchemaField]]:
    """The schema's unique fields that a key of the batch maps to, with that key (as the
    worker maps them: `ingest.conforming.field_keys`)."""
    return [(key, field) for key, field in field_keys(keys, schema.fields).items() if field.unique]


async def mark_repeated(
    db: Executor,
    batch_id: UUID,
    schema: ProjectSchema,
    keys: Iterable[str],
    *,
    replace: bool = False,
) -> StatusCounts:
    """Give every row whose value of a unique field repeats its `unique` message (with
    `replace`, when rows may have older ones: in their place, and taken from those whose
    value no longer repeats); how the batch's status counts changed."""
    valid = warning = error = 0
    for key, field in unique_fields(schema, keys):
        change = await store.mark_repeated_values(
            db, batch_id, key, field.key, error=rules.is_error(field), replace=replace
        )
        valid, warning, error = (
            valid + change.valid,
            warning + change.warning,
            error + change.error,
        )
    return StatusCounts(valid=valid, warning=warning, error=error)


def plus(counts: StatusCounts, change: StatusCounts) -> StatusCounts:
    return StatusCounts(
        valid=counts.valid + change.valid,
        warning=counts.warning + change.warning,
        error=counts.error + change.error,
    )
