"""Admission of uploads: at most `max_ingestions` uploads run at once, and at most
`max_ingestions_per_user` of one user, across every process and host on the database.

    upload arrives (before its body is read)
      │ this process already holds max_ingestions slots? ──────────── yes ─► 429
      ▼
    take a pooled connection (it becomes the upload's own)
      │ a free slot of the user's (0 … per_user-1)? ─────────────────── no ─► 429
      │ a free slot of the service's (0 … max-1)? ────────────────────── no ─► 429
      ▼
    receive the body, parse, COPY, COMMIT, all on that connection
      ▼
    release both slots, give the connection back

A slot is a session-level advisory lock (`sql/admission.sql`, `store/slots.py`) held by the
upload's connection: PostgreSQL keeps the count, so the caps hold for any number of processes,
and a process that dies takes its slots with its sessions. The upload's transaction runs on
the same connection, so an upload holds exactly one pooled connection, and a process holds at
most `max_ingestions` of them for uploads; the other `pool_size - max_ingestions` (at least
`pool_reserve`, checked at start) are always there for the other requests. A slot is taken
before the body is read, so the excess upload is refused before anything of it is spooled;
its client is told to retry (`Retry-After`).

Session locks need a session: behind a pooler in transaction mode (PgBouncer's
`pool_mode = transaction`) the statements of one connection may reach different server
sessions, and a slot would stay taken where it was locked. Such a pooler must give the
service session pooling, or the caps a lease table instead (docs/scaling.md); a release that
finds its lock missing is logged as an error.

Slots are tried in order with `pg_try_advisory_lock`, never waited for. Two users whose ids
hash alike (`hashtext`, 32 bits) would share their per-user slots: one chance in billions,
and the worst it does is a 429 to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

import asyncpg

from service.db import Connection, Pool
from service.errors import Busy
from service.settings import Settings
from service.store import slots

logger = logging.getLogger("sheetflow.admission")

RELEASE_TIMEOUT_SECONDS = 5.0
"""How long releasing the slots may take before the connection is closed instead (which
releases them too)."""


class Slots:
    """This process's door to the upload slots; one per pool (the app keeps it in its state)."""

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self.pool = pool
        self.max_ingestions = settings.max_ingestions
        self.per_user = settings.max_ingestions_per_user
        self.held = 0
        """Slots this process holds now: past `max_ingestions`, the database has none left
        anyway, so the excess is refused without taking a connection from the pool."""

    @contextlib.asynccontextmanager
    async def hold(self, user_id: UUID) -> AsyncIterator[Hold]:
        """A slot of the user's and one of the service's, held on a connection that the
        upload uses for its own work, until `Hold.release` or the end of the block; raises
        `Busy` when either is full."""
        if self.held >= self.max_ingestions:
            raise _service_busy(self.max_ingestions)
        async with contextlib.AsyncExitStack() as stack:
            self.held += 1
            stack.callback(self._let_go)
            conn = await self.pool.acquire()
            stack.push_async_callback(_give_back, self.pool, conn)
            await stack.enter_async_context(self._slots(conn, user_id))
            yield Hold(conn, stack)

    def _let_go(self) -> None:
        self.held -= 1

    @contextlib.asynccontextmanager
    async def _slots(self, conn: Connection, user_id: UUID) -> AsyncIterator[None]:
        try:
            user_slot = await _first_free(
                self.per_user, lambda slot: slots.take_user_slot(conn, user_id, slot)
            )
            service_slot = None
            if user_slot is not None:
                service_slot = await _first_free(
                    self.max_ingestions, lambda slot: slots.take_service_slot(conn, slot)
                )
        except BaseException:
            # A lock may have been taken without its answer reaching us: the session goes,
            # and every lock with it, rather than back into the pool.
            _close(conn)
            raise
        if user_slot is None:
            raise _user_busy(self.per_user)
        try:
            if service_slot is None:
                raise _service_busy(self.max_ingestions)
            try:
                yield
            finally:
                await _release(conn, slots.release_service_slot(conn, service_slot))
        finally:
            await _release(conn, slots.release_user_slot(conn, user_id, user_slot))


class Hold:
    """An upload's slots and its connection (`conn`)."""

    def __init__(self, conn: Connection, stack: contextlib.AsyncExitStack) -> None:
        self.conn = conn
        self._stack = stack

    async def release(self) -> None:
        """Give the slots and the connection back now (once; the end of `Slots.hold` does it
        otherwise): before the upload's answer goes out, so that a client that sends its next
        upload as soon as it has the answer finds its slot free."""
        await self._stack.aclose()


async def _first_free(count: int, take: Callable[[int], Awaitable[bool]]) -> int | None:
    """The first of slots 0 … count-1 that `take` could take, or None when all are held."""
    for slot in range(count):
        if await take(slot):
            return slot
    return None


async def _release(conn: Connection, releasing: Awaitable[bool]) -> None:
    """Release one slot. A connection that cannot do it (lost, or left unusable by the upload
    it served) is closed: its session, and every lock it held, end with it."""
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS):
            if not await releasing:
                # Not this session's lock: a pooler in transaction mode (PgBouncer's
                # `pool_mode = transaction`) ran the statements on other server connections,
                # and the slot stays taken there. The caps need session pooling.
                logger.error(
                    "an upload slot was not held by the upload's own database session: the "
                    "upload caps need a session (not a transaction-mode pooler) for uploads"
                )
    except BaseException as error:
        # Never back into the pool with a slot held (a cancellation included).
        _close(conn)
        if not isinstance(error, Exception):
            raise
        logger.info("an upload slot went with its connection: %r", error)


async def _give_back(pool: Pool, conn: Connection) -> None:
    """Return the connection to the pool. One whose backend was killed under the upload (after
    its COMMIT answered, say) may already have been taken back by asyncpg, which then refuses
    it again: the pool has it, and the upload's answer stands."""
    try:
        await pool.release(conn)
    except (asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
        logger.info("an upload's lost connection was already back in the pool: %r", error)


def _close(conn: Connection) -> None:
    """Close the connection, and end its session with every lock it holds. asyncpg refuses
    when it has already taken back a connection it found broken: that session is gone."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


def _user_busy(limit: int) -> Busy:
    return Busy(
        f"you already have {limit} uploads running, the most one user may run at once "
        "(SHEETFLOW_MAX_INGESTIONS_PER_USER); retry when one of them has finished",
        limit="max_ingestions_per_user",
        value=limit,
    )


def _service_busy(limit: int) -> Busy:
    return Busy(
        f"the service is already running {limit} uploads, the most it runs at once "
        "(SHEETFLOW_MAX_INGESTIONS); retry shortly",
        limit="max_ingestions",
        value=limit,
    )
