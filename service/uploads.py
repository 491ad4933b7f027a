"""Uploads: the files of one upload become one batch, at most once per Idempotency-Key.

Each file is spooled to a file of our own (its bytes hashed into the request's fingerprint
when there is a key), a replay is answered without parsing, and otherwise the ingestion runs
with the key taken and recorded in the batch's own transaction (`service.idempotency`).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol
from uuid import UUID

from service import idempotency, ingestion, ownership, timeline
from service.db import Connection, Pool
from service.entities import Batch, BatchMode, ProjectStatus
from service.errors import InvalidInput, LimitExceeded
from service.idempotency import Fingerprint, KeysInFlight
from service.ingest import Source, formats
from service.ingest.matching import ColumnMapping, check_mapping, mapping_text
from service.settings import Settings
from service.store import batches, mappings, project_schemas, projects

if TYPE_CHECKING:
    from service.ingestion.sandbox import SpareWorker

CHUNK_BYTES = 1 << 20


class Part(Protocol):
    """One uploaded file as the HTTP layer hands it over (Litestar's `UploadFile`)."""

    @property
    def filename(self) -> str: ...

    async def read(self, size: int = -1) -> bytes: ...


class Created(NamedTuple):
    batch: Batch
    replayed: bool
    """The batch was created earlier, by a request with the same key (as it is now)."""


@dataclass(frozen=True)
class Uploads:
    """What an upload needs of the running service: the pool, the limits, the keys in flight
    and the parsing worker kept ready (`serve` has one)."""

    pool: Pool
    settings: Settings
    keys: KeysInFlight
    spare: SpareWorker | None = None

    async def create(
        self,
        user_id: UUID,
        project_id: UUID,
        parts: Sequence[Part],
        mode: BatchMode,
        sheet: str | None,
        key: str | None,
        *,
        conn: Connection | None = None,
        mapping: ColumnMapping | None = None,
    ) -> Created:
        """Store `parts` as one new batch of `project_id` (or the batch that `key` created
        for this same request), or store nothing and raise. `conn`: the upload's own
        connection (it holds the upload's slots, see `service.admission`), for all its
        queries and its transaction; else they use the pool. `mapping`: the upload's explicit
        mapping of columns to the schema's fields (`ingest.matching`)."""
        timeline.mark("form parsed")
        db = self.pool if conn is None else conn
        for part in parts:
            if "\x00" in (part.filename or ""):
                # It would be the rows' sourceFileName, and PostgreSQL cannot store a NUL.
                raise InvalidInput(
                    f"the file name {part.filename!r} contains a NUL character; rename the file"
                )
        project = await ownership.project(db, user_id, project_id)
        if project.status is ProjectStatus.ARCHIVED:
            # Checked again at the end: `projects.hold_open_for_upload`.
            raise projects.archived(project_id)
        schema = await project_schemas.get_current_schema(db, project_id)
        check_mapping(mapping, None if schema is None else [f.key for f in schema.fields])
        remembers = schema is not None and mode is BatchMode.LIST_MODE
        saved = await mappings.remembered(db, project_id) if remembers else {}
        operation = ("create_batch", str(project_id), mode, sheet, mapping_text(mapping))
        try:
            with (
                self.keys.claim(user_id, key, *operation) as claim,
                tempfile.TemporaryDirectory(prefix="sheetflow-upload-") as scratch,
            ):
                fingerprint = claim.fingerprint if claim is not None else None
                sources = [
                    await spool(
                        part, Path(scratch) / spooled_name(index, part), self.settings, fingerprint
                    )
                    for index, part in enumerate(parts)
                ]
                timeline.mark("spooled")
                if claim is not None:
                    await claim.check(db)  # a replay needs no parsing
                batch = await ingestion.ingest(
                    self.pool,
                    conn=conn,
                    project_id=project_id,
                    user_id=user_id,
                    sources=sources,
                    mode=mode,
                    sheet=sheet,
                    settings=self.settings,
                    on_created=claim.on_batch_created if claim is not None else None,
                    spare=self.spare,
                    schema=schema,
                    budget=project.error_budget,
                    mapping=mapping,
                    saved=saved,
                )
        except idempotency.Replayed as replay:
            found = await batches.get_for_owner(db, user_id, project_id, replay.resource_id)
            if found is None:
                raise replay.gone("batch") from None
            return Created(found, replayed=True)
        return Created(batch, replayed=False)


async def spool(
    part: Part, path: Path, settings: Settings, fingerprint: Fingerprint | None = None
) -> Source:
    """Copy one uploaded part to a file of our own, in chunks, refusing it past the limit
    (and feeding its name and bytes to the request's `fingerprint`, if any).

    The parser needs a path, and Litestar keeps small parts in memory; the part's filename
    is kept only as the source's name, never used as a path."""
    name = part.filename or path.name
    content = fingerprint.file(name) if fingerprint else None
    written = 0
    with await asyncio.to_thread(path.open, "wb") as target:
        while chunk := await part.read(CHUNK_BYTES):
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


def spooled_name(index: int, part: Part) -> str:
    """The spooled file's name: its index, and the extension of the client's name when it is
    one the service reads (the parser checks it against the content), as python-calamine
    picks its reader by the extension (and "Cannot detect file format" without one)."""
    name = part.filename or ""
    suffix = formats.extension(name) if formats.format_of_name(name) else ""
    return f"{index:04d}{suffix}"


def _keep(chunk: bytes, target: BinaryIO, content: hashlib._Hash | None) -> None:
    """Write a chunk of an uploaded part, and hash it for the fingerprint (one thread hop)."""
    target.write(chunk)
    if content is not None:
        content.update(chunk)
