"""Batches over HTTP: upload, list, read, review and soft-delete the batches of your projects."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal
from uuid import UUID

from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi.spec import Example
from litestar.params import BodyKwarg, FromPath, JSONBody

from service import idempotency, ingestion, ownership
from service.api.auth import Claims
from service.api.deadlines import BodyArrival
from service.api.idempotency_key import REPLAYED_RESPONSE_HEADERS, IdempotencyKey, created
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import DEFAULT_LIMIT, PageLimit, PageOffset, Wire, to_wire
from service.entities import (
    BatchMode,
    BatchStatus,
    ColumnMetadata,
    StatusCounts,
    User,
)
from service.errors import InvalidInput, InvalidTransition, LimitExceeded
from service.idempotency import Fingerprint
from service.ingest import Source
from service.settings import Settings
from service.store import batches

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
    responses=documented(*AUTHENTICATED, 404, 409),
)
async def review_batch(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: JSONBody[BatchReview],
) -> BatchOut:
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    reviewed = await batches.review(state.pool, batch.id, BatchStatus(data.status))
    if reviewed is None:
        current = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
        raise InvalidTransition(
            f"batch {batch_id} is {current.status}, which is final: only a batch pending "
            "review can be completed or failed"
        )
    return to_wire(reviewed, BatchOut)


@delete(
    "/projects/{project_id:str}/batches/{batch_id:str}",
    status_code=204,
    tags=["batches"],
    responses=documented(*AUTHENTICATED, 404),
)
async def delete_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], batch_id: FromPath[UUID]
) -> None:
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    if not await batches.soft_delete(state.pool, batch.id, request.user.id):
        raise ownership.missing_batch(project_id, batch_id)


@dataclass
class UploadForm:
    """The multipart upload: one part per file (its filename is the `sourceFileName`)."""

    mode: BatchMode
    files: list[UploadFile]
    sheet: str | None = None


UPLOAD_CHUNK_BYTES = 1 << 20

UploadBody = Annotated[
    UploadForm,
    BodyKwarg(
        media_type=RequestEncodingType.MULTI_PART,
        description=(
            "`mode`: list_mode (exactly one file; every visible sheet, one row per data row) or "
            "profile_mode (one or more form-like files, one row each). `files`: one part per "
            "file, its filename kept as the rows' sourceFileName. `sheet`: read only this sheet."
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
    settings: Settings = state.settings
    user = request.user
    uploads = [part for part in data.files if isinstance(part, UploadFile)]
    try:
        if len(uploads) != len(data.files):
            # A part without a filename reaches us as text, whatever the declared type says.
            raise InvalidInput("every `files` part must be a file upload (a part with a filename)")
        for upload in uploads:
            if "\x00" in (upload.filename or ""):
                # It would be the rows' sourceFileName, and PostgreSQL cannot store a NUL.
                raise InvalidInput(
                    f"the file name {upload.filename!r} contains a NUL character; rename the file"
                )
        await ownership.project(state.pool, user.id, project_id)
        with (
            state.keys_in_flight.claim(
                user.id,
                idempotency_key,
                "create_batch",
                str(project_id),
                data.mode,
                data.sheet or None,
            ) as claim,
            tempfile.TemporaryDirectory(prefix="sheetflow-upload-") as scratch,
        ):
            sources = [
                await spool(
                    upload, Path(scratch) / f"{index:04d}", settings, claim and claim.fingerprint
                )
                for index, upload in enumerate(data.files)
            ]
            if claim is not None:
                await claim.check(state.pool)  # a replay needs no parsing
            batch = await ingestion.ingest(
                state.pool,
                project_id=project_id,
                user_id=user.id,
                sources=sources,
                mode=data.mode,
                sheet=data.sheet or None,
                settings=settings,
                on_created=claim and claim.on_batch_created,
                spare=state.spare_worker,
            )
    except idempotency.Replayed as replay:
        found = await batches.get_for_owner(state.pool, user.id, project_id, replay.resource_id)
        if found is None:
            raise replay.gone("batch") from None
        return created(
            to_wire(found, BatchOut), f"/projects/{project_id}/batches/{found.id}", replayed=True
        )
    finally:
        for upload in uploads:
            await upload.close()
    return created(
        to_wire(batch, BatchOut), f"/projects/{project_id}/batches/{batch.id}", replayed=False
    )


async def spool(
    upload: UploadFile, path: Path, settings: Settings, fingerprint: Fingerprint | None = None
) -> Source:
    """Copy one uploaded part to a file of our own, in chunks, refusing it past the limit
    (and feeding its name and bytes to the request's `fingerprint`, if any).

    The parser needs a path, and Litestar keeps small parts in memory; the part's filename
    is kept only as the source's name, never used as a path."""
    name = upload.filename or path.name
    content = fingerprint.file(name) if fingerprint else None
    written = 0
    with await asyncio.to_thread(path.open, "wb") as target:
        while chunk := await upload.read(UPLOAD_CHUNK_BYTES):
            written += len(chunk)
            if written > settings.max_file_bytes:
                raise LimitExceeded(
                    f"{name} is larger than {settings.max_file_bytes:,} bytes",
                    limit="max_file_bytes",
                    value=settings.max_file_bytes,
                    file=name,
                )
            await asyncio.to_thread(_keep, chunk, target, content)
    return Source(path=path, name=name)


def _keep(chunk: bytes, target: BinaryIO, content: hashlib._Hash | None) -> None:
    """Write a chunk of an uploaded part, and hash it for the fingerprint (one thread hop)."""
    target.write(chunk)
    if content is not None:
        content.update(chunk)


def upload_handler(settings: Settings) -> HTTPRouteHandler:
    """The upload route, with a body limit that fits the configured file limits (a larger
    Content-Length is refused before the body is read; a body that outgrows it is cut off),
    a deadline for receiving the body (408 past it), and no error logged when the client goes
    away before the end of its body (`deadlines.BodyArrival`)."""
    return post(
        "/projects/{project_id:str}/batches",
        status_code=201,
        tags=["batches"],
        responses=documented(*AUTHENTICATED, 404, 408, 409, 413, 415, 422),
        response_headers=REPLAYED_RESPONSE_HEADERS,
        request_max_body_size=settings.max_files * settings.max_file_bytes + (1 << 20),
        middleware=[
            DefineMiddleware(BodyArrival, timeout_seconds=settings.upload_body_timeout_seconds)
        ],
    )(upload_batch)


HANDLERS: list[Any] = [list_batches, get_batch, review_batch, delete_batch]
