"""Batches over HTTP: upload, list, read, review and soft-delete the batches of your projects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Request, delete, get, patch
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from service.api.auth import Claims
from service.api.wire import DEFAULT_LIMIT, PageLimit, PageOffset, Wire, to_wire
from service.entities import (
    Batch,
    BatchMode,
    BatchStatus,
    ColumnMetadata,
    StatusCounts,
    User,
)
from service.errors import InvalidTransition, NotFound
from service.store import batches, projects

AuthRequest = Request[User, Claims, State]


class BatchOut(Wire, frozen=True):
    id: UUID
    project_id: UUID
    user_id: UUID
    mode: BatchMode
    status: BatchStatus
    file_count: int
    row_count: int
    column_metadata: list[ColumnMetadata]
    status_counts: StatusCounts
    created_at: datetime
    updated_at: datetime


class BatchPage(Wire, frozen=True):
    items: list[BatchOut]
    total: int
    limit: int
    offset: int


class BatchReview(Wire, frozen=True):
    """`completed` approves the batch, `failed` rejects it; both are final."""

    status: Literal["completed", "failed"]


async def owned_batch(state: State, user: User, project_id: UUID, batch_id: UUID) -> Batch:
    """The batch if the user owns its project, else 404 (another user's batch looks missing)."""
    batch = await batches.get_for_owner(state.pool, user.id, project_id, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} not found in project {project_id}")
    return batch


async def require_project(state: State, user: User, project_id: UUID) -> None:
    if await projects.get(state.pool, user.id, project_id) is None:
        raise NotFound(f"project {project_id} not found")


@get("/projects/{project_id:str}/batches", tags=["batches"])
async def list_batches(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> BatchPage:
    await require_project(state, request.user, project_id)
    items = await batches.find_by_project_id(state.pool, project_id, limit=limit, offset=offset)
    total = await batches.count_for_project(state.pool, project_id)
    return BatchPage(
        items=[to_wire(b, BatchOut) for b in items], total=total, limit=limit, offset=offset
    )


@get("/projects/{project_id:str}/batches/{batch_id:str}", tags=["batches"])
async def get_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> BatchOut:
    return to_wire(await owned_batch(state, request.user, project_id, batch_id), BatchOut)


@patch("/projects/{project_id:str}/batches/{batch_id:str}", tags=["batches"])
async def review_batch(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: JSONBody[BatchReview],
) -> BatchOut:
    batch = await owned_batch(state, request.user, project_id, batch_id)
    reviewed = await batches.review(state.pool, batch.id, BatchStatus(data.status))
    if reviewed is None:
        current = await owned_batch(state, request.user, project_id, batch_id)
        raise InvalidTransition(
            f"batch {batch_id} is {current.status}, which is final: only a batch pending "
            "review can be completed or failed"
        )
    return to_wire(reviewed, BatchOut)


@delete("/projects/{project_id:str}/batches/{batch_id:str}", status_code=204, tags=["batches"])
async def delete_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> None:
    batch = await owned_batch(state, request.user, project_id, batch_id)
    if not await batches.soft_delete(state.pool, batch.id, request.user.id):
        raise NotFound(f"batch {batch_id} not found in project {project_id}")


HANDLERS: list[Any] = [list_batches, get_batch, review_batch, delete_batch]
