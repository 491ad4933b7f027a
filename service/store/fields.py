"""Fields: statistics and value frequencies of a batch's keys, computed by PostgreSQL."""

from __future__ import annotations

from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import FieldStats, ValuePage


async def stats(db: Executor, batch_id: UUID) -> dict[str, FieldStats]:
    """Per key of the batch's live rows: present, empty and distinct counts.

    Computed once and saved on the batch (its rows never change after ingestion); two first
    requests at once both compute, and write the same answer."""
    saved = await queries.scalar(db, "get_saved_field_stats", batch_id)
    if saved is not None:
        found = msgspec.convert(saved, list[FieldStats])
    else:
        found = await queries.many(db, "list_field_stats", batch_id, into=FieldStats)
        await queries.execute(db, "save_field_stats", batch_id, found)
    return {item.key: item for item in found}


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
