"""Projects over HTTP: create, list, read, change and soft-delete your own projects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from service import deletion, idempotency, ownership
from service.api.auth import Claims
from service.api.idempotency_key import REPLAYED_RESPONSE_HEADERS, IdempotencyKey, created
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import (
    DEFAULT_LIMIT,
    VISIBLE_TEXT_PATTERN,
    PageLimit,
    PageOffset,
    Text,
    Wire,
    to_wire,
)
from service.entities import ErrorBudget, ProjectStatus, User
from service.store import projects

# Storable text (wire.Text) with at least one visible character.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=VISIBLE_TEXT_PATTERN)]
Description = Annotated[Text, msgspec.Meta(max_length=2000)]
AuthRequest = Request[User, Claims, State]


class ErrorBudgetWire(Wire, frozen=True):
    """An upload with more error rows than `maxErrorRows`, or a larger share of error rows
    than `maxErrorRatio` (0-1), is stored and failed at once; a member left out or null
    sets no limit."""

    max_error_rows: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] | None = None
    max_error_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None


class ProjectOut(Wire, frozen=True):
    id: UUID
    user_id: UUID
    name: str
    description: str | None
    status: ProjectStatus
    error_budget: ErrorBudgetWire | None
    created_at: datetime
    updated_at: datetime


class ProjectPage(Wire, frozen=True):
    items: list[ProjectOut]
    total: int
    limit: int
    offset: int


class ProjectCreate(Wire, frozen=True):
    name: Name
    description: Description | None = None


class ProjectPatch(Wire, frozen=True):
    """Absent fields are left alone; `description: null` clears the description and
    `errorBudget: null` the error budget (a budget given replaces the whole budget)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    status: ProjectStatus | msgspec.UnsetType = msgspec.UNSET
    error_budget: ErrorBudgetWire | msgspec.UnsetType | None = msgspec.UNSET


@post(
    "/projects",
    status_code=201,
    tags=["projects"],
    responses=documented(*AUTHENTICATED, 409, 422),
    response_headers=REPLAYED_RESPONSE_HEADERS,
)
async def create_project(
    request: AuthRequest,
    state: State,
    data: JSONBody[ProjectCreate],
    idempotency_key: IdempotencyKey = None,
) -> Response[ProjectOut]:
    """Create a project. 409 when you already have a live project with this name, or while a
    request with the same Idempotency-Key is still running; 422 when that key was used for a
    different request."""
    user_id = request.user.id
    body = msgspec.json.encode(data)
    with state.keys_in_flight.claim(user_id, idempotency_key, "create_project", body) as claim:
        try:
            project = await idempotency.create_once(
                state.pool,
                claim,
                lambda db: projects.create(
                    db, user_id, name=data.name, description=data.description
                ),
            )
        except idempotency.Replayed as replay:
            found = await projects.get(state.pool, user_id, replay.resource_id)
            if found is None:
                raise replay.gone("project") from None
            return created(to_wire(found, ProjectOut), f"/projects/{found.id}", replayed=True)
    return created(to_wire(project, ProjectOut), f"/projects/{project.id}", replayed=False)


@get("/projects", tags=["projects"], responses=documented(*AUTHENTICATED))
async def list_projects(
    request: AuthRequest,
    state: State,
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> ProjectPage:
    items, total = await projects.list_for_owner(
        state.pool, request.user.id, limit=limit, offset=offset
    )
    return ProjectPage(
        items=[to_wire(p, ProjectOut) for p in items], total=total, limit=limit, offset=offset
    )


@get("/projects/{project_id:str}", tags=["projects"], responses=documented(*AUTHENTICATED, 404))
async def get_project(request: AuthRequest, state: State, project_id: FromPath[UUID]) -> ProjectOut:
    return to_wire(await ownership.project(state.pool, request.user.id, project_id), ProjectOut)


@patch(
    "/projects/{project_id:str}",
    tags=["projects"],
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def update_project(
    request: AuthRequest, state: State, project_id: FromPath[UUID], data: JSONBody[ProjectPatch]
) -> ProjectOut:
    project = await projects.update(
        state.pool,
        request.user.id,
        project_id,
        name=data.name,
        description=data.description,
        status=data.status,
        error_budget=(
            to_wire(data.error_budget, ErrorBudget)
            if isinstance(data.error_budget, ErrorBudgetWire)
            else data.error_budget
        ),
    )
    if project is None:
        raise ownership.missing_project(project_id)
    return to_wire(project, ProjectOut)


@delete(
    "/projects/{project_id:str}",
    status_code=204,
    tags=["projects"],
    responses=documented(*AUTHENTICATED, 404),
)
async def delete_project(request: AuthRequest, state: State, project_id: FromPath[UUID]) -> None:
    if not await projects.soft_delete(state.pool, request.user.id, project_id):
        raise ownership.missing_project(project_id)


@post(
    "/projects/{project_id:str}/restore",
    status_code=200,
    tags=["projects"],
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def restore_project(
    request: AuthRequest, state: State, project_id: FromPath[UUID]
) -> ProjectOut:
    """Bring back a soft-deleted project with exactly the batches its deletion hid (a batch
    deleted before the project stays deleted); 409 when it is not deleted, or when another
    live project of yours has its name now."""
    project = await deletion.restore_project(state.pool, request.user.id, project_id)
    return to_wire(project, ProjectOut)


HANDLERS: list[Any] = [
    create_project,
    list_projects,
    get_project,
    update_project,
    delete_project,
    restore_project,
]
