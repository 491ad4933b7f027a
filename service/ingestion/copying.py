"""The ingestion's transaction: the batch row, one binary COPY per `COPY_ROWS` rows of the
worker's frames (read ahead, see `ReadAhead`), the amendments, the closing counts, COMMIT;
and what ends it early: a `Watchdog` for a database that stops answering, a lost connection
reported as `Unavailable` (503), nothing stored either way unless the COMMIT has answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import asyncpg
import msgspec

from service import batch_settings, error_budget, errors, rule_checks, timeline
from service.db import CLIENT_GRACE_SECONDS, Connection, Pool, connection_lost
from service.entities import (
    Batch,
    BatchMode,
    BatchStatus,
    ColumnMetadata,
    CopyRecord,
    ErrorBudget,
    StatusCounts,
)
from service.ingestion import protocol
from service.ingestion.sandbox import Worker
from service.schemas import ProjectSchema
from service.settings import Settings
from service.store import batches, projects, rows

logger = logging.getLogger("sheetflow.ingestion")
_T = TypeVar("_T")

COPY_ROWS = 20_000
READ_AHEAD_FRAMES = 8


async def store(
    pool: Pool,
    own: Connection | None,
    worker: Worker,
    project_id: UUID,
    user_id: UUID,
    mode: BatchMode,
    settings: Settings,
    on_rows: Callable[[int, int], None] | None,
    on_created: Callable[[Connection, Batch], Awaitable[None]] | None,
    schema: ProjectSchema | None = None,
    budget: ErrorBudget | None = None,
) -> Batch:
    # Nothing is written, and no connection held, until the worker has read a first chunk.
    # `frames` holds one frame: the next one to store.
    frames = [await worker.frame()]
    timeline.mark("first rows parsed")
    watchdog: Watchdog | None = None
    patience = settings.statement_timeout_seconds + CLIENT_GRACE_SECONDS
    committed: Batch | None = None
    feed = ReadAhead(worker)
    try:
        async with pool.acquire() if own is None else contextlib.nullcontext(own) as conn:
            async with Watchdog(conn, patience) as watchdog, conn.transaction():
                await rows.allow_long_copy(conn, settings.ingest_timeout_seconds)
                batch = await batches.create(
                    conn,
                    project_id=project_id,
                    user_id=user_id,
                    mode=mode,
                    file_count=len(worker.names),
                    name=batch_settings.default_name(worker.names[0]),
                )
                if on_created is not None:
                    await on_created(conn, batch)
                copied = 0
                timeline.mark("first COPY")
                while isinstance(frames[0], protocol.RowsFrame):
                    copied += await rows.create_many(
                        conn,
                        _rows(feed, watchdog, batch.id, frames, copied, on_rows),
                        guard_seconds=settings.ingest_timeout_seconds,
                    )
                timeline.mark("last COPY done")
                frame: protocol.Frame = frames[0]
                while isinstance(frame, protocol.AmendFrame):
                    await rows.amend(conn, batch.id, frame.rows)
                    frame = await watchdog.away(feed.next())
                if not isinstance(frame, protocol.DoneFrame):
                    raise await worker.unexpected_end()
                if frame.count != copied:
                    raise errors.CorruptFile(
                        f"{', '.join(worker.names)}: the file changed while it was being read",
                        file=", ".join(worker.names),
                    )
                counts = frame.counts
                if schema is not None:
                    counts = await _whole_batch_rules(conn, batch.id, schema, frame, counts)
                overrun = error_budget.overrun(budget, counts)
                await projects.hold_open_for_upload(conn, project_id)
                finished = await batches.finish(
                    conn,
                    batch.id,
                    row_count=copied,
                    column_metadata=frame.columns,
                    counts=counts,
                    schema_version=None if schema is None else schema.version,
                    status=BatchStatus.PENDING_REVIEW if overrun is None else BatchStatus.FAILED,
                    review_note=overrun,
                )
            committed = finished  # the COMMIT has answered: the batch is stored
            timeline.mark("committed")
        return finished
    except (
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        asyncpg.PostgresConnectionError,
        OSError,
        asyncio.CancelledError,
    ) as error:
        fired = watchdog is not None and watchdog.fired
        if isinstance(error, asyncio.CancelledError):
            if not fired:
                raise  # the caller's cancellation
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()  # the watchdog's cancellation, not the caller's
        if committed is not None:
            # Only handing the connection back to the pool failed: a connection whose backend
            # was killed just after the COMMIT answered may already have been taken back by
            # asyncpg, which then refuses to release it again (`InternalClientError`). The
            # batch is stored; answering that it is not would make a client without an
            # Idempotency-Key upload it twice.
            logger.warning("the upload committed, then its connection was lost: %r", error)
            return committed
        if fired:
            raise errors.Unavailable(
                "the database stopped answering during the upload; nothing was stored"
            ) from error
        if not connection_lost(error):
            raise
        raise errors.Unavailable(
            "the connection to the database was lost during the upload; nothing was stored"
        ) from error
    finally:
        await feed.close()


async def _whole_batch_rules(
    conn: Connection,
    batch_id: UUID,
    schema: ProjectSchema,
    done: protocol.DoneFrame,
    counts: StatusCounts,
) -> StatusCounts:
    """The schema's rules that need every row (`unique`), once every row is stored; the
    status counts after them."""
    keys = [column.normalized_key for column in _columns.decode(done.columns)]
    return rule_checks.plus(counts, await rule_checks.mark_repeated(conn, batch_id, schema, keys))


_columns = msgspec.json.Decoder(list[ColumnMetadata])


class Watchdog:
    """Ends the ingestion when the database has kept it waiting for `limit` seconds.

    A statement timeout cannot help when the server itself stops answering, and asyncpg's own
    timeout may then wait for ever on a COPY. So the watchdog closes the socket (the server, if
    it comes back, rolls the transaction back when it sees it gone) and cancels the task that
    awaits the database, which `store` reports as `Unavailable`. The database "has kept us
    waiting" whenever the ingestion is not waiting on its worker (see `away`)."""

    def __init__(self, conn: Connection, limit: float) -> None:
        self.conn = conn
        self.limit = limit
        self.fired = False
        self._since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._owner: asyncio.Task[object] | None = None

    async def __aenter__(self) -> Watchdog:
        self._since = time.monotonic()
        self._owner = asyncio.current_task()
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def away(self, waiting: Awaitable[_T]) -> _T:
        """Await something other than the database (the worker's next frame)."""
        self._since = None
        try:
            return await waiting
        finally:
            self._since = time.monotonic()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.limit / 4)
            if self._since is not None and time.monotonic() - self._since > self.limit:
                logger.warning(
                    "the database has not answered for %.0f s during an upload: "
                    "closing its connection",
                    self.limit,
                )
                self.fired = True
                # A connection the server closed (a killed backend) may already be back in
                # the pool, and asyncpg refuses to terminate it then: the COPY may still hang
                # on it, so the cancellation below must happen whatever terminate() says.
                with contextlib.suppress(asyncpg.InterfaceError):
                    self.conn.terminate()
                assert self._owner is not None
                self._owner.cancel()
                return


async def _rows(
    feed: ReadAhead,
    watchdog: Watchdog,
    batch_id: UUID,
    frames: list[protocol.Frame],
    before: int,
    on_rows: Callable[[int, int], None] | None,
) -> AsyncIterator[CopyRecord]:
    """One COPY's records: the worker's rows, the batch id in front, from the rows of
    `frames[0]` on, until a frame that is not rows or `COPY_ROWS` rows; the first frame not
    taken replaces `frames[0]`. `before`: rows copied by earlier COPYs. `data` and
    `validation_messages` stay the worker's JSON bytes (`msgspec.Raw`), never decoded here."""
    sent = 0
    frame = frames[0]
    while isinstance(frame, protocol.RowsFrame):
        for row in frame.rows:
            yield (batch_id, *row)
        sent += len(frame.rows)
        if on_rows is not None:
            on_rows(before + sent, frame.expected)
        frame = await watchdog.away(feed.next())
        if sent >= COPY_ROWS:
            break
    frames[0] = frame


class ReadAhead:
    """The worker's frames, read ahead of the COPY, up to `READ_AHEAD_FRAMES` of them.

    The rows of an upload go in by one COPY per `COPY_ROWS` rows, in the one transaction.
    PostgreSQL checks a COPY's foreign keys at its end (the last 0.7 s of a 200k-row COPY,
    with nothing else to do meanwhile): in steps, those checks run while the worker parses
    on, and this read-ahead keeps the worker from blocking on its pipe in the meantime.
    Memory stays bounded: a frame holds up to `ingest.plans.CHUNK_ROWS` rows (~0.7 MiB of JSON)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._queue: asyncio.Queue[protocol.Frame | Exception] = asyncio.Queue(READ_AHEAD_FRAMES)
        self._task: asyncio.Task[None] | None = None

    async def next(self) -> protocol.Frame:
        """The worker's next frame, as `Worker.frame` gives it (or raises)."""
        if self._task is None:
            self._task = asyncio.create_task(self._read())
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def _read(self) -> None:
        while True:
            try:
                frame = await self._worker.frame()
            except Exception as error:  # raised by `next`, in the task that awaits the frame
                await self._queue.put(error)
                return
            await self._queue.put(frame)
            if not isinstance(frame, protocol.RowsFrame | protocol.AmendFrame):
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
