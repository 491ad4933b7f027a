"""Batches over HTTP: upload, list, read, review and soft-delete the batches of your projects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi.spec import Example
from litestar.params import Body, BodyKwarg, FromPath

from service import batch_settings, deletion, ownership
from service.api import admission, forms, raw_body
from service.api.admission import Admission
from service.api.auth import Claims
from service.api.deadlines import BodyArrival, ClientPresence
from service.api.forms import FieldLimit
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
from service.entities import (
    BatchMode,
    BatchStatus,
    ColumnMetadata,
    StatusCounts,
    User,
)
from service.errors import InvalidInput
from service.ingest.matching import parse_mapping
from service.settings import Settings
from service.store import batches
from service.uploads import Uploads

AuthRequest = Request[User, Claims, State]


class DeliveryCountsOut(Wire, frozen=True):
    pending: int
    in_progress: int
    done: int
    error: int


class BatchOut(Wire, frozen=True):
    id: UUID
    project_id: UUID
    user_id: UUID
    name: str
    """A display name: the first file's name until the owner sets another."""
    mode: BatchMode
    status: BatchStatus
    file_count: int
    row_count: int
    column_metadata: list[ColumnMetadata]
    status_counts: StatusCounts
    identifier_field_key: str | None
    """The key whose value identifies a row to a person (null: none chosen)."""
    secondary_field_key: str | None
    delivery_counts: DeliveryCountsOut | None
    """How many rows are in each delivery state; only once the batch is completed."""
    schema_version: int | None
    """The project schema version the rows were last validated with; null without one."""
    review_note: str | None
    """Why the service set the status itself (an upload over the project's error budget)."""
    created_at: datetime
    updated_at: datetime


class BatchPage(Wire, frozen=True):
    items: list[BatchOut]
    total: int
    limit: int
    offset: int


class BatchPatch(Wire, frozen=True):
    """Any of: `status` (`completed` approves the batch, `failed` rejects it; both are
    final), `name`, `identifierFieldKey` and `secondaryFieldKey` (keys of the batch, or null).
    Members left out stay as they are; all change together or none does."""

    status: Literal["completed", "failed"] | msgspec.UnsetType = msgspec.UNSET
    name: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=VISIBLE_TEXT_PATTERN)]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    identifier_field_key: (
        Annotated[Text, msgspec.Meta(max_length=255)] | msgspec.UnsetType | None
    ) = msgspec.UNSET
    secondary_field_key: (
        Annotated[Text, msgspec.Meta(max_length=255)] | msgspec.UnsetType | None
    ) = msgspec.UNSET


class ColumnLabel(Wire, frozen=True):
    label: Annotated[Text, msgspec.Meta(max_length=255)] | None
    """The column's display label; null removes it."""


@get(
    "/projects/{project_id:str}/batches",
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404),
)
async def list_batches(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    limit: PageLimit = DEFAULT_LIMIT,
    offset: PageOffset = 0,
) -> BatchPage:
    await ownership.project(state.pool, request.user.id, project_id)
    items = await batches.find_by_project_id(state.pool, project_id, limit=limit, offset=offset)
    total = await batches.count_for_project(state.pool, project_id)
    return BatchPage(
        items=[to_wire(b, BatchOut) for b in items], total=total, limit=limit, offset=offset
    )


@get(
    "/projects/{project_id:str}/batches/{batch_id:str}",
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404),
)
async def get_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> BatchOut:
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    return to_wire(batch, BatchOut)


@patch(
    "/projects/{project_id:str}/batches/{batch_id:str}",
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404, 409, 422),
)
async def patch_batch(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: Annotated[
        BatchPatch,
        Body(
            examples=[
                Example(summary="approve", value={"status": "completed"}),
                Example(
                    summary="settings",
                    value={
                        "name": "Clientes de março",
                        "identifierFieldKey": "cpf",
                        "secondaryFieldKey": None,
                    },
                ),
            ]
        ),
    ],
) -> BatchOut:
    """Review the batch (409 unless it is pending review) and change its settings (422 for a
    key that is not the batch's); a body that names nothing to change is a 400."""
    if data == BatchPatch():
        raise InvalidInput(
            "the body names nothing to change: give status, name, identifierFieldKey or "
            "secondaryFieldKey"
        )
    changed = await batch_settings.change(
        state.pool,
        request.user.id,
        project_id,
        batch_id,
        settings=batches.Settings(
            name=data.name,
            identifier_field_key=data.identifier_field_key,
            secondary_field_key=data.secondary_field_key,
        ),
        status=None if data.status is msgspec.UNSET else BatchStatus(data.status),
    )
    return to_wire(changed, BatchOut)


@patch(
    "/projects/{project_id:str}/batches/{batch_id:str}/columns",
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404, 422),
)
async def label_columns(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: Annotated[
        dict[str, ColumnLabel],
        Body(
            description="column key → its new label (null removes it); keys never change",
            examples=[
                Example(
                    summary="two labels", value={"cpf": {"label": "CPF"}, "uf": {"label": None}}
                )
            ],
        ),
    ],
) -> BatchOut:
    """Label columns for display; an unknown key is a 422 naming it, and changes nothing."""
    labels = {key: column.label for key, column in data.items()}
    labelled = await batch_settings.label_columns(
        state.pool, request.user.id, project_id, batch_id, labels
    )
    return to_wire(labelled, BatchOut)


@delete(
    "/projects/{project_id:str}/batches/{batch_id:str}",
    status_code=204,
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404),
)
async def delete_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> None:
    await deletion.delete_batch(state.pool, request.user.id, project_id, batch_id)


@post(
    "/projects/{project_id:str}/batches/{batch_id:str}/restore",
    status_code=200,
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def restore_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> BatchOut:
    """Bring back a soft-deleted batch of a live project, with its rows as they were (rows
    deleted one by one stay deleted); 409 when the batch is not deleted."""
    restored = await deletion.restore_batch(state.pool, request.user.id, project_id, batch_id)
    return to_wire(restored, BatchOut)


@dataclass
class UploadForm:
    """The multipart upload: one part per file (its filename is the `sourceFileName`)."""

    mode: BatchMode
    files: list[UploadFile]
    sheet: Text | None = None
    mapping: Text | None = None


UploadBody = Annotated[
    UploadForm,
    BodyKwarg(
        media_type=RequestEncodingType.MULTI_PART,
        description=(
            "`mode`: list_mode (exactly one file; every visible sheet, one row per data row) or "
            "profile_mode (one or more form-like files, one row each). `files`: one part per "
            "file, its filename kept as the rows' sourceFileName. `sheet`: read only this sheet. "
            "`mapping` (a project with a schema, list mode): a JSON object of source header or "
            "key to field key, or null to keep a column under its own key; it overrides the "
            "matching (a field the schema lacks, or two columns on one field: 422)."
        ),
        examples=[
            Example(
                summary="one CSV as a list",
                value={"mode": "list_mode", "files": ["clientes.csv"]},
            ),
            Example(
                summary="one sheet of a workbook",
                value={"mode": "list_mode", "files": ["vendas.xlsx"], "sheet": "2026"},
            ),
            Example(
                summary="columns sent to the schema's fields by hand",
                value={
                    "mode": "list_mode",
                    "files": ["clientes.csv"],
                    "mapping": '{"CPF/CNPJ": "cpf", "Obs": null}',
                },
            ),
            Example(
                summary="three filled-in forms",
                value={"mode": "profile_mode", "files": ["a.xlsx", "b.xlsx", "c.ods"]},
            ),
        ],
    ),
]


async def upload_batch(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    data: UploadBody,
    idempotency_key: IdempotencyKey = None,
) -> Response[BatchOut]:
    """Upload spreadsheets as one new batch, pending review. Answers 201 with the batch, or
    stores nothing and answers with a problem naming the file (and sheet, row, limit). With an
    Idempotency-Key, 409 while a request with that key is still running, and 422 when that key
    was used for a different request."""
    uploads: Uploads = state.uploads
    async with forms.file_parts(data.files) as parts:
        batch, replayed = await uploads.create(
            request.user.id,
            project_id,
            parts,
            data.mode,
            data.sheet or None,
            idempotency_key,
            conn=admission.connection(request),  # holds the upload's slots
            mapping=parse_mapping(data.mapping) if data.mapping else None,
        )
    location = f"/projects/{project_id}/batches/{batch.id}"
    return created(to_wire(batch, BatchOut), location, replayed=replayed)


async def upload_raw_body(request: AuthRequest) -> Response[BatchOut] | None:
    """The upload route's `before_request`: a body that is not a multipart form is one file,
    named by its Content-Disposition, with `mode` and `sheet` in the query (`raw_body`)."""
    uploads: Uploads = request.app.state.uploads
    upload = raw_body.read(request, uploads.settings)
    if upload is None:
        return None  # the form, for `upload_batch`
    batch, replayed = await uploads.create(
        request.user.id,
        upload.project_id,
        [upload.part],
        upload.mode,
        upload.sheet,
        upload.key,
        conn=admission.connection(request),  # holds the upload's slots
        mapping=upload.mapping,
    )
    location = f"/projects/{upload.project_id}/batches/{batch.id}"
    return created(to_wire(batch, BatchOut), location, replayed=replayed)


def upload_handler(settings: Settings) -> HTTPRouteHandler:
    """The upload route, with a body limit that fits the configured file limits (a larger
    Content-Length is refused before the body is read; a body that outgrows it is cut off),
    a deadline for receiving the body (408 past it), and no error logged when the client goes
    away before the end of its body (`deadlines.BodyArrival`), nor anything stored when it goes
    away after (`deadlines.ClientPresence`); a form field that is not a file
    is refused (413) as soon as it outgrows its limit (`forms.FieldLimit`)."""
    return post(
        "/projects/{project_id:str}/batches",
        status_code=201,
        tags=["batches"],
        responses=documented(*AUTHENTICATED, 404, 408, 409, 413, 415, 422, 429),
        response_headers=REPLAYED_RESPONSE_HEADERS,
        before_request=upload_raw_body,
        operation_class=raw_body.RawBodyOperation,
        request_max_body_size=settings.max_files * settings.max_file_bytes + (1 << 20),
        middleware=[
            Admission,
            ClientPresence,
            DefineMiddleware(FieldLimit, max_field_bytes=settings.max_field_bytes),
            DefineMiddleware(BodyArrival, timeout_seconds=settings.upload_body_timeout_seconds),
        ],
    )(upload_batch)


HANDLERS: list[Any] = [
    list_batches,
    get_batch,
    patch_batch,
    label_columns,
    delete_batch,
    restore_batch,
]
