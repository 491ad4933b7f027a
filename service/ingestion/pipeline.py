"""The ingestion's entry point: one upload (files already on disk) becomes one batch, atomically.

    worker process (child)                      this process (copying)
    ──────────────────────                      ──────────────────────
    read the files, emit rows as read ───────► rows frames ─► BEGIN; INSERT batch;
                                               (read ahead)   binary COPY per 20k rows
    after the last row: late messages ───────► amend frames ─► UPDATE those rows
                                        done ─► check the count; store the columns,
                                                row count and status counts; COMMIT

Parsing runs in the sandboxed worker, never in this process, so the event loop only moves
bytes and the COPY starts with the first chunk of rows. Any failure (a refused file, a limit,
the worker dying, a database error, cancellation of the calling task) leaves nothing: the
transaction rolls back and the worker is killed. The README's "Ingestion" decisions say why.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from uuid import UUID

import msgspec

from service import errors, fields, logs, metrics
from service.db import Connection, Pool
from service.entities import Batch, BatchMode, ErrorBudget
from service.ingest import Source
from service.ingest.matching import ColumnMapping
from service.ingestion import copying, protocol
from service.ingestion.sandbox import SpareWorker, Worker
from service.schemas import ProjectSchema
from service.settings import Settings
from service.store import rows

logger = logging.getLogger("sheetflow.ingestion")

ANALYZE_AFTER_ROWS = 10_000

_background: set[asyncio.Task[None]] = set()


async def ingest(
    pool: Pool,
    *,
    project_id: UUID,
    user_id: UUID,
    sources: Sequence[Source],
    mode: BatchMode,
    sheet: str | None,
    settings: Settings,
    on_rows: Callable[[int, int], None] | None = None,
    on_created: Callable[[Connection, Batch], Awaitable[None]] | None = None,
    spare: SpareWorker | None = None,
    conn: Connection | None = None,
    schema: ProjectSchema | None = None,
    budget: ErrorBudget | None = None,
    mapping: ColumnMapping | None = None,
    saved: dict[str, ColumnMapping] | None = None,
) -> Batch:
    """Parse `sources` and store them as one new batch, or store nothing and raise.

    The caller has checked that `user_id` may write to `project_id`. `on_rows` hears how many
    rows have been copied so far, and of how many expected (for a progress bar). `on_created`
    runs in the batch's transaction right after the batch row is written (before its rows):
    what it writes commits or rolls back with the batch, and what it raises aborts the upload.
    `spare`: take the worker from it, and have it start the next once this one is done.
    `conn`: run the transaction on this connection (the upload's own, which holds its slots,
    see `service.admission`) rather than on one taken from `pool`.
    `schema`: the project's current schema, which the rows follow (None: no schema).
    `budget`: the project's error budget; a batch over it is stored `failed` (`error_budget`).
    `mapping`, `saved`: the upload's explicit mapping of columns to the schema's fields and the
    project's remembered ones (`ingest.matching`).
    """
    started = time.monotonic()
    deadline = asyncio.timeout(settings.ingest_timeout_seconds)
    # The worker's temporary files go here, and go with it however the worker ends.
    with tempfile.TemporaryDirectory(
        prefix="sheetflow-worker-", ignore_cleanup_errors=True
    ) as scratch:
        worker = await Worker.start(
            worker_request(sources, mode, sheet, settings, scratch, schema, mapping, saved), spare
        )
        try:
            async with deadline:
                batch = await copying.store(
                    pool,
                    conn,
                    worker,
                    project_id,
                    user_id,
                    mode,
                    settings,
                    on_rows,
                    on_created,
                    schema=schema,
                    budget=budget,
                )
        except TimeoutError:
            if not deadline.expired():
                raise
            limit = settings.ingest_timeout_seconds
            files = ", ".join(worker.names)
            raise errors.LimitExceeded(
                f"{files}: ingesting took longer than {limit:g} seconds, the limit per upload",
                limit="ingest_timeout_seconds",
                value=round(limit),
                file=files,
            ) from None
        finally:
            await worker.close()
            if spare is not None:
                spare.prepare()
    _stored(batch, len(sources), time.monotonic() - started)
    if batch.row_count >= ANALYZE_AFTER_ROWS:
        _analyze_soon(pool)
    fields.compute_soon(pool, batch.id, settings)
    return batch


def _stored(batch: Batch, files: int, seconds: float) -> None:
    """One log line and the metrics of an upload stored (counts and ids only: no names, no
    values)."""
    metrics.record_ingestion(batch.row_count, seconds)
    logger.info(
        "stored batch %s: %d rows from %d file(s) in %.3f s",
        batch.id,
        batch.row_count,
        files,
        seconds,
    )


def _analyze_soon(pool: Pool) -> None:
    """Refresh the planner's statistics after the upload has been answered. Until autovacuum
    gets to it, the planner would think a new batch's rows are not there and sort the whole
    batch to serve its first page; but waiting for ANALYZE (~0.5 s) would delay the upload."""
    task = asyncio.get_running_loop().create_task(_analyze(pool))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _analyze(pool: Pool) -> None:
    try:
        await rows.analyze(pool)
    except Exception:  # the statistics are an optimisation: log, never fail anything
        logger.warning("ANALYZE after an upload failed", exc_info=True)


def worker_request(
    sources: Sequence[Source],
    mode: BatchMode,
    sheet: str | None,
    settings: Settings,
    scratch: str,
    schema: ProjectSchema | None = None,
    mapping: ColumnMapping | None = None,
    saved: dict[str, ColumnMapping] | None = None,
) -> protocol.Request:
    """The worker's request. The worker checks the mode's file count and the limits itself,
    so they are written once, in `service.ingest`."""
    return protocol.Request(
        sources=[(str(Path(source.path).resolve()), source.name) for source in sources],
        mode=mode,
        sheet=sheet,
        # The worker needs the limits, not the secrets (a DATABASE_URL may hold a password).
        settings=msgspec.structs.replace(settings, jwt_secret=None, database_url=None),
        scratch=scratch,
        request_id=logs.REQUEST_ID.get(),
        schema=schema,
        mapping=mapping,
        saved=saved or {},
    )
