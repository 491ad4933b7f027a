"""Row edits of the review loop (`sql/edits.sql`): one statement per change that edits the
rows, re-validates them, appends their events and adjusts the batch's counts.

Run them in a transaction that holds the batch's lock (`lock_batch`), so that the edits,
deletes and reviews of one batch serialize and its counts stay exact. `rules` is the JSON
that `sheetflow_revalidate` reads (built by `service.review.edit_rules`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal
from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import Batch, EventKind, Row, RowStatus, StatusCounts


class Changed(msgspec.Struct, frozen=True, kw_only=True):
    """How many rows, and cells in them, an edit changed."""

    rows_changed: int
    cells_changed: int


class RowState(msgspec.Struct, frozen=True, kw_only=True):
    live: bool
    version: int


class EditedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row this transaction edited, as the project schema's recheck reads it."""

    id: UUID
    position: int
    data: Any
    status: RowStatus
    validation_messages: Any


class BulkFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which live rows a bulk edit touches (every condition given must hold)."""

    status: RowStatus | None = None
    row_ids: Sequence[UUID] | None = None
    field: str | None = None
    equals: Any = msgspec.UNSET
    """Compared with the key's text; None matches an empty value. UNSET: no condition."""
    contains: str | None = None


def _json(value: Any) -> msgspec.Raw:
    """A JSON value as a jsonb parameter (None becomes JSON null, not SQL NULL)."""
    return msgspec.Raw(msgspec.json.encode(value))


async def lock_batch(db: Executor, batch_id: UUID) -> Batch | None:
    """Lock a live batch until the end of the transaction; None if it is not live."""
    return await queries.one(db, "lock_batch_for_edit", batch_id, into=Batch)


async def empty_warned_keys(db: Executor, batch: Batch, keys: Sequence[str]) -> set[str]:
    """Those of `keys` whose columns warn an empty value (filled in ≥ 95 % at upload). Found
    for every key of the batch on the first call that needs it (one read of its rows), then
    kept on the batch; call it holding the batch's lock."""
    if not keys:
        return set()
    found = await queries.scalar(db, "get_empty_warned_keys", batch.id)
    if found is None:
        every_key = [column.normalized_key for column in batch.column_metadata]
        found = await queries.scalar(db, "save_empty_warned_keys", batch.id, every_key)
    return set(keys) & set(found)


async def edit_row(
    db: Executor,
    batch_id: UUID,
    row_id: UUID,
    patch: Mapping[str, Any],
    *,
    versions: list[int] | None,
    actor_id: UUID,
    rules: Mapping[str, Any],
) -> Row | None:
    """The row after `patch` (unchanged if the patch changes nothing); None when the row is
    not live in the batch or its version is not one of `versions` (None: any)."""
    return await queries.one(
        db,
        "edit_row",
        row_id,
        batch_id,
        versions,
        dict(patch),
        actor_id,
        dict(rules),
        EventKind.ROW_EDITED,
        into=Row,
    )


async def edit_rows(
    db: Executor,
    batch_id: UUID,
    patches: Mapping[UUID, Mapping[str, Any]],
    *,
    actor_id: UUID,
    rules: Mapping[str, Any],
    kind: EventKind = EventKind.ROW_EDITED,
) -> Changed:
    """Apply one patch per row id, set-based; ids not live in the batch are left out."""
    changed = await queries.one(
        db,
        "edit_rows",
        batch_id,
        actor_id,
        list(patches),
        [_json(dict(patch)) for patch in patches.values()],
        dict(rules),
        kind,
        into=Changed,
    )
    assert changed is not None
    return changed


async def bulk_update(
    db: Executor,
    batch_id: UUID,
    where: BulkFilter,
    *,
    mode: Literal["set", "exact", "contains"],
    values: Mapping[str, Any] | None = None,
    field: str | None = None,
    find: str | None = None,
    replacement: Any = None,
    replace_text: str | None = None,
    keys: Sequence[str],
    actor_id: UUID,
    rules: Mapping[str, Any],
    guard_seconds: float | None = None,
) -> Changed:
    """One set-based edit of the rows matching `where`: `set` merges `values`; `exact`
    replaces the value of `field` whose text is `find` with `replacement`; `contains`
    replaces `find` in the text of `field` with `replace_text`. `keys`: the keys it may
    change (re-validated). `guard_seconds` replaces the connection's client-side statement
    guard (with `rows.allow_long_copy` for the server's, for a batch of a million rows)."""
    counted = await queries.scalar(
        db,
        "bulk_update_rows",
        batch_id,
        actor_id,
        where.status,
        None if where.row_ids is None else list(where.row_ids),
        where.field,
        None if where.equals is msgspec.UNSET else _json(where.equals),
        where.contains,
        mode,
        None if values is None else dict(values),
        field,
        find,
        _json(replacement),
        replace_text,
        dict(rules),
        list(keys),
        EventKind.ROW_BULK_EDITED,
        guard_seconds=guard_seconds,
    )
    return Changed(rows_changed=counted[0], cells_changed=counted[1])


async def soft_delete_row(db: Executor, batch_id: UUID, row_id: UUID, actor_id: UUID) -> bool:
    """Hide a live row (out of the batch's counts); False if it was not live."""
    deleted = await queries.scalar(
        db, "soft_delete_row", row_id, batch_id, actor_id, EventKind.ROW_DELETED
    )
    return deleted is not None


async def restore_row(db: Executor, batch_id: UUID, row_id: UUID, actor_id: UUID) -> bool:
    """Bring back a soft-deleted row (into the batch's counts); False if it was not deleted."""
    restored = await queries.scalar(
        db, "restore_row", row_id, batch_id, actor_id, EventKind.ROW_RESTORED
    )
    return restored is not None


async def row_state(db: Executor, batch_id: UUID, row_id: UUID) -> RowState | None:
    """Whether the row (live or deleted) is in the batch, and its version."""
    return await queries.one(db, "row_state", row_id, batch_id, into=RowState)


async def edited_rows_after(
    db: Executor, batch_id: UUID, position: int, limit: int
) -> list[EditedRow]:
    """A page of the live rows this transaction changed, after `position`."""
    return await queries.many(db, "list_edited_rows", batch_id, position, limit, into=EditedRow)


async def rewrite_edited_rows(
    db: Executor,
    batch_id: UUID,
    ids: Sequence[UUID],
    datas: Sequence[Any],
    statuses: Sequence[RowStatus],
    messages: Sequence[list[dict[str, Any]]],
) -> None:
    """New data, statuses and messages of rows this transaction edited; the batch's counts
    follow."""
    await queries.execute(
        db, "rewrite_edited_rows", batch_id, list(ids), list(datas), list(statuses), list(messages)
    )


async def add_status_counts(db: Executor, batch_id: UUID, change: StatusCounts) -> None:
    """Add a change of status counts (negative: fewer) to the batch's."""
    await queries.execute(
        db, "add_batch_status_counts", batch_id, change.valid, change.warning, change.error
    )
