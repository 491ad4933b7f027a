"""Re-validation over HTTP (issue 18): `POST …/batches/{batchId}/validate` checks a pending
batch's rows again against a version of the project's schema (`service.revalidation`)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, post
from litestar.datastructures import State
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from service import revalidation
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import Wire, to_wire
from service.entities import StatusCounts, User

AuthRequest = Request[User, Claims, State]


class ValidateIn(Wire, frozen=True):
    schema_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    """The schema version to check against; left out or null: the current one."""


class ValidateOut(Wire, frozen=True):
    before: StatusCounts
    after: StatusCounts
    changed_rows: int
    """Rows whose messages or status changed."""
    schema_version: int


@post(
    "/projects/{project_id:str}/batches/{batch_id:str}/validate",
    status_code=200,
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def validate_batch(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: Annotated[
        ValidateIn | None,
        Body(
            title="Which schema version",
            examples=[
                Example(summary="the current schema", value={}),
                Example(summary="version 2", value={"schemaVersion": 2}),
            ],
        ),
    ] = None,
) -> ValidateOut:
    """Check a `pending_review` batch's live rows again against a schema version (the
    current one by default): statuses and messages are rewritten (values never), each row
    rewritten gets a new version (and ETag), the batch's `statusCounts` and `schemaVersion`
    follow, and one `batch.revalidated` event goes to the batch's history. 409 for a
    completed or failed batch; 404 for a schema version the project does not have, or no
    current schema."""
    outcome = await revalidation.revalidate(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        None if data is None else data.schema_version,
    )
    return to_wire(outcome, ValidateOut)


HANDLERS: list[Any] = [validate_batch]
