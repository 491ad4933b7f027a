"""Rule checks that need every row of a batch, in SQL (`sql/rule_checks.sql`)."""

from __future__ import annotations

from uuid import UUID

from service import queries
from service.db import Executor
from service.entities import StatusCounts


async def mark_repeated_values(
    db: Executor, batch_id: UUID, key: str, field_key: str, *, error: bool, replace: bool
) -> StatusCounts:
    """Give the live rows whose value of `key` repeats a `unique` message for `field_key`
    (an error if `error`, else a warning); with `replace`, in place of an older one, and
    taken from those whose value no longer repeats; how many rows each status gained
    (negative: lost)."""
    change = await queries.one(
        db, "mark_repeated_values", batch_id, key, field_key, error, replace, into=StatusCounts
    )
    assert change is not None
    return change
