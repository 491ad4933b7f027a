"""Fields: statistics and value frequencies of a batch's keys, computed by PostgreSQL."""

from __future__ import annotations

from uuid import UUID

import msgspec

from service import queries
from service.db import Executor, Pool, transaction
from service.entities import FieldStats, ValuePage


async def stats(pool: Pool, batch_id: UUID) -> dict[str, FieldStats]:
    """Per key of the batch's live rows: present, empty and distinct counts.

    Computed once and saved on the batch (its rows never change after ingestion). The first
    computation takes seconds on a large batch, so concurrent first requests queue on a lock
    and read what the first one saved, instead of all computing at once."""
    saved = await queries.scalar(pool, "get_saved_field_stats", batch_id)
    if saved is None:
        async with transaction(pool) as conn:
            await queries.execute(conn, "lock_field_stats", batch_id)
            saved = await queries.scalar(conn, "get_saved_field_stats", batch_id)
            if saved is None:
                found = await queries.many(conn, "list_field_stats", batch_id, into=FieldStats)
                await queries.execute(conn, "save_field_stats", batch_id, found)
                return {item.key: item for item in found}
    return {item.key: item for item in msgspec.convert(saved, list[FieldStats])}


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
