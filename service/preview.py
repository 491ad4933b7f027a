"""Preview before storing (issue 18, item 3): what an upload would give, and nothing written.

The same files, mode, sheet and `mapping` as an upload; the answer is the proposed matching of
columns to the project schema's fields (with the alternatives considered and their
confidences), the columns, and the first `PREVIEW_ROWS` rows as they would be stored, with
their messages. The worker reads the files as an ingestion does (`ingest.Parser`, same
matching, same conversions and rules) and stops after those rows (`ingestion.child`), so the
cost does not grow with the file beyond what it reads:

- A CSV, or a workbook read in one pass (one sheet), is read up to its 20th row and no
  further (`ingest.Parser(row_limit=)`): a 1M-row CSV previews in the time of a 1,000-row one
  (`bench/preview.py`). calamine still loads a whole xlsx/xls sheet before its first row, so
  a workbook's preview costs its load, not its rows.
- A read that needs two passes (several sheets, profile mode) reads every file once first.

Messages that need whole-column facts are shown as far as the rows read tell: without a
schema, `type_mismatch` and `empty` (which wait for a column's inferred type and fill rate)
are not in a preview's rows, and `inferredType` is inferred from the 20 rows read; with a schema,
a field's declared type and rules are per value and shown in full, except `unique`, which the
preview cannot know (the repeats may be anywhere in the file) and does not show.

Nothing is written: no batch, no rows, no idempotency key. The project must be the user's
(404 otherwise); an archived project can be previewed.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec

from service import errors, ownership
from service.db import Executor
from service.entities import BatchMode, ColumnMetadata, RowStatus, ValidationMessage
from service.ingest import Source
from service.ingest.matching import ColumnMapping, ColumnMatch, check_mapping
from service.ingestion import pipeline, protocol
from service.ingestion.sandbox import Worker
from service.schemas import ProjectSchema
from service.settings import Settings
from service.store import mappings, project_schemas
from service.uploads import Part, spool

PREVIEW_ROWS = 20
"""How many rows a preview shows."""


class PreviewRow(msgspec.Struct, frozen=True, kw_only=True):
    data: dict[str, Any]
    status: RowStatus
    validation_messages: list[ValidationMessage]
    source_file_name: str
    source_sheet_name: str
    source_row_index: int


class Preview(msgspec.Struct, frozen=True, kw_only=True):
    schema_version: int | None
    """The schema version the rows were matched and checked against (None: no schema)."""
    columns: list[ColumnMetadata]
    matches: list[ColumnMatch] | None
    """List mode with a schema: per column, the field proposed and the alternatives."""
    rows: list[PreviewRow]


async def preview(
    db: Executor,
    settings: Settings,
    user_id: UUID,
    project_id: UUID,
    parts: Sequence[Part],
    mode: BatchMode,
    sheet: str | None,
    mapping: ColumnMapping | None,
) -> Preview:
    """The preview of an upload of `parts` to `project_id` (see the module)."""
    for part in parts:
        if "\x00" in (part.filename or ""):
            raise errors.InvalidInput(
                f"the file name {part.filename!r} contains a NUL character; rename the file"
            )
    await ownership.project(db, user_id, project_id)
    schema = await project_schemas.get_current_schema(db, project_id)
    check_mapping(mapping, None if schema is None else [field.key for field in schema.fields])
    remembers = schema is not None and mode is BatchMode.LIST_MODE
    saved = await mappings.remembered(db, project_id) if remembers else {}
    with tempfile.TemporaryDirectory(prefix="sheetflow-preview-") as scratch:
        sources = [
            await spool(part, Path(scratch) / f"{index:04d}", settings)
            for index, part in enumerate(parts)
        ]
        frame = await read(sources, mode, sheet, settings, scratch, schema, mapping, saved)
    return Preview(
        schema_version=None if schema is None else schema.version,
        columns=frame.columns,
        matches=frame.matches,
        rows=msgspec.convert([row._asdict() for row in frame.rows], list[PreviewRow]),
    )


async def read(
    sources: Sequence[Source],
    mode: BatchMode,
    sheet: str | None,
    settings: Settings,
    scratch: str,
    schema: ProjectSchema | None = None,
    mapping: ColumnMapping | None = None,
    saved: dict[str, ColumnMapping] | None = None,
) -> protocol.PreviewFrame:
    """The worker's preview of files already on disk (what `preview` does once they are
    spooled; `bench/preview.py` measures it)."""
    request = msgspec.structs.replace(
        pipeline.worker_request(sources, mode, sheet, settings, scratch, schema, mapping, saved),
        preview_rows=PREVIEW_ROWS,
    )
    worker = await Worker.start(request)
    try:
        async with asyncio.timeout(settings.ingest_timeout_seconds):
            frame = await worker.frame()
    except TimeoutError:
        files = ", ".join(worker.names)
        raise errors.LimitExceeded(
            f"{files}: the preview took longer than {settings.ingest_timeout_seconds:g} "
            "seconds, the limit per upload",
            limit="ingest_timeout_seconds",
            value=round(settings.ingest_timeout_seconds),
            file=files,
        ) from None
    finally:
        await worker.close()
    if not isinstance(frame, protocol.PreviewFrame):
        raise errors.CorruptFile("the parsing worker did not answer the preview")
    return frame
