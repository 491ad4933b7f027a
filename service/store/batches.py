"""Ingestion batches: created pending review, with their row count and column metadata,
in the transaction that copies their rows."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import Batch, BatchMode, BatchStatus, ColumnMetadata, StatusCounts


async def create(
    db: Executor,
    *,
    project_id: UUID,
    user_id: UUID,
    mode: BatchMode,
    file_count: int,
    name: str,
    row_count: int = 0,
    column_metadata: list[ColumnMetadata] | None = None,
) -> Batch:
    """A new batch, pending review; `name` is its first file's name."""
    batch = await queries.one(
        db,
        "create_batch",
        project_id,
        user_id,
        mode,
        file_count,
        row_count,
        column_metadata or [],
        name,
        into=Batch,
    )
    assert batch is not None
    return batch


async def finish(
    db: Executor,
    batch_id: UUID,
    *,
    row_count: int,
    column_metadata: list[ColumnMetadata] | msgspec.Raw,
    counts: StatusCounts,
    schema_version: int | None = None,
    status: BatchStatus = BatchStatus.PENDING_REVIEW,
    review_note: str | None = None,
) -> Batch:
    """Record the row count, the columns, the rows' status counts and the schema version
    they follow; call it in the transaction that copied the rows. `column_metadata` may be
    JSON already (`msgspec.Raw`). `status`/`review_note`: an upload over its project's error
    budget is failed at once, and says why."""
    batch = await queries.one(
        db,
        "finish_batch",
        batch_id,
        row_count,
        column_metadata,
        counts.valid,
        counts.warning,
        counts.error,
        schema_version,
        status,
        review_note,
        into=Batch,
    )
    assert batch is not None
    return batch


async def find_by_id(db: Executor, batch_id: UUID) -> Batch | None:
    return await queries.one(db, "get_batch", batch_id, into=Batch)


async def find_by_project_id(
    db: Executor, project_id: UUID, *, limit: int | None = None, offset: int = 0
) -> list[Batch]:
    """The project's live batches, newest first (`limit=None`: all of them)."""
    return await queries.many(db, "list_batches_for_project", project_id, limit, offset, into=Batch)


async def count_for_project(db: Executor, project_id: UUID) -> int:
    return int(await queries.scalar(db, "count_batches_for_project", project_id))


async def get_for_owner(
    db: Executor, owner_id: UUID, project_id: UUID, batch_id: UUID
) -> Batch | None:
    """The batch, if it is live and belongs to a live project of `owner_id`."""
    return await queries.one(db, "get_batch_for_owner", batch_id, project_id, owner_id, into=Batch)


async def lock_for_owner(db: Executor, owner_id: UUID, project_id: UUID, batch_id: UUID) -> bool:
    """Lock the batch against other changes until the transaction ends; False unless it is
    live and belongs to a live project of `owner_id`. Read it after: that is the state a
    change starts from."""
    found = await queries.scalar(db, "lock_batch_for_owner", batch_id, project_id, owner_id)
    return found is not None


async def review(db: Executor, batch_id: UUID, status: BatchStatus) -> Batch | None:
    """Move a pending batch to `status`; None when it was not pending review."""
    return await queries.one(db, "review_batch", batch_id, status, into=Batch)


async def soft_delete(db: Executor, batch_id: UUID, deleted_by: UUID) -> bool:
    """Hide the batch (its rows stay, so it can be restored); False if it was not live."""
    return await queries.scalar(db, "soft_delete_batch", batch_id, deleted_by) is not None


async def restore(db: Executor, owner_id: UUID, project_id: UUID, batch_id: UUID) -> Batch | None:
    """Bring back a soft-deleted batch of the owner's live project; None if there is none."""
    return await queries.one(db, "restore_batch", batch_id, project_id, owner_id, into=Batch)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch PATCH may change beside its status: each field left `UNSET` stays as it
    is; the keys must be keys of the batch (or None), which the caller checks."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    identifier_field_key: str | msgspec.UnsetType | None = msgspec.UNSET
    secondary_field_key: str | msgspec.UnsetType | None = msgspec.UNSET

    def changes_anything(self) -> bool:
        return any(
            value is not msgspec.UNSET
            for value in (self.name, self.identifier_field_key, self.secondary_field_key)
        )


def _given(value: Any) -> tuple[bool, Any]:
    return (False, None) if value is msgspec.UNSET else (True, value)


async def update_settings(db: Executor, batch_id: UUID, settings: Settings) -> Batch | None:
    """Apply `settings` to a live batch; None when it is not live."""
    return await queries.one(
        db,
        "update_batch_settings",
        batch_id,
        *_given(settings.name),
        *_given(settings.identifier_field_key),
        *_given(settings.secondary_field_key),
        into=Batch,
    )


async def label_columns(
    db: Executor, batch_id: UUID, labels: dict[str, str | None]
) -> Batch | None:
    """Set (or, with None, clear) the labels of the columns named by `labels`' keys (their
    data keys, `ColumnMetadata.data_key`), which the caller has checked are keys of the
    batch; None when the batch is not live."""
    return await queries.one(
        db,
        "label_batch_columns",
        batch_id,
        {key: {"label": label} for key, label in labels.items()},
        into=Batch,
    )
