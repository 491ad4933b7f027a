"""Delivery over HTTP: consumers claim rows of a completed batch and report each outcome
(`service.delivery` has the rules)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, patch, post
from litestar.datastructures import State
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from service import delivery
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.rows import ROWS_PATH, RowOut
from service.api.wire import MAX_LIMIT, Text, Wire, to_wire
from service.entities import DeliveryStatus, User
from service.settings import Settings

AuthRequest = Request[User, Claims, State]

MAX_LEASE_SECONDS = 86_400


class ClaimRequest(Wire, frozen=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] = 10
    """Most rows to hand out."""
    lease_seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_LEASE_SECONDS)] = 300
    """How long the rows are the caller's: past it, another claim may take them."""


class ClaimedRows(Wire, frozen=True):
    items: list[RowOut]
    """The rows leased to the caller, in source order (none when nothing is claimable)."""


class DeliveryReport(Wire, frozen=True):
    """`done` (final) or `error` for a row in progress, or `pending` to give it back (from
    `in_progress`) or to retry it (from `error`). `message` and `step` left out stay as
    they were; null clears them."""

    status: Literal["done", "error", "pending"]
    message: Annotated[Text, msgspec.Meta(max_length=2000)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    step: Annotated[Text, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET
    attempt: Annotated[int, msgspec.Meta(ge=1)] | msgspec.UnsetType = msgspec.UNSET
    """The row's `delivery.attempts` as the claim handed it out: when given, the report is
    refused (409) if the row was claimed again since (its lease ran out and another consumer
    took it)."""


ClaimBody = Annotated[
    ClaimRequest,
    Body(
        examples=[
            Example(summary="ten rows for five minutes", value={"limit": 10, "leaseSeconds": 300})
        ]
    ),
]
ReportBody = Annotated[
    DeliveryReport,
    Body(
        examples=[
            Example(
                summary="delivered", value={"status": "done", "step": "submitted", "attempt": 1}
            ),
            Example(
                summary="failed at a step",
                value={"status": "error", "message": "CPF rejected by the form", "step": "cpf"},
            ),
            Example(summary="retry", value={"status": "pending"}),
        ]
    ),
]


@post(
    ROWS_PATH + "/claim",
    status_code=200,
    tags=["delivery"],
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def claim_rows(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: ClaimBody,
) -> ClaimedRows:
    """Lease up to `limit` rows of a completed batch to the caller, in source order: pending
    rows and rows whose lease ran out, each to one caller however many claim at once. The
    answer stops before the row whose data would take it past `SHEETFLOW_MAX_PAGE_BYTES`
    (one row always comes), and only the rows answered are leased. 409 when the batch is not
    completed."""
    settings: Settings = state.settings
    claimed = await delivery.claim(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        limit=data.limit,
        lease_seconds=data.lease_seconds,
        max_bytes=settings.max_page_bytes,
    )
    return ClaimedRows(items=[to_wire(row, RowOut) for row in claimed])


@patch(
    ROWS_PATH + "/{row_id:str}/delivery",
    tags=["delivery"],
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def report_delivery(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    row_id: FromPath[UUID],
    data: ReportBody,
) -> RowOut:
    """Record what became of a row: 409 when its state does not allow it (`done` is final;
    `error` only goes back to `pending`; a pending row must be claimed first), when the batch
    is not completed, or when `attempt` is given and the row was claimed again since."""
    row = await delivery.report(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        row_id,
        DeliveryStatus(data.status),
        message=data.message,
        step=data.step,
        attempt=None if data.attempt is msgspec.UNSET else data.attempt,
    )
    return to_wire(row, RowOut)


HANDLERS: list[Any] = [claim_rows, report_delivery]
