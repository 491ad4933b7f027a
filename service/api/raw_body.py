"""The raw-body upload: `POST /projects/{projectId}/batches?mode=…[&sheet=…]` with one file as
the request body and its name in `Content-Disposition`, for clients that want no multipart.

Litestar gives a path and method one handler, and its form extractor reads the whole body
before that handler runs, whatever the Content-Type. So the upload route's `before_request`
hook (`batches.upload_raw_body`) asks `read` first: a multipart/form-data request gets None and
goes on to the form handler untouched; any other request is read here into an `Upload`, whose
`part` streams the body to `Uploads.create` as a form's file part would (spooled in chunks,
refused past `max_file_bytes`, hashed for the Idempotency-Key), so both answer alike.

The file name: `filename*=UTF-8''<percent-encoded>` (RFC 8187) is preferred to `filename=`,
as RFC 6266 says; a plain `filename` sent as UTF-8 bytes is kept as UTF-8 (headers arrive
decoded as Latin-1).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes
from uuid import UUID

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from service.api.deadlines import body_cut_short
from service.entities import BatchMode
from service.errors import InvalidInput, LimitExceeded
from service.idempotency import KEY_HEADER
from service.ingest.matching import ColumnMapping, parse_mapping
from service.settings import Settings

DISPOSITION_EXAMPLE = "Content-Disposition: attachment; filename*=UTF-8''clientes.csv"
_PARAMETER = re.compile(
    r"""\s*;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s"]*)\s*"""
)
_EXTENDED = re.compile(r"(?i)utf-8'[^']*'(.*)")


@dataclass(frozen=True)
class Upload:
    """A raw-body upload's request, read from its path, query and headers."""

    project_id: UUID
    mode: BatchMode
    sheet: str | None
    key: str | None
    part: BodyPart
    mapping: ColumnMapping | None = None


class BodyPart:
    """The request body as one uploaded file (`service.uploads.Part`)."""

    def __init__(self, request: Request[Any, Any, Any], filename: str) -> None:
        self._request = request
        self._stream = request.stream()
        self._buffer = bytearray()
        self._received = 0
        self._ended = False
        self._filename = filename

    @property
    def filename(self) -> str:
        return self._filename

    async def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            chunk = await anext(self._stream, None)
            if chunk is None:
                self._ended = True
                self._check_whole()
            else:
                self._received += len(chunk)
                self._buffer += chunk
        taken = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        chunk = bytes(self._buffer[:taken])
        del self._buffer[:taken]
        return chunk

    def _check_whole(self) -> None:
        """A body that ended early must not be taken for a shorter file."""
        announced = self._request.content_length
        if body_cut_short(self._request.scope) or (
            announced is not None and announced != self._received
        ):
            raise InvalidInput(
                f"{self._filename}: the request body ended before the whole file arrived "
                f"({self._received:,} bytes received); nothing was stored"
            )


RAW_BODY = "application/octet-stream"


@dataclass
class RawBodyOperation(Operation):
    """The upload's OpenAPI operation: the form Litestar documents, plus the raw body (any
    other Content-Type; `application/octet-stream` stands for them) and what goes with it."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.content[RAW_BODY] = OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.STRING,
                    format="binary",  # type: ignore[arg-type]
                    description=(
                        "The raw-body upload: one file as the body (any Content-Type but "
                        "multipart/form-data), `mode` and `sheet` in the query, its name in "
                        "Content-Disposition."
                    ),
                )
            )
        self.parameters = [
            *(self.parameters or []),
            Parameter(
                name="mode",
                param_in="query",
                required=False,
                schema=Schema(type=OpenAPIType.STRING, enum=["list_mode", "profile_mode"]),
                description="Raw-body upload only (required there): as the form's `mode`.",
            ),
            Parameter(
                name="sheet",
                param_in="query",
                required=False,
                schema=Schema(type=OpenAPIType.STRING),
                description="Raw-body upload only: read only this sheet.",
            ),
            Parameter(
                name="mapping",
                param_in="query",
                required=False,
                schema=Schema(type=OpenAPIType.STRING),
                description=(
                    "Raw-body upload only: as the form's `mapping` (a JSON object, "
                    "percent-encoded)."
                ),
            ),
            Parameter(
                name="Content-Disposition",
                param_in="header",
                required=False,
                schema=Schema(type=OpenAPIType.STRING),
                description=(
                    "Raw-body upload only (required there): "
                    "`attachment; filename*=UTF-8''<percent-encoded name>` or "
                    '`attachment; filename="<name>"`; the name is the rows\' sourceFileName.'
                ),
            ),
        ]


def read(request: Request[Any, Any, Any], settings: Settings) -> Upload | None:
    """The raw-body upload that `request` makes, or None when it is a multipart form."""
    media_type, _ = request.content_type
    if media_type == "multipart/form-data":
        return None
    try:
        project_id = UUID(request.path_params["project_id"])
    except ValueError:
        raise _invalid("projectId", "must be a UUID") from None
    query = request.query_params
    try:
        mode = msgspec.convert(query.get("mode"), BatchMode)
    except msgspec.ValidationError:
        raise _invalid(
            "mode",
            "the query parameter `mode` is required with a raw body: list_mode or profile_mode",
        ) from None
    disposition = request.headers.get("content-disposition")
    sheet = query.get("sheet") or None
    mapping = query.get("mapping") or None
    # As `wire.Text` refuses them everywhere else: PostgreSQL cannot store a NUL.
    for field, text in (
        ("Content-Disposition", disposition),
        ("sheet", sheet),
        ("mapping", mapping),
    ):
        if text is not None and "\x00" in text:
            raise _invalid(field, "must not contain NUL characters")
    name = file_name(disposition)
    announced = request.content_length
    if announced is not None and announced > settings.max_file_bytes:
        raise LimitExceeded(
            f"{name} is larger than {settings.max_file_bytes:,} bytes",
            limit="max_file_bytes",
            value=settings.max_file_bytes,
            file=name,
        )
    return Upload(
        project_id=project_id,
        mode=mode,
        sheet=sheet,
        key=request.headers.get(KEY_HEADER),
        part=BodyPart(request, name),
        mapping=None if mapping is None else parse_mapping(mapping),
    )


def file_name(header: str | None) -> str:
    """The file name a `Content-Disposition: attachment` header gives, or InvalidInput."""
    if header is None:
        raise InvalidInput(
            "a raw-body upload names its file in a Content-Disposition header "
            f"({DISPOSITION_EXAMPLE})"
        )
    kind, semicolon, rest = header.partition(";")
    if kind.strip().lower() != "attachment":
        raise _bad_disposition(header, "its type must be `attachment`")
    parameters: dict[str, str] = {}
    rest = semicolon + rest
    position = 0
    while position < len(rest.rstrip()):
        match = _PARAMETER.match(rest, position)
        if match is None:
            raise _bad_disposition(header, "its parameters cannot be read")
        parameters[match[1].lower()] = match[2]
        position = match.end()
    if "filename*" in parameters:
        extended = _EXTENDED.fullmatch(parameters["filename*"])
        if extended is None:
            raise _bad_disposition(header, "`filename*` must be UTF-8''<percent-encoded name>")
        try:
            name = unquote_to_bytes(extended[1]).decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_disposition(header, "`filename*` is not valid UTF-8") from None
    elif "filename" in parameters:
        name = parameters["filename"]
        if name.startswith('"'):
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        with contextlib.suppress(UnicodeError):  # else Latin-1 it was
            name = name.encode("latin-1").decode("utf-8")
    else:
        raise _bad_disposition(header, "it has no `filename*` or `filename`")
    if not name.strip():
        raise _bad_disposition(header, "the file name is empty")
    return name


def _bad_disposition(header: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"Content-Disposition {header!r} does not name the file: {why} ({DISPOSITION_EXAMPLE})"
    )


def _invalid(field: str, message: str) -> ValidationException:
    """A 400 like the one Litestar answers for a bad form field or parameter."""
    return ValidationException(
        f"Validation failed for POST /projects/{{projectId}}/batches: {field} {message}",
        extra=[{"key": field, "message": message}],
    )
