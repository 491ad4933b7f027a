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

from service import ownership
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import DEFAULT_LIMIT, PageLimit, PageOffset, Wire, to_wire
from service.entities import RowStatus, User, ValidationMessage
from service.errors import NotFound
from service.settings import Settings
from service.store import events, rows

AuthRequest = Request[User, Claims, State]
ROWS_PATH = "/projects/{project_id:str}/batches/{batch_id:str}/rows"


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


@get(ROWS_PATH, tags=["rows"], responses=documented(*AUTHENTICATED, 404))
async def list_rows(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    status: Annotated[
        RowStatus | None, QueryParameter(description="only rows of this status")
    ] = None,
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> Response[RowPage]:
    """Rows in source order: files as uploaded, sheets in workbook order, rows top to bottom.
    A page holds up to `limit` rows and stops sooner when its rows would pass
    `SHEETFLOW_MAX_PAGE_BYTES` of JSON (one row always comes); follow `next` for the rest."""
    # The body is built by PostgreSQL in the shape of RowPage (tests/api/test_batches.py holds
    # it to the shape of a single row), in one query that also checks ownership.
    settings: Settings = state.settings
    query = urlencode({"status": status, "limit": limit} if status else {"limit": limit})
    page = await rows.page_json(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        limit=limit,
        offset=offset,
        status=status,
        max_bytes=settings.max_page_bytes,
        next_url=f"/projects/{project_id}/batches/{batch_id}/rows?{query}&offset=",
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
