"""Corrections over HTTP: the issues report, edited by its sender, sent back as a multipart
form (part `file`) and applied to the same rows as audited edits (`service/corrections.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from litestar import Request, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.params import BodyKwarg, FromPath

from service import corrections, ownership
from service.api import admission
from service.api.admission import Admission
from service.api.auth import Claims
from service.api.deadlines import BodyArrival
from service.api.forms import FieldLimit
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import Wire
from service.entities import StatusCounts, User
from service.errors import InvalidInput
from service.settings import Settings

AuthRequest = Request[User, Claims, State]


@dataclass
class CorrectionsForm:
    """The corrected issues report: one part, `file`."""

    file: UploadFile


CorrectionsBody = Annotated[
    CorrectionsForm,
    BodyKwarg(
        media_type=RequestEncodingType.MULTI_PART,
        description=(
            "`file`: the XLSX of GET …/export?format=xlsx&report=issues, with cells changed in "
            "a spreadsheet program; its header row and its hidden Row id column unchanged"
        ),
    ),
]


class CorrectionsOut(Wire, frozen=True):
    rows_changed: int
    cells_changed: int
    before: StatusCounts
    """The batch's status counts before the corrections."""
    after: StatusCounts


async def apply_corrections(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    data: CorrectionsBody,
) -> CorrectionsOut:
    """Apply the changed cells of a corrected issues report to the same rows, as audited
    edits re-validated at once; the same file sent back unchanged changes nothing. A file
    that is not that report (another header, a row id missing, repeated or of another
    batch) is a 422 naming the row or column, and nothing is applied; a batch no longer
    pending review is a 409. The file is read by the sandboxed parsing worker with the
    upload's limits and pre-checks, and refused as an upload would be (413 past
    `SHEETFLOW_MAX_FILE_BYTES`, 422 for a zip bomb or a cell past the column limit)."""
    settings: Settings = state.settings
    try:
        if not isinstance(data.file, UploadFile):
            raise InvalidInput("file: send the corrected report as a file part named `file`")
        conn = admission.connection(request)  # holds the slots of an upload
        batch = await ownership.batch(conn, request.user.id, project_id, batch_id)
        outcome = await corrections.apply(
            conn,
            batch,
            request.user.id,
            data.file,
            settings=settings,
        )
    finally:
        if isinstance(data.file, UploadFile):
            await data.file.close()
    return CorrectionsOut(
        rows_changed=outcome.rows_changed,
        cells_changed=outcome.cells_changed,
        before=outcome.before,
        after=outcome.after,
    )


def corrections_handler(settings: Settings) -> HTTPRouteHandler:
    """The route, with a body limit of one file of `SHEETFLOW_MAX_FILE_BYTES`, and the
    upload's slots, form-field limit and body deadline: it spools and parses a file in a
    worker as an upload does, so it counts among the uploads running at once."""
    return post(
        "/projects/{project_id:str}/batches/{batch_id:str}/corrections",
        status_code=200,
        tags=["export"],
        responses=documented(*AUTHENTICATED, 404, 408, 409, 413, 422, 429),
        request_max_body_size=settings.max_file_bytes + (1 << 20),
        middleware=[
            Admission,
            DefineMiddleware(FieldLimit, max_field_bytes=settings.max_field_bytes),
            DefineMiddleware(BodyArrival, timeout_seconds=settings.upload_body_timeout_seconds),
        ],
    )(apply_corrections)
