"""Exports: the named queries that read a batch's rows out in bulk (COPY … TO STDOUT for the
lines PostgreSQL writes itself, a cursor for the cells the service types), and the batches of
a project export. Run them in one read-only transaction: the download sees one snapshot.
Each reader takes `statuses` (a report's: NULL for any) and `filtered`, the four arguments
of the rows-list filter (`service.row_filter.RowFilter.arguments`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import msgspec

from service import queries
from service.db import Connection, Executor
from service.entities import Batch, RowStatus


class RowCells(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    cells: list[Any]


Output = Callable[[bytes], Awaitable[None]]

NDJSON_DELIMITER = "\x02"
NDJSON_QUOTE = "\x01"
"""COPY's CSV format with separator and quote characters no JSON text holds (PostgreSQL
escapes every control character in JSON strings, and writes no raw CR or LF): each line
comes out exactly as the SELECT made it, with nothing escaped or quoted."""


async def allow_long_export(conn: Connection, seconds: float) -> None:
    """Let this transaction's statements run for up to `seconds` (a COPY lasts as long as
    its client takes to download it)."""
    await queries.execute(conn, "set_export_timeout", str(max(1, round(seconds * 1000))))


async def completed_batches(db: Executor, owner_id: UUID, project_id: UUID) -> list[Batch]:
    """The live completed batches of a live project of `owner_id`, oldest first."""
    return await queries.many(db, "list_completed_batches", project_id, owner_id, into=Batch)


async def copy_ndjson(
    conn: Connection,
    batch_id: UUID,
    statuses: Sequence[RowStatus] | None,
    filtered: Sequence[Any],
    *,
    wrapped: bool,
    with_batch: bool,
    provenance: bool,
    output: Output,
    guard_seconds: float,
) -> None:
    """Hand `output` the NDJSON lines of a batch's rows, as PostgreSQL writes them."""
    await queries.copy_out(
        conn,
        "export_ndjson_lines",
        batch_id,
        statuses,
        wrapped,
        with_batch,
        provenance,
        *filtered,
        output=output,
        format="csv",
        delimiter=NDJSON_DELIMITER,
        quote=NDJSON_QUOTE,
        guard_seconds=guard_seconds,
    )


async def cells(
    conn: Connection,
    batch_id: UUID,
    statuses: Sequence[RowStatus] | None,
    filtered: Sequence[Any],
    keys: Sequence[str],
    *,
    extras: bool,
    messages: bool,
    prefetch: int,
) -> AsyncIterator[tuple[UUID, list[dict[str, Any]], list[Any]]]:
    """(row id, validation messages or [], the values of `keys`) of each row, in source
    order, through a cursor."""
    async for row_id, found, values in queries.cursor(
        conn,
        "export_cells",
        batch_id,
        statuses,
        list(keys),
        extras,
        messages,
        *filtered,
        prefetch=prefetch,
    ):
        yield row_id, found, values


async def cells_by_id(
    db: Executor, batch_id: UUID, row_ids: Sequence[UUID], keys: Sequence[str]
) -> dict[UUID, list[Any]]:
    """The values of `keys` of those of `row_ids` that are live rows of the batch."""
    found = await queries.many(
        db, "list_row_cells_by_id", batch_id, list(row_ids), list(keys), into=RowCells
    )
    return {row.id: row.cells for row in found}
