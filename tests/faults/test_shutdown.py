"""Graceful shutdown of a real `sheetflow serve` process.

On SIGTERM the listening socket closes at once (a new connection is refused), an upload in
flight may finish within `SHEETFLOW_SHUTDOWN_GRACE_SECONDS` (201, committed), one that does not
is cancelled and answered 503 (nothing stored), and the process exits 0.

The upload is written by hand on a socket, so the test decides when each byte leaves: the
request announces `Expect: 100-continue`, and the server's `100 Continue` (sent when the
application first asks for the body) shows that the request is in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import msgspec

from service.api.auth import issue_token
from service.settings import Settings
from tests.api.conftest import SECRET
from tests.test_cli import free_port

HEADERS = {"Authorization": f"Bearer {issue_token(Settings(jwt_secret=SECRET), 'owner')}"}


class Server(msgspec.Struct):
    process: asyncio.subprocess.Process
    port: int

    async def line(self, text: str) -> None:
        """Read the server's output up to a line containing `text`."""
        assert self.process.stdout is not None
        seen = []
        while line := (await self.process.stdout.readline()).decode():
            seen.append(line)
            if text in line:
                return
        raise AssertionError(f"the server ended without logging {text!r}:\n{''.join(seen)}")


@asynccontextmanager
async def serving(database_url: str, *, grace_seconds: int) -> AsyncIterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    env |= {
        "DATABASE_URL": database_url,
        "SHEETFLOW_JWT_SECRET": SECRET,
        "SHEETFLOW_SHUTDOWN_GRACE_SECONDS": str(grace_seconds),
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "service.cli", "serve", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    server = Server(process, port)
    try:
        await server.line("Uvicorn running on")
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def start_upload(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Send an upload's headers and wait for `100 Continue`; return the body still to send."""
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base, headers=HEADERS) as client:
        project = (await client.post("/projects", json={"name": "shutdown"})).json()
    request = httpx.Request(
        "POST",
        f"{base}/projects/{project['id']}/batches",
        headers={**HEADERS, "Expect": "100-continue"},
        data={"mode": "list_mode"},
        files={"files": ("people.csv", b"name;age\r\nAna;30\r\nBia;41\r\n", "text/csv")},
    )
    head = f"POST {request.url.raw_path.decode()} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items()
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head.encode() + b"\r\n")
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    return reader, writer, request.read()


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the response (the server closes the connection after
    it: it is shutting down)."""
    head, _, body = (await reader.read()).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


async def batch_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ingestion_batches"))
    finally:
        await conn.close()


async def test_sigterm_refuses_new_connections_and_lets_an_upload_in_flight_finish(database_url):
    async with serving(database_url, grace_seconds=60) as server:
        reader, writer, body = await start_upload(server)
        writer.write(body[: len(body) // 2])
        await writer.drain()

        server.process.send_signal(signal.SIGTERM)
        await server.line("Waiting for connections to close")
        try:
            await asyncio.open_connection("127.0.0.1", server.port)
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("a new connection was accepted after SIGTERM")

        writer.write(body[len(body) // 2 :])
        await writer.drain()
        status, _, payload = await response(reader)
        writer.close()
        assert status == 201, payload
        assert await server.process.wait() == 0
    assert await batch_count(database_url) == 1


async def test_an_upload_still_running_after_the_grace_period_is_cancelled_with_a_503(
    database_url,
):
    async with serving(database_url, grace_seconds=1) as server:
        reader, writer, body = await start_upload(server)
        writer.write(body[: len(body) // 2])  # and never the rest
        await writer.drain()

        server.process.send_signal(signal.SIGTERM)
        status, headers, payload = await response(reader)
        writer.close()
        assert status == 503, payload
        assert headers["content-type"] == "application/problem+json"
        assert headers["retry-after"] == "5"
        assert msgspec.json.decode(payload)["detail"].startswith("the service is shutting down")
        assert await server.process.wait() == 0
    assert await batch_count(database_url) == 0
