"""Rows over HTTP: a batch's rows in source order, and one row by id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import MediaType, Request, Response, get
from litestar.datastructures import ResponseHeader, State
from litestar.params import FromPath, QueryParameter

from service import ownership, row_filter
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import (
    DEFAULT_LIMIT,
    TEXT_PATTERN,
    PageLimit,
    PageOffset,
    Wire,
    to_wire,
)
from service.entities import DeliveryStatus, RowStatus, User, ValidationMessage
from service.errors import NotFound
from service.settings import Settings
from service.store import events, rows

AuthRequest = Request[User, Claims, State]
ROWS_PATH = "/projects/{project_id:str}/batches/{batch_id:str}/rows"


class DeliveryOut(Wire, frozen=True):
    status: DeliveryStatus
    message: str | None
    step: str | None
    attempts: int
    """How many times the row was claimed."""
    lease_until: datetime | None
    """While `in_progress`: when the claim runs out and the row may be claimed again."""
    updated_at: datetime | None


class RowOut(Wire, frozen=True):
    id: UUID
    batch_id: UUID
    data: dict[str, Any]
    status: RowStatus
    validation_messages: list[ValidationMessage]
    source_file_name: str
    source_sheet_name: str
    source_row_index: int
    version: int
    """1 as uploaded, one more with every change; the row's ETag is this, quoted."""
    delivery: DeliveryOut | None
    """The row's delivery state, in a completed batch only (null before)."""
    created_at: datetime
    updated_at: datetime


class RowPage(Wire, frozen=True):
    items: list[RowOut]
    total: int
    limit: int
    offset: int
    next: str | None
    """The rest of the rows: a ready URL (path and query) to the next page, when the page
    stops before the last matching row (by `limit`, or by bytes); null on the last page."""


StatusQuery = Annotated[
    RowStatus | None, QueryParameter(description="only rows of this validation status")
]
DeliveryQuery = Annotated[
    DeliveryStatus | None,
    QueryParameter(description="only rows in this delivery state (a batch not completed has none)"),
]
SearchQuery = Annotated[
    str | None,
    QueryParameter(
        description=(
            "only rows with a value that contains this text, ignoring case and accents; "
            "besides, `where.<key>=value` keeps the rows whose `key` is exactly `value`, "
            "compared as the column's inferred type (repeat it for any of several values; "
            "an empty value is an empty cell); an unknown key or a value that does not "
            "fit the column's type is a 422 naming it"
        ),
        max_length=row_filter.MAX_Q_CHARS,
        pattern=TEXT_PATTERN,
    ),
]


async def filter_from(
    request: AuthRequest,
    project_id: UUID,
    batch_id: UUID,
    *,
    status: RowStatus | None,
    delivery: DeliveryStatus | None,
    q: str | None,
) -> row_filter.RowFilter:
    """The rows filter of this request (its `status`, `delivery`, `q` and `where.<key>`
    parameters); the batch's columns are read only when a `where.<key>` needs them."""
    query = list(request.query_params.multi_items())
    columns = []
    if any(name.startswith(row_filter.WHERE_PREFIX) for name, _ in query):
        batch = await ownership.batch(request.app.state.pool, request.user.id, project_id, batch_id)
        columns = batch.column_metadata
    return row_filter.parse(columns, status=status, delivery=delivery, q=q, query=query)


@get(ROWS_PATH, tags=["rows"], responses=documented(*AUTHENTICATED, 404, 422))
async def list_rows(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    status: StatusQuery = None,
    delivery: DeliveryQuery = None,
    q: SearchQuery = None,
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> Response[RowPage]:
    """Rows in source order: files as uploaded, sheets in workbook order, rows top to bottom,
    optionally only those matching every filter given (`status`, `delivery`, `q`,
    `where.<key>`). A page holds up to `limit` rows and stops sooner when its rows would pass
    `SHEETFLOW_MAX_PAGE_BYTES` of JSON (one row always comes); follow `next` for the rest."""
    # The body is built by PostgreSQL in the shape of RowPage (tests/api/test_batches.py holds
    # it to the shape of a single row), in one query that also checks ownership.
    settings: Settings = state.settings
    wanted = await filter_from(request, project_id, batch_id, status=status, delivery=delivery, q=q)
    query = urlencode([*wanted.query(), ("limit", str(limit))])
    next_url = f"/projects/{project_id}/batches/{batch_id}/rows?{query}&offset="
    if wanted.reads_content:
        page = await rows.filtered_page_json(
            state.pool,
            request.user.id,
            project_id,
            batch_id,
            limit=limit,
            offset=offset,
            row_filter=wanted,
            max_bytes=settings.max_page_bytes,
            next_url=next_url,
        )
    else:
        page = await rows.page_json(
            state.pool,
            request.user.id,
            project_id,
            batch_id,
            limit=limit,
            offset=offset,
            status=status,
            max_bytes=settings.max_page_bytes,
            next_url=next_url,
        )
    if page is None:
        raise ownership.missing_batch(project_id, batch_id)
    return Response(page, media_type=MediaType.JSON)  # type: ignore[arg-type]  # RowPage's JSON


@get(
    ROWS_PATH + "/{row_id:str}",
    tags=["rows"],
    responses=documented(*AUTHENTICATED, 404),
    response_headers=[
        ResponseHeader(
            name="ETag",
            documentation_only=True,
            description='The row\'s version as a strong tag (`"3"`): send it in If-Match.',
        )
    ],
)
async def get_row(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    row_id: FromPath[UUID],
    original: Annotated[
        bool,
        QueryParameter(
            description="`data` as uploaded, before any edit (status and messages: now)"
        ),
    ] = False,
) -> Response[RowOut]:
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    row = await rows.get(state.pool, batch.id, row_id)
    if row is None:
        raise NotFound(f"row {row_id} not found in batch {batch_id}")
    out = to_wire(row, RowOut)
    if original:
        uploaded = await events.original_data(state.pool, row.id)
        out = msgspec.structs.replace(out, data=uploaded or out.data)
    return Response(out, headers={"ETag": f'"{row.version}"'})


HANDLERS: list[Any] = [list_rows, get_row]
