"""Exports over HTTP: a batch's rows, or a project's completed batches, as one CSV, XLSX or
NDJSON download, streamed as it is produced (`service/export.py` says how)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from service import export, ownership, row_filter
from service.api.auth import Claims
from service.api.problems import AUTHENTICATED, documented
from service.api.rows import DeliveryQuery, SearchQuery, StatusQuery
from service.api.wire import TEXT_PATTERN
from service.entities import Batch, ColumnMetadata, DeliveryStatus, RowStatus, User
from service.settings import Settings
from service.store import export as store

AuthRequest = Request[User, Claims, State]
BATCH_PATH = "/projects/{project_id:str}/batches/{batch_id:str}/export"
PROJECT_PATH = "/projects/{project_id:str}/export"

FormatParameter = Annotated[
    export.Format, QueryParameter(description="the file's format: csv, xlsx or ndjson")
]
ColumnsParameter = Annotated[
    str | None,
    QueryParameter(
        pattern=TEXT_PATTERN,
        description="comma-separated keys: only these columns, in this order (default: all)",
    ),
]
HeaderParameter = Annotated[
    export.Header,
    QueryParameter(
        description="CSV/XLSX header row: the original header text, the normalized key, or "
        "a label (the original header, made non-empty and unique)"
    ),
]
ProvenanceParameter = Annotated[
    bool,
    QueryParameter(description="add each row's source file, sheet and row number"),
]
BomParameter = Annotated[bool, QueryParameter(description="CSV: start with a UTF-8 BOM (Excel)")]
DelimiterParameter = Annotated[
    export.Delimiter,
    QueryParameter(description="CSV: the separator, one of , ; TAB | (default ,)"),
]
RawParameter = Annotated[
    bool,
    QueryParameter(
        description="CSV: leave text that starts with = + - @ TAB or CR as it is, instead of "
        "prefixing an apostrophe. WARNING: such a file can run formulas when opened in a "
        "spreadsheet program; use it only for programs that read the data"
    ),
]
ReportParameter = Annotated[
    export.Report | None,
    QueryParameter(
        description="issues: the rows with errors or warnings, as an XLSX file to correct and "
        "send back to …/corrections (a hidden row-id column first, a Messages column last)"
    ),
]


class ClosingStreamingResponse(ASGIStreamingResponse):
    """Litestar's streaming response, which also closes its iterator however the body
    ends. Litestar leaves an async generator suspended at its `yield` when sending fails or
    is cancelled while waiting on a slow or departed client; the export's generator holds a
    pooled connection in an open transaction, which must go back now, not when the
    generator is collected."""

    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        try:
            await super().send_body(send, receive)
        finally:
            closing = getattr(self.iterator, "aclose", None)
            if closing is not None:
                await closing()


class ExportStream(Stream):
    """A `Stream` whose ASGI response closes its iterator (`ClosingStreamingResponse`)."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(*args, **kwargs)
        # Same slots, one method more: the response Litestar built, with the closing body.
        response.__class__ = ClosingStreamingResponse
        return response


def _ok(description: str) -> dict[int, ResponseSpec]:
    return {
        200: ResponseSpec(
            data_container=bytes,
            description=description,
            media_type="application/octet-stream",
            examples=None,
        )
    }


def _stream(
    state: State,
    batches: list[Batch],
    options: export.Options,
    name: str,
    *,
    with_batch: bool,
) -> ExportStream:
    settings: Settings = state.settings
    columns = export.plan(batches, options, with_batch=with_batch)
    if options.format is export.Format.XLSX:
        export.xlsx_row_count(batches, options)
    content = export.stream(
        state.pool,
        batches,
        columns,
        options,
        with_batch=with_batch,
        timeout_seconds=settings.export_timeout_seconds,
    )
    return ExportStream(
        content,
        media_type=export.MEDIA_TYPES[options.format],
        headers={
            "Content-Disposition": export.content_disposition(name),
            "Cache-Control": "no-store",
        },
    )


def _options(
    format: export.Format,
    columns: str | None,
    header: export.Header,
    provenance: bool,
    bom: bool,
    delimiter: export.Delimiter,
    raw: bool,
    report: export.Report | None = None,
) -> export.Options:
    return export.check(
        export.Options(
            format=format,
            columns=export.parse_columns(columns),
            header=header,
            provenance=provenance,
            bom=bom,
            delimiter=delimiter.value,
            raw=raw,
            report=report,
        )
    )


def _filtered(
    request: AuthRequest,
    options: export.Options,
    batches: list[Batch],
    status: RowStatus | None,
    delivery: DeliveryStatus | None,
    q: str | None,
) -> export.Options:
    """The options with the rows-list filter of this request (`where.<key>` takes the keys
    of every batch exported)."""
    columns: dict[str, ColumnMetadata] = {}
    for batch in batches:
        for column in batch.column_metadata:
            columns.setdefault(column.normalized_key, column)
    wanted = row_filter.parse(
        list(columns.values()),
        status=status,
        delivery=delivery,
        q=q,
        query=list(request.query_params.multi_items()),
    )
    return msgspec.structs.replace(options, rows=wanted)


@get(
    BATCH_PATH,
    tags=["export"],
    responses={
        **_ok("the file: CSV (text/csv), XLSX or NDJSON (application/x-ndjson), streamed"),
        **documented(*AUTHENTICATED, 404, 422),
    },
)
async def export_batch(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    batch_id: FromPath[UUID],
    format: FormatParameter = export.Format.CSV,
    columns: ColumnsParameter = None,
    header: HeaderParameter = export.Header.ORIGINAL,
    provenance: ProvenanceParameter = False,
    status: StatusQuery = None,
    delivery: DeliveryQuery = None,
    q: SearchQuery = None,
    bom: BomParameter = False,
    delimiter: DelimiterParameter = export.Delimiter.COMMA,
    raw: RawParameter = False,
    report: ReportParameter = None,
) -> ExportStream:
    """The batch's rows in source order as one file, named after the batch.
    CSV text that a spreadsheet would run as a formula gets a leading apostrophe (see
    `raw`); XLSX cells are typed and text is never a formula; NDJSON lines are each row's
    data exactly as stored (with `provenance`, `{"data", "sourceFileName",
    "sourceSheetName", "sourceRowIndex"}`)."""
    batch = await ownership.batch(state.pool, request.user.id, project_id, batch_id)
    options = _options(format, columns, header, provenance, bom, delimiter, raw, report)
    options = _filtered(request, options, [batch], status, delivery, q)
    name = export.file_name(batch.name, f"batch-{batch.id}", options)
    return _stream(state, [batch], options, name, with_batch=False)


@get(
    PROJECT_PATH,
    tags=["export"],
    responses={
        **_ok("the file, as for a batch, with a batchId column first"),
        **documented(*AUTHENTICATED, 404, 422),
    },
)
async def export_project(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    format: FormatParameter = export.Format.CSV,
    columns: ColumnsParameter = None,
    header: HeaderParameter = export.Header.ORIGINAL,
    provenance: ProvenanceParameter = False,
    status: StatusQuery = None,
    delivery: DeliveryQuery = None,
    q: SearchQuery = None,
    bom: BomParameter = False,
    delimiter: DelimiterParameter = export.Delimiter.COMMA,
    raw: RawParameter = False,
) -> ExportStream:
    """The rows of the project's completed batches, oldest batch first, each in source
    order, as one file with a `batchId` column first (NDJSON: `{"batchId", "data", …}`).
    Columns: every key of those batches, in the order they first appear."""
    project = await ownership.project(state.pool, request.user.id, project_id)
    options = _options(format, columns, header, provenance, bom, delimiter, raw)
    batches = await store.completed_batches(state.pool, request.user.id, project.id)
    options = _filtered(request, options, batches, status, delivery, q)
    name = export.file_name(project.name, f"project-{project.id}", options)
    return _stream(state, batches, options, name, with_batch=True)


HANDLERS: list[Any] = [export_batch, export_project]
