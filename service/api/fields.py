"""Fields over HTTP: what each key of a batch holds, and its most frequent values."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath, PathParameter, QueryParameter

from service import fields, ownership
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import DEFAULT_LIMIT, TEXT_PATTERN, PageLimit, PageOffset, Wire
from service.entities import InferredType, User, ValueCount
from service.errors import NotFound
from service.store import fields as field_store

AuthRequest = Request[User, Claims, State]
FIELDS_PATH = "/projects/{project_id:str}/batches/{batch_id:str}/fields"


class FieldOut(Wire, frozen=True, omit_defaults=True):
    normalized_key: str
    original_header: str
    inferred_type: InferredType
    position: int
    present_count: int
    empty_count: int
    distinct_count: int
    sheet_names: list[str] | None = None


class FieldList(Wire, frozen=True):
    total_rows: int
    items: list[FieldOut]


class ValuePageOut(Wire, frozen=True):
    items: list[ValueCount]
    total: int
    limit: int
    offset: int


@get(FIELDS_PATH, tags=["fields"], responses=documented(*AUTHENTICATED, 404))
async def list_fields(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> FieldList:
    """One item per key in column order: its metadata and how it is filled over live rows."""
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    stats = await fields.stats(state.pool, batch.id, state.settings)
    items = []
    for column in batch.column_metadata:
        found = stats.get(column.normalized_key)
        items.append(
            FieldOut(
                normalized_key=column.normalized_key,
                original_header=column.original_header,
                inferred_type=column.inferred_type,
                position=column.position,
                sheet_names=column.sheet_names,
                present_count=found.present_count if found else 0,
                empty_count=found.empty_count if found else 0,
                distinct_count=found.distinct_count if found else 0,
            )
        )
    return FieldList(total_rows=batch.row_count, items=items)


@get(
    FIELDS_PATH + "/{key:str}/values",
    tags=["fields"],
    responses=documented(*AUTHENTICATED, 404),
)
async def list_field_values(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    key: Annotated[str, PathParameter(pattern=TEXT_PATTERN)],
    search: Annotated[
        str | None,
        QueryParameter(
            pattern=TEXT_PATTERN,
            description="keep values containing this, ignoring case and accents",
        ),
    ] = None,
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> ValuePageOut:
    """The key's distinct non-empty values, most frequent first."""
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    if key not in {column.normalized_key for column in batch.column_metadata}:
        raise NotFound(f"batch {batch_id} has no field {key!r}")
    page = await field_store.values(
        state.pool, batch.id, key, search=search or None, limit=limit, offset=offset
    )
    return ValuePageOut(items=page.items, total=page.total, limit=limit, offset=offset)


HANDLERS: list[Any] = [list_fields, list_field_values]
