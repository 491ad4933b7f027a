"""Re-validation of a batch's rows in place (`sql/revalidation.sql`); run every function in
the one transaction of a re-validation (`service.revalidation`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import BatchStatus, ColumnMetadata, EventKind, RowStatus, StatusCounts


class LockedBatch(msgspec.Struct, frozen=True, kw_only=True):
    status: BatchStatus
    column_metadata: list[ColumnMetadata]
    schema_version: int | None
    status_counts: StatusCounts


class RowToCheck(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    position: int
    data: Any
    """A JSON object (left unchecked: the jsonb codec made it)."""
    status: RowStatus
    validation_messages: Any
    """A JSON array of message objects."""
    touched: bool
    """Rewritten by this transaction already (its `unique` messages, `rule_checks`)."""


async def lock_batch(db: Executor, batch_id: UUID) -> LockedBatch | None:
    """The live batch's status, columns and counts, its row locked until the end of the
    transaction."""
    return await queries.one(db, "lock_batch_for_validation", batch_id, into=LockedBatch)


async def rows_after(db: Executor, batch_id: UUID, position: int, limit: int) -> list[RowToCheck]:
    return await queries.many(
        db, "list_rows_for_validation", batch_id, position, limit, into=RowToCheck
    )


async def rewrite(
    db: Executor,
    batch_id: UUID,
    ids: Sequence[UUID],
    statuses: Sequence[RowStatus],
    messages: Sequence[list[dict[str, Any]]],
) -> None:
    await queries.execute(
        db, "rewrite_row_validation", batch_id, list(ids), list(statuses), list(messages)
    )


async def record(
    db: Executor,
    batch_id: UUID,
    *,
    actor_id: UUID,
    before: StatusCounts,
    before_version: int | None,
    after: StatusCounts,
    schema_version: int,
    changed_rows: int,
) -> None:
    """The batch's counts and schema version after a re-validation, and its
    `batch.revalidated` event."""
    await queries.execute(
        db,
        "record_batch_validation",
        batch_id,
        after.valid,
        after.warning,
        after.error,
        schema_version,
        actor_id,
        EventKind.BATCH_REVALIDATED,
        {"statusCounts": msgspec.to_builtins(before), "schemaVersion": before_version},
        {
            "statusCounts": msgspec.to_builtins(after),
            "schemaVersion": schema_version,
            "changedRows": changed_rows,
        },
    )
