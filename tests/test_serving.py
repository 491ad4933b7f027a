"""Several web processes on one database, as `serve --workers N` and several hosts run them.

Everything a process keeps for itself (the spare parsing worker, the user cache, the
Idempotency-Keys in flight, the JWKS cache) must not change an answer: a retried upload that
reaches another process replays the same batch, two reviews of one batch sent to two processes
make one decision, and whatever one process wrote, the other reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psutil

from service.api.auth import issue_token
from service.settings import Settings
from tests.api.conftest import SECRET
from tests.test_cli import free_port

HEADERS = {"Authorization": f"Bearer {issue_token(Settings(jwt_secret=SECRET), 'owner')}"}
CSV = b"name;age\r\nAna;30\r\nBia;41\r\nCaio;27\r\n"


class Serve:
    """A real `sheetflow serve` process; its output is collected as it comes."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.output: list[str] = []
        self.changed = asyncio.Condition()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode():
            async with self.changed:
                self.output.append(line)
                self.changed.notify_all()
        async with self.changed:
            self.output.append("")  # the end
            self.changed.notify_all()

    async def started(self, processes: int = 1) -> None:
        """Wait until `processes` apps have started (or the output ended: then fail)."""
        async with self.changed:
            await self.changed.wait_for(
                lambda: (
                    self.output[-1:] == [""]
                    or sum("Application startup complete" in line for line in self.output)
                    >= processes
                )
            )
        assert self.output[-1:] != [""], "".join(self.output)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", headers=HEADERS)


@asynccontextmanager
async def serving(database_url: str, *args: str, **settings: str) -> AsyncIterator[Serve]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"PORT", "WEB_CONCURRENCY"}}
    env |= {"DATABASE_URL": database_url, "SHEETFLOW_JWT_SECRET": SECRET, **settings}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "service.cli", "serve", "--port", str(port), *args),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    serve = Serve(process, port)
    try:
        await serve.started()
        yield serve
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await serve.reader


async def upload(client: httpx.AsyncClient, project: str, key: str) -> httpx.Response:
    return await client.post(
        f"/projects/{project}/batches",
        data={"mode": "list_mode"},
        files={"files": ("people.csv", CSV, "text/csv")},
        headers={"Idempotency-Key": key},
    )


async def test_two_processes_on_one_database_answer_as_one(database_url):
    async with (
        serving(database_url) as one,
        serving(database_url) as two,
        one.client() as a,
        two.client() as b,
    ):
        # A project made through one process is read through the other.
        project = (await a.post("/projects", json={"name": "shared"})).json()["id"]
        assert (await b.get(f"/projects/{project}")).json()["name"] == "shared"

        # The same upload sent to both at once: one batch, whatever the interleaving.
        first = await asyncio.gather(upload(a, project, "k1"), upload(b, project, "k1"))
        statuses = sorted(response.status_code for response in first)
        assert statuses in ([201, 201], [201, 409]), [r.text for r in first]
        # A retry of whichever was refused, once both have answered, replays the batch.
        retries = await asyncio.gather(upload(a, project, "k1"), upload(b, project, "k1"))
        assert {r.status_code for r in retries} == {201}
        assert {r.headers.get("idempotent-replayed") for r in retries} == {"true"}
        batch = retries[0].json()["id"]
        assert {r.json()["id"] for r in retries} == {batch}
        assert {r.json()["id"] for r in first if r.status_code == 201} == {batch}
        for client in (a, b):
            listing = (await client.get(f"/projects/{project}/batches")).json()
            assert [item["id"] for item in listing["items"]] == [batch]

        # Two reviews of one batch, one to each process: one decision.
        url = f"/projects/{project}/batches/{batch}"
        reviews = await asyncio.gather(
            a.patch(url, json={"status": "completed"}), b.patch(url, json={"status": "failed"})
        )
        assert sorted(r.status_code for r in reviews) == [200, 409]
        decided = next(r for r in reviews if r.status_code == 200).json()["status"]
        assert {(await c.get(url)).json()["status"] for c in (a, b)} == {decided}

        # The rows read the same through both.
        pages = [(await c.get(f"{url}/rows")).json() for c in (a, b)]
        assert pages[0] == pages[1]
        assert [item["data"]["name"] for item in pages[0]["items"]] == ["Ana", "Bia", "Caio"]


def web_workers(parent: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(parent).children()
        if "multiprocessing.spawn" in " ".join(child.cmdline())
    ]


async def test_serve_with_two_workers_runs_two_processes_and_stops_them_all(database_url):
    """Also: JSON logs (every line one object, the request id carried from the answer to the
    ingestion and the parsing worker) and metrics summed over the two processes."""
    async with (
        serving(database_url, "--workers", "2", SHEETFLOW_LOG_FORMAT="json") as serve,
        serve.client() as client,
    ):
        await serve.started(2)
        workers = web_workers(serve.process.pid)
        assert len(workers) == 2
        project = (await client.post("/projects", json={"name": "workers"})).json()["id"]
        replies = [await upload(client, project, "same") for _ in range(4)]
        assert [r.status_code for r in replies] == [201] * 4
        assert len({r.json()["id"] for r in replies}) == 1
        assert (await client.get("/ready")).json() == {"status": "ready"}
        scrape = (await client.get("/metrics")).text
        assert "sheetflow_web_workers 2.0" in scrape.splitlines()
        assert 'sheetflow_uploads_total{outcome="replayed"} 3.0' in scrape.splitlines()

        serve.process.send_signal(signal.SIGTERM)
        assert await serve.process.wait() == 0
        assert not any(worker.is_running() for worker in workers)
    await serve.reader
    lines = [json.loads(line) for line in serve.output if line]
    first = replies[0].headers["x-request-id"]
    assert {line["logger"] for line in lines if line.get("request_id") == first} >= {
        "uvicorn.access",
        "sheetflow.ingestion",
        "sheetflow.ingestion.child",
    }
    assert len({line["process"] for line in lines}) >= 3  # the parent and both workers
