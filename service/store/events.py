"""The audit trail: append-only events of batches and their rows (`sql/events.sql`).

Append an event in the transaction that makes the change it records, so that the change and
its event commit or roll back together. `before`/`after` are any JSON values (None: NULL);
see `entities.EventKind` for what each kind records. Events are never updated or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import Event, EventKind


class EventChange(NamedTuple):
    """One event of a set-based change: its row (None: the batch) and the values before and
    after."""

    row_id: UUID | None
    before: Any = None
    after: Any = None


async def append(
    db: Executor,
    *,
    batch_id: UUID,
    actor_id: UUID,
    kind: EventKind,
    row_id: UUID | None = None,
    before: Any = None,
    after: Any = None,
) -> Event:
    """Append one event of the batch (or of its row `row_id`)."""
    event = await queries.one(
        db, "append_event", batch_id, row_id, actor_id, kind, before, after, into=Event
    )
    assert event is not None
    return event


def _json(value: Any) -> msgspec.Raw | None:
    # As JSON bytes: asyncpg would read a list inside the jsonb[] array as a sub-array.
    return None if value is None else msgspec.Raw(msgspec.json.encode(value))


async def append_many(
    db: Executor,
    *,
    batch_id: UUID,
    actor_id: UUID,
    kind: EventKind,
    changes: Sequence[EventChange],
) -> int:
    """Append one event of `kind` per change, in one INSERT … SELECT; returns how many.

    For changes already in the database (a bulk UPDATE), write the events in that statement
    instead (`INSERT … SELECT` from its RETURNING), as `sql/review.sql` does."""
    if not changes:
        return 0
    status = await queries.execute(
        db,
        "append_events",
        batch_id,
        actor_id,
        kind,
        [change.row_id for change in changes],
        [_json(change.before) for change in changes],
        [_json(change.after) for change in changes],
    )
    return int(status.rsplit(" ", 1)[1])


async def find_for_row(db: Executor, row_id: UUID, *, limit: int, offset: int = 0) -> list[Event]:
    """A page of the row's events, newest first."""
    return await queries.many(db, "list_events_for_row", row_id, limit, offset, into=Event)


async def count_for_row(db: Executor, row_id: UUID) -> int:
    return int(await queries.scalar(db, "count_events_for_row", row_id))


async def find_for_batch(
    db: Executor, batch_id: UUID, *, limit: int, offset: int = 0
) -> list[Event]:
    """A page of the batch's events (its own and its rows'), newest first."""
    return await queries.many(db, "list_events_for_batch", batch_id, limit, offset, into=Event)


async def count_for_batch(db: Executor, batch_id: UUID) -> int:
    return int(await queries.scalar(db, "count_events_for_batch", batch_id))


EDIT_KINDS = (EventKind.ROW_EDITED, EventKind.ROW_BULK_EDITED)
"""The kinds whose `before` holds the values an edit replaced."""


async def original_data(db: Executor, row_id: UUID) -> dict[str, Any] | None:
    """The row's data as uploaded, rebuilt from its edits' first `before` of each key (no
    copy of it is written at upload); None if there is no such row."""
    data: dict[str, Any] | None = await queries.scalar(
        db, "get_original_row_data", row_id, list(EDIT_KINDS)
    )
    return data
