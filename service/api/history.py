"""The audit trail over HTTP: the history of a row and of a batch, newest first.

Every edit, bulk edit, row delete and restore, review verdict, batch delete and restore
appends an event in the transaction that makes the change (service/store/events.py); events
are never changed. A batch's history holds its own events and its rows'."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath

from service import ownership, review
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.rows import ROWS_PATH
from service.api.wire import DEFAULT_LIMIT, PageLimit, PageOffset, Wire, to_wire
from service.entities import EventKind, User
from service.store import edits, events

AuthRequest = Request[User, Claims, State]


class EventOut(Wire, frozen=True):
    id: int
    """Grows with every event: newer events have larger ids."""
    batch_id: UUID
    row_id: UUID | None
    """null for an event of the batch as a whole."""
    actor_id: UUID
    """The user who made the change."""
    kind: EventKind
    before: Any
    """What the change replaced: for edits, `{key: value}` of the keys it changed."""
    after: Any
    """What the change wrote, in the same shape."""
    created_at: datetime


class EventPage(Wire, frozen=True):
    items: list[EventOut]
    total: int
    limit: int
    offset: int


@get(
    ROWS_PATH + "/{row_id:str}/history",
    tags=["history"],
    responses=documented(*AUTHENTICATED, 404),
)
async def row_history(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    row_id: FromPath[UUID],
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> EventPage:
    """A row's events, newest first (a deleted row's too)."""
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    if await edits.row_state(state.pool, batch.id, row_id) is None:
        raise review.missing_row(batch_id, row_id)
    items = await events.find_for_row(state.pool, row_id, limit=limit, offset=offset)
    return EventPage(
        items=[to_wire(e, EventOut) for e in items],
        total=await events.count_for_row(state.pool, row_id),
        limit=limit,
        offset=offset,
    )


@get(
    "/projects/{project_id:str}/batches/{batch_id:str}/history",
    tags=["history"],
    responses=documented(*AUTHENTICATED, 404),
)
async def batch_history(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> EventPage:
    """A batch's events and its rows', newest first."""
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    items = await events.find_for_batch(state.pool, batch.id, limit=limit, offset=offset)
    return EventPage(
        items=[to_wire(e, EventOut) for e in items],
        total=await events.count_for_batch(state.pool, batch.id),
        limit=limit,
        offset=offset,
    )


HANDLERS: list[Any] = [row_history, batch_history]
