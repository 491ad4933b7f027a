"""Row edits over HTTP: correct one row (PATCH, with its ETag), many rows at once by filter
(bulk-update), delete and restore rows, while the batch is pending review. Every change is
audited (GET …/history) and re-validated at once (service/review.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, patch, post
from litestar.datastructures import ResponseHeader, State
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, HeaderParameter

from service import review
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.rows import ROWS_PATH, RowOut
from service.api.wire import TEXT_PATTERN, Text, Wire, to_wire
from service.entities import Row, RowStatus, StatusCounts, User
from service.errors import InvalidInput
from service.settings import Settings
from service.store.edits import BulkFilter

AuthRequest = Request[User, Claims, State]
ROW_PATH = ROWS_PATH + "/{row_id:str}"
MAX_ROW_IDS = 10_000
"""How many `rowIds` one bulk update may name (a larger set: filter by content instead)."""

Cell = Text | int | float | bool | None
"""A cell's value: null, a boolean, a number or text (checked further by review.cell_value)."""

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        # Documented here, checked by review.parse_if_match (with a message naming it).
        schema_extra={"pattern": TEXT_PATTERN},
        description=(
            'The row\'s ETag as you read it (`"3"`): the change is made only if the row is '
            "still at that version, else 412. Strong comparison: a weak tag (`W/…`) never "
            "matches. Without it the change is made whatever the version."
        ),
    ),
]

ETAG_HEADER = [
    ResponseHeader(
        name="ETag",
        documentation_only=True,
        description='The row\'s version as a strong tag (`"3"`): send it back in If-Match.',
    )
]


def etag(row: Row) -> dict[str, str]:
    return {"ETag": f'"{row.version}"'}


DATA_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [
            {"type": "string", "pattern": TEXT_PATTERN},
            {"type": "integer"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}
"""The JSON schema of a patch's `data`: values that are cells, text without NUL (a key is
checked against the batch's keys, 422)."""


class RowPatch(Wire, frozen=True):
    data: dict[str, Cell]
    """Only these keys change; each must be one of the batch's keys."""


class BulkFilterIn(Wire, frozen=True):
    """Which live rows to change; every condition given must hold (none: every row)."""

    status: RowStatus | None = None
    field: Text | None = None
    """The key that `equals` and `contains` look at."""
    equals: Text | int | float | bool | msgspec.UnsetType | None = msgspec.UNSET
    """The key's value, compared as text (`12` matches the number 12 and the text "12");
    null matches an empty value."""
    contains: Annotated[Text, msgspec.Meta(min_length=1)] | None = None
    """Text found in the key's value (case-sensitive)."""
    row_ids: Annotated[list[UUID], msgspec.Meta(max_length=MAX_ROW_IDS)] | None = None


class ReplaceIn(Wire, frozen=True):
    field: Text
    find: Annotated[Text, msgspec.Meta(min_length=1)]
    replace: Text
    match: Literal["exact", "contains"] = "exact"
    """`exact`: values whose text is `find` become `replace`; `contains`: every `find` in
    the value's text becomes `replace` (the result trimmed, empty as null)."""


class BulkUpdateIn(Wire, frozen=True):
    """Exactly one of `set` and `replace`."""

    filter_: BulkFilterIn = msgspec.field(default_factory=BulkFilterIn, name="filter")
    set_: dict[Text, Cell] | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="set")
    replace: ReplaceIn | msgspec.UnsetType = msgspec.UNSET


class BulkUpdateOut(Wire, frozen=True):
    updated: int
    """Rows changed (rows that matched but already held the values are not counted)."""
    cells_changed: int
    status_counts: StatusCounts
    """The batch's counts after the update."""


@patch(
    ROW_PATH,
    tags=["rows"],
    responses=documented(*AUTHENTICATED, 404, 409, 412, 422),
    response_headers=ETAG_HEADER,
)
async def edit_row(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    row_id: FromPath[UUID],
    data: Annotated[
        RowPatch,
        Body(
            examples=[Example(summary="correct one cell", value={"data": {"uf": "SP"}})],
            # Unknown members are refused (400), and so is text with NUL: said in the
            # document too (Litestar would write `data` without the pattern of its text).
            schema_extra={"additionalProperties": False, "properties": {"data": DATA_SCHEMA}},
        ),
    ],
    if_match: IfMatch = None,
) -> Response[RowOut]:
    """Correct some values of a row: only the keys given change (a key not in the batch is
    422), only while the batch is pending review (else 409). The row is re-validated at
    once, by its column's type and, when the batch was validated with a project schema, by
    that schema version's rules, values converted to their field's type (its status and
    messages, and the batch's statusCounts, follow); the change goes to its history. With
    If-Match, a row changed since (another version) is 412."""
    settings: Settings = state.settings
    row = await review.edit_row(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        row_id,
        data.data,
        if_match=review.parse_if_match(if_match),
        max_chars=settings.max_cell_chars,
    )
    return Response(to_wire(row, RowOut), headers=etag(row))


@delete(ROW_PATH, status_code=204, tags=["rows"], responses=documented(*AUTHENTICATED, 404, 409))
async def delete_row(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    row_id: FromPath[UUID],
) -> None:
    """Soft-delete a row of a batch pending review (else 409): it leaves the lists and the
    batch's counts, and can be restored."""
    await review.delete_row(state.pool, request.user.id, project_id, batch_id, row_id)


@post(
    ROW_PATH + "/restore",
    status_code=200,
    tags=["rows"],
    responses=documented(*AUTHENTICATED, 404, 409),
    response_headers=ETAG_HEADER,
)
async def restore_row(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    row_id: FromPath[UUID],
) -> Response[RowOut]:
    """Bring back a soft-deleted row of a batch pending review (else 409), into the lists
    and counts; a live row is answered as it is."""
    row = await review.restore_row(state.pool, request.user.id, project_id, batch_id, row_id)
    return Response(to_wire(row, RowOut), headers=etag(row))


@post(
    ROWS_PATH + "/bulk-update",
    status_code=200,
    tags=["rows"],
    responses=documented(*AUTHENTICATED, 404, 409, 422),
)
async def bulk_update(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: Annotated[
        BulkUpdateIn,
        Body(
            examples=[
                Example(
                    summary="set a value where a key holds another",
                    value={"filter": {"field": "uf", "equals": "sao paulo"}, "set": {"uf": "SP"}},
                ),
                Example(
                    summary="replace text inside a key's values",
                    value={
                        "filter": {"status": "warning"},
                        "replace": {
                            "field": "cidade",
                            "find": "S. Paulo",
                            "replace": "São Paulo",
                            "match": "contains",
                        },
                    },
                ),
            ],
            # Unknown members are refused, and exactly one of set and replace is needed.
            schema_extra={
                "additionalProperties": False,
                "oneOf": [{"required": ["set"]}, {"required": ["replace"]}],
            },
        ),
    ],
) -> BulkUpdateOut:
    """Correct every live row that matches `filter` in one statement, while the batch is
    pending review (else 409): `set` gives keys new values, `replace` rewrites one key's
    text. The rows changed are re-validated (by the batch's schema version too, when it has
    one) and audited (one `row.bulk_edited` event each);
    answers how many changed and the batch's statusCounts after."""
    if (data.set_ is msgspec.UNSET) == (data.replace is msgspec.UNSET):
        raise InvalidInput("give exactly one of `set` and `replace`")
    where = data.filter_
    if where.field is None and (where.equals is not msgspec.UNSET or where.contains is not None):
        raise InvalidInput("`filter.equals` and `filter.contains` need `filter.field`")
    if data.set_ is not msgspec.UNSET and not data.set_:
        raise InvalidInput("`set` needs at least one key")
    settings: Settings = state.settings
    changed, batch = await review.bulk_update(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        BulkFilter(
            status=where.status,
            row_ids=where.row_ids,
            field=where.field,
            equals=where.equals,
            contains=where.contains,
        ),
        values=None if data.set_ is msgspec.UNSET else data.set_,
        replace=None
        if data.replace is msgspec.UNSET
        else review.Replace(
            field=data.replace.field,
            find=data.replace.find,
            replace=data.replace.replace,
            match=data.replace.match,
        ),
        max_chars=settings.max_cell_chars,
        seconds=settings.ingest_timeout_seconds,
    )
    return BulkUpdateOut(
        updated=changed.rows_changed,
        cells_changed=changed.cells_changed,
        status_counts=batch.status_counts,
    )


HANDLERS: list[Any] = [edit_row, delete_row, restore_row, bulk_update]
