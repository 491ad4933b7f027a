"""Preview over HTTP: `POST /projects/{projectId}/batches/preview`, the upload's multipart form
in, the proposed matching and the first rows out, nothing written (`service.preview`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import FromPath

from service import preview
from service.api import admission, forms
from service.api.admission import Admission
from service.api.auth import Claims
from service.api.batches import UploadBody
from service.api.deadlines import BodyArrival
from service.api.forms import FieldLimit
from service.api.problems import AUTHENTICATED, documented
from service.api.wire import Wire, to_wire
from service.entities import ColumnMetadata, RowStatus, User, ValidationMessage
from service.ingest.matching import parse_mapping
from service.settings import Settings

AuthRequest = Request[User, Claims, State]


class PreviewRowOut(Wire, frozen=True):
    data: dict[str, Any]
    status: RowStatus
    validation_messages: list[ValidationMessage]
    source_file_name: str
    source_sheet_name: str
    source_row_index: int


class AlternativeOut(Wire, frozen=True):
    field: str
    matched_by: str
    confidence: float


class ColumnMatchOut(Wire, frozen=True):
    source: str
    """The column's original header."""
    key: str
    """Its normalized key."""
    target_field: str | None
    matched_by: str | None
    confidence: float | None
    alternatives: list[AlternativeOut]


class PreviewOut(Wire, frozen=True):
    schema_version: int | None
    columns: list[ColumnMetadata]
    matches: list[ColumnMatchOut] | None
    rows: list[PreviewRowOut]


EXAMPLE = {
    "schemaVersion": 3,
    "columns": [
        {
            "normalizedKey": "cpf_cnpj",
            "originalHeader": "CPF/CNPJ",
            "inferredType": "string",
            "position": 0,
            "targetField": "cpf",
            "matchedBy": "alias",
            "confidence": 1.0,
        },
        {
            "normalizedKey": "dt_venc",
            "originalHeader": "Dt. Venc.",
            "inferredType": "date",
            "position": 1,
            "targetField": None,
            "matchedBy": None,
            "confidence": None,
        },
    ],
    "matches": [
        {
            "source": "CPF/CNPJ",
            "key": "cpf_cnpj",
            "targetField": "cpf",
            "matchedBy": "alias",
            "confidence": 1.0,
            "alternatives": [],
        },
        {
            "source": "Dt. Venc.",
            "key": "dt_venc",
            "targetField": None,
            "matchedBy": None,
            "confidence": None,
            "alternatives": [
                {"field": "data_vencimento", "matchedBy": "fuzzy", "confidence": 0.72}
            ],
        },
    ],
    "rows": [
        {
            "data": {"cpf": "123.456.789-00", "dt_venc": "2024-03-15"},
            "status": "valid",
            "validationMessages": [],
            "sourceFileName": "boletos.csv",
            "sourceSheetName": "boletos",
            "sourceRowIndex": 2,
        }
    ],
}


async def preview_batch(
    request: AuthRequest, state: State, project_id: FromPath[UUID], data: UploadBody
) -> PreviewOut:
    """What uploading these files would store, and nothing stored: the proposed matching of
    columns to the schema's fields with the alternatives considered, the columns, and the
    first 20 rows with their messages. Messages that need a whole column (unique values,
    without a schema the inferred types and empty values) are not shown."""
    async with forms.file_parts(data.files) as parts:
        found = await preview.preview(
            admission.connection(request),
            state.uploads.settings,
            request.user.id,
            project_id,
            parts,
            data.mode,
            data.sheet or None,
            parse_mapping(data.mapping) if data.mapping else None,
        )
    return to_wire(found, PreviewOut)


def preview_handler(settings: Settings) -> HTTPRouteHandler:
    """The preview route, with the upload's body limit, slots, form-field limit and body
    deadline (it spools and parses as an upload does)."""
    return post(
        "/projects/{project_id:str}/batches/preview",
        status_code=200,
        tags=["batches"],
        responses={
            200: ResponseSpec(
                data_container=PreviewOut,
                description="The proposed matching and the first rows; nothing stored",
                examples=[Example(summary="a CSV matched to a schema", value=EXAMPLE)],
            ),
            **documented(*AUTHENTICATED, 404, 408, 413, 415, 422, 429),
        },
        request_max_body_size=settings.max_files * settings.max_file_bytes + (1 << 20),
        middleware=[
            Admission,
            DefineMiddleware(FieldLimit, max_field_bytes=settings.max_field_bytes),
            DefineMiddleware(BodyArrival, timeout_seconds=settings.upload_body_timeout_seconds),
        ],
    )(preview_batch)
