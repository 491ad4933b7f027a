"""Killing a PostgreSQL backend at an exact point of this process's event loop.

A real `pg_terminate_backend` lands wherever the backend happens to be, and the points where
asyncpg reports it in an unexpected shape are a turn of the event loop wide: the backend has
answered a statement, and its FATAL "terminating connection" is read with that answer, or
just after it, before the closed socket is noticed. `Terminator` makes such a kill land there
every time. Its calls block the event loop (they run on a thread and a connection of their
own) until the backend is where the test wants it, and then until it has exited, so that
what the loop reads next is the backend's last answer and its goodbye, together or in turn.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

BEFORE_COMMIT = "its answer to the statement before COMMIT not yet read"
WITH_COMMIT = "its answer to COMMIT not yet read"
AFTER_COMMIT = "its answer to COMMIT just read"
RELEASING = "a turn after its answer to COMMIT was read"
"""Where `Terminator.at` kills the upload's backend: the service has not read the backend's
answer (the answer and the FATAL then come together), or has read it this turn of the loop
(the FATAL comes on the next), or the one before."""


class Terminator:
    """`pg_terminate_backend` from its own connection, on its own thread and event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.conn: Any = None

    async def __aenter__(self) -> Terminator:
        self.thread.start()
        self.conn = self.call(asyncpg.connect(self.url))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.call(self.conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run `coroutine` on the terminator's loop, blocking the caller's."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def kill(self, pid: int) -> None:
        """Terminate backend `pid`, and return once it has exited (its FATAL sent, its
        socket closed)."""
        assert self.call(self.conn.fetchval("SELECT pg_terminate_backend($1, 10000)", pid))

    def waiting(self, pid: int) -> tuple[str, str] | None:
        """The state and query of backend `pid` once it is waiting for its client, having
        answered all it was sent; None when there is no such backend."""

        async def poll() -> tuple[str, str] | None:
            while True:
                row = await self.conn.fetchrow(
                    "SELECT state, query, wait_event FROM pg_stat_activity WHERE pid = $1", pid
                )
                if row is None:
                    return None
                if row["wait_event"] == "ClientRead":
                    return row["state"], row["query"]
                await asyncio.sleep(0.001)

        result: tuple[str, str] | None = self.call(poll())
        return result

    def at(self, point: str) -> Callable[[Any, Any], Awaitable[None]]:
        """An `on_created` hook for `ingestion.ingest` that has the upload's backend killed at
        `point`. From then on it looks, at every turn of the event loop and before the loop
        reads its sockets, where the backend is; the kill comes when it is there."""

        async def on_created(conn: Any, batch: Any) -> None:
            pid = conn.get_server_pid()
            loop = asyncio.get_running_loop()

            def check() -> None:
                where = self.waiting(pid)
                if where is None:
                    return
                state, query = where
                if state == "idle in transaction" and "finish_batch" in query:
                    if point == BEFORE_COMMIT:
                        self.kill(pid)
                        return
                elif state == "idle" and query.startswith("COMMIT"):
                    if point == WITH_COMMIT:
                        self.kill(pid)
                    elif point == AFTER_COMMIT:
                        # Timers run after the loop's reads: once it has read the answer.
                        loop.call_later(0, self.kill, pid)
                    elif point == RELEASING:
                        loop.call_later(0, loop.call_soon, self.kill, pid)
                    return
                elif state == "idle":
                    return  # the transaction is over: too late for `point`
                loop.call_soon(check)

            loop.call_soon(check)

        return on_created
