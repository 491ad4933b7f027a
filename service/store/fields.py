"""Fields: statistics and value frequencies of a batch's keys, computed by PostgreSQL."""

from __future__ import annotations

import logging
from uuid import UUID

import msgspec

from service import queries
from service.db import CLIENT_GRACE_SECONDS, Executor, Pool, transaction
from service.entities import FieldStats, ValuePage
from service.store import rows

logger = logging.getLogger("sheetflow.fields")


async def saved_stats(db: Executor, batch_id: UUID) -> list[FieldStats] | None:
    """The batch's per-key statistics if they have been computed, else None."""
    saved = await queries.scalar(db, "get_saved_field_stats", batch_id)
    return None if saved is None else msgspec.convert(saved, list[FieldStats])


async def stats(pool: Pool, batch_id: UUID, *, seconds: float) -> list[FieldStats]:
    """Per key of the batch's live rows: present, empty and distinct counts.

    Computed once and saved on the batch (its rows never change after ingestion). The
    computation takes seconds on a large batch (a minute for a million rows), so it runs with
    a statement limit of its own, `seconds` (the ingestion's, not a request's), and under a
    lock: whoever comes while it runs (the computation started after the upload, concurrent
    first requests) waits for it and reads what it saved, instead of computing again."""
    saved = await saved_stats(pool, batch_id)
    if saved is not None:
        return saved
    guard = seconds + CLIENT_GRACE_SECONDS
    async with transaction(pool) as conn:
        await rows.allow_long_copy(conn, seconds)
        await queries.execute(conn, "lock_field_stats", batch_id, guard_seconds=guard)
        saved = await saved_stats(conn, batch_id)
        if saved is None:
            kept = await queries.scalar(conn, "save_field_stats", batch_id, guard_seconds=guard)
            logger.info("computed the field statistics of batch %s", batch_id)
            # None: the batch is gone (deleted for good), so there is nothing to describe.
            saved = [] if kept is None else msgspec.convert(kept, list[FieldStats])
    return saved


async def values(
    db: Executor, batch_id: UUID, key: str, *, search: str | None, limit: int, offset: int
) -> ValuePage:
    """A page of `key`'s distinct non-null values, most frequent first; `search` keeps those
    containing it, ignoring case and accents."""
    page = await queries.one(
        db, "list_field_values", batch_id, key, search, limit, offset, into=ValuePage
    )
    assert page is not None
    return page
