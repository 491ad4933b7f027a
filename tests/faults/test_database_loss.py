"""Database loss, for real: the app runs against a PostgreSQL of this module's own, which is
stopped and started again (or frozen) under it.

While the database is down every request that needs it is a 503 problem with `Retry-After`,
answered at once (a refused connection, not a wait for a timeout), the auth middleware's
user lookup included, and `/ready` is 503. When it returns, the very next request succeeds:
the pool replaces the connections the server closed, no restart needed."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from service import db
from service.api.app import create_app
from service.api.auth import issue_token
from service.settings import Settings
from tests.api.conftest import SECRET, running

TIMED_OUT = "the database did not answer in time; try again shortly"


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with db.throwaway_server() as server:
        db.migrate(server.get_uri(db.EMBEDDED_DATABASE))
        yield server


async def stop(server: Any) -> None:
    """Stop the server the way an operator would (`pg_ctl stop -m fast`)."""
    process = await asyncio.create_subprocess_exec(
        db.postgres_bin_dir() / "pg_ctl",
        *("-D", str(server.pgdata), "-m", "fast", "-w", "stop"),
        stdout=asyncio.subprocess.DEVNULL,
        user=server.system_user,
    )
    assert await process.wait() == 0


def headers(subject: str, settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, subject)}"}


def assert_unavailable(response: Any, *, timed_out: bool = False) -> None:
    """A 503 problem; unless `timed_out`, one answered without waiting for a timeout."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert (response.json()["detail"] == TIMED_OUT) is timed_out


async def test_requests_are_503_while_the_database_is_down_and_recover_when_it_returns(
    server, tmp_path
):
    url = server.get_uri(db.EMBEDDED_DATABASE)
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET)
    owner = headers("owner", settings)
    async with running(create_app(settings, url)) as client:
        project = (await client.post("/projects", json={"name": "p"}, headers=owner)).json()

        await stop(server)
        try:
            # A known user: the handler's query finds the database gone.
            assert_unavailable(await client.get("/projects", headers=owner))
            upload = await client.post(
                f"/projects/{project['id']}/batches",
                data={"mode": "list_mode"},
                files={"files": ("a.csv", b"a\r\n1\r\n", "text/csv")},
                headers=owner,
            )
            assert_unavailable(upload)
            # A new user: the auth middleware's own lookup fails.
            assert_unavailable(await client.get("/users/me", headers=headers("new", settings)))
            assert (await client.get("/ready")).status_code == 503
        finally:
            await asyncio.to_thread(server.ensure_postgres_running)
        assert server.get_uri(db.EMBEDDED_DATABASE) == url

        assert (await client.get("/ready")).status_code == 200
        listing = await client.get("/projects", headers=owner)
        assert listing.status_code == 200, listing.text
        assert [p["id"] for p in listing.json()["items"]] == [project["id"]]
        newcomer = await client.get("/users/me", headers=headers("new", settings))
        assert newcomer.status_code == 200, newcomer.text


async def test_a_server_that_stops_answering_is_a_503_after_the_client_side_guard(server, tmp_path):
    """The backends are frozen (SIGSTOP): PostgreSQL's own statement timeout cannot fire,
    so only the client-side guard ends the wait. The connection is dropped, and the next
    request, on a fresh one, succeeds."""
    url = server.get_uri(db.EMBEDDED_DATABASE)
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, statement_timeout_seconds=0.2)
    owner = headers("owner", settings)
    async with running(create_app(settings, url)) as client:
        assert (await client.get("/projects", headers=owner)).status_code == 200
        admin = await asyncpg.connect(url)
        try:
            backends = await admin.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert backends
        for backend in backends:
            os.kill(backend["pid"], signal.SIGSTOP)
        try:
            response = await client.get("/projects", headers=owner)
        finally:
            for backend in backends:
                os.kill(backend["pid"], signal.SIGCONT)

        assert_unavailable(response, timed_out=True)
        assert (await client.get("/projects", headers=owner)).status_code == 200
