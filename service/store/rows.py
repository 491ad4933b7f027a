"""Ingestion rows: written by binary COPY (then the few rows whose messages wait for
whole-column facts amended once), read back in source order."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from uuid import UUID

import msgspec

from service import queries
from service.db import Connection, Executor
from service.entities import CopyRecord, Row, RowStatus, ValidationMessage
from service.row_filter import RowFilter


async def create_many(
    db: Executor,
    rows: Iterable[CopyRecord] | AsyncIterable[CopyRecord],
    *,
    guard_seconds: float | None = None,
) -> int:
    """Copy `rows` in with one binary COPY; returns how many were written.

    The rows are consumed lazily (asyncpg sends them in buffers), so an iterator or async
    iterator of any length keeps memory flat. No parameter limit applies and nothing is
    returned per row. Run it in the transaction that created the batch: if COPY fails
    half-way, the rollback takes every row with it. `guard_seconds` replaces the connection's
    client-side statement guard (see `allow_long_copy` for the server's).
    """
    return await queries.copy(db, "copy_rows", rows, guard_seconds=guard_seconds)


async def allow_long_copy(db: Connection, seconds: float) -> None:
    """Let this transaction's statements run for up to `seconds` (the pool's statement
    timeout is for requests, not for the COPY of a million rows)."""
    await queries.execute(db, "set_copy_timeout", str(max(1, round(seconds * 1000))))


async def amend(
    db: Executor,
    batch_id: UUID,
    amendments: Sequence[tuple[int, RowStatus, list[ValidationMessage] | msgspec.Raw]],
) -> None:
    """Set the final status and messages of rows copied earlier in this transaction, by
    (position, status, messages); the messages may be JSON already (`msgspec.Raw`)."""
    # As JSON bytes: asyncpg would read a list inside the jsonb[] array as a sub-array.
    messages = [
        sent if isinstance(sent, msgspec.Raw) else msgspec.Raw(msgspec.json.encode(sent))
        for _, _, sent in amendments
    ]
    positions = [position for position, _, _ in amendments]
    statuses = [status for _, status, _ in amendments]
    await queries.execute(db, "amend_rows", batch_id, positions, statuses, messages)


async def find_by_batch_id(
    db: Executor,
    batch_id: UUID,
    *,
    limit: int | None = None,
    offset: int = 0,
    status: RowStatus | None = None,
) -> list[Row]:
    """A live batch's live rows in source order (`limit=None`: all of them), optionally only
    those of one status."""
    return await queries.many(db, "list_rows_for_batch", batch_id, limit, offset, status, into=Row)


async def page_json(
    db: Executor,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    *,
    limit: int,
    offset: int,
    status: RowStatus | None = None,
    max_bytes: int,
    next_url: str,
) -> bytes | None:
    """The JSON of a page of rows (`{"items", "total", "limit", "offset", "next"}`, the items
    in the wire shape of a row), built by PostgreSQL in one query; None unless the batch is a
    live batch of a live project of `owner_id`. The items stop before the row that would take
    them past `max_bytes` of JSON (one row always comes); `next` is `next_url` followed by the
    offset of the first row left out, or null when none is. For the HTTP list, where decoding
    every row's jsonb into Python only to encode it again cost most of a request's CPU."""
    page: str | None = await queries.scalar(
        db,
        "get_row_page_json",
        batch_id,
        project_id,
        owner_id,
        limit,
        offset,
        status,
        max_bytes,
        next_url,
    )
    return None if page is None else page.encode()


async def filtered_page_json(
    db: Executor,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    *,
    limit: int,
    offset: int,
    row_filter: RowFilter,
    max_bytes: int,
    next_url: str,
) -> bytes | None:
    """`page_json` for a filter that reads the rows (`row_filter.reads_content`): the rows
    matching every condition of `row_filter`, in source order, `total` counting them all."""
    page: str | None = await queries.scalar(
        db,
        "get_filtered_row_page_json",
        batch_id,
        project_id,
        owner_id,
        limit,
        offset,
        *row_filter.arguments(),
        max_bytes,
        next_url,
    )
    return None if page is None else page.encode()


async def get(db: Executor, batch_id: UUID, row_id: UUID) -> Row | None:
    return await queries.one(db, "get_row", row_id, batch_id, into=Row)


async def analyze(db: Executor) -> None:
    """Refresh the planner's statistics of the rows table (call after a large load)."""
    await queries.execute(db, "analyze_rows")
