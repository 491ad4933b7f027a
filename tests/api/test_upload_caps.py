"""Concurrency caps: one user cannot starve the others by uploading in parallel.

At most `SHEETFLOW_MAX_INGESTIONS_PER_USER` uploads of one user and `SHEETFLOW_MAX_INGESTIONS`
in all run at once, counted by PostgreSQL (advisory locks held by each upload's connection),
so the caps hold across processes: here two apps, each with its own pool, share one
database, as `serve --workers N` and several hosts would. The excess is a 429 with
`Retry-After`, answered before a byte of its body is read. Uploads are held in flight by a
body that stops after its first chunk until the test lets it go (no sleeping), and their
slots are known taken once that first chunk has been pulled (the slots come first).

And a pool with no free connection says so (503), rather than that the connection was lost.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

import asyncpg
import pytest

from service import db, ingestion
from service.api.app import create_app
from service.api.auth import issue_token
from service.db import create_pool
from service.entities import BatchMode
from service.errors import Unavailable
from service.ingest import Source
from service.settings import Settings, load_settings
from service.store import slots
from tests.api.conftest import SECRET, running

BOUNDARY = "capsboundary"
CSV = b"nome;idade\r\nAna;30\r\nBia;41\r\n"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="mode"\r\n\r\nlist_mode\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n\r\n'
).encode()
TAIL = CSV + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path, jwt_secret=SECRET, pool_size=6, pool_reserve=2)


class Held:
    """An upload in flight: its first chunk is sent, the rest waits for `release`."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.pulled = 0

    async def body(self):
        self.pulled += 1
        self.started.set()
        yield HEAD
        await self.release.wait()
        self.pulled += 1
        yield TAIL


async def upload(client, token, project, held: Held):
    return await client.post(
        f"/projects/{project}/batches",
        content=held.body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )


class Apps:
    """Two apps on one database, each with its own pool; tokens and projects per user."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.stack = AsyncExitStack()
        self.clients: list = []
        self.projects: dict[str, str] = {}
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Apps:
        for _ in range(2):
            app = create_app(self.settings, self.database_url)
            self.clients.append(await self.stack.enter_async_context(running(app)))
        return self

    async def __aexit__(self, *exc_info) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.stack.aclose()

    def token(self, user: str) -> str:
        return issue_token(self.settings, user)

    async def project(self, user: str) -> str:
        if user not in self.projects:
            response = await self.clients[0].post(
                "/projects",
                json={"name": f"{user}'s"},
                headers={"Authorization": f"Bearer {self.token(user)}"},
            )
            self.projects[user] = response.json()["id"]
        return self.projects[user]

    async def hold(self, app: int, user: str) -> tuple[Held, asyncio.Task]:
        """An upload by `user` to app `app`, in flight with its slots taken."""
        held = Held()
        project = await self.project(user)
        task = asyncio.create_task(upload(self.clients[app], self.token(user), project, held))
        self.tasks.append(task)
        started = asyncio.create_task(held.started.wait())
        await asyncio.wait([task, started], return_when="FIRST_COMPLETED")
        started.cancel()
        assert held.started.is_set(), (await task).text
        return held, task

    async def send(self, app: int, user: str):
        """An upload by `user` to app `app`, sent whole at once; its answer."""
        held = Held()
        held.release.set()
        return held, await upload(
            self.clients[app], self.token(user), await self.project(user), held
        )


def assert_busy(response, held: Held, limit: str, value: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert (problem["limit"], problem["limitValue"]) == (limit, value)
    assert held.pulled == 0  # refused before its body was read


async def test_one_user_runs_two_uploads_at_once_across_processes(settings, database_url):
    async with Apps(settings, database_url) as apps:
        first, first_task = await apps.hold(0, "flood")
        second, second_task = await apps.hold(0, "flood")

        held, third = await apps.send(1, "flood")  # another process: the count is shared
        assert_busy(third, held, "max_ingestions_per_user", 2)
        assert "2 uploads running" in third.json()["detail"]
        _, other = await apps.send(1, "other")  # another user is not held back
        assert other.status_code == 201, other.text

        first.release.set()
        second.release.set()
        assert (await first_task).status_code == 201
        assert (await second_task).status_code == 201
        _, again = await apps.send(1, "flood")  # the slots are free again
        assert again.status_code == 201, again.text


async def test_four_uploads_run_at_once_in_all_and_other_requests_still_get_a_connection(
    settings, database_url
):
    async with Apps(settings, database_url) as apps:
        flights = [await apps.hold(0, user) for user in ("a", "a", "b", "b")]

        held, fifth = await apps.send(1, "c")
        assert_busy(fifth, held, "max_ingestions", 4)
        held, sixth = await apps.send(0, "c")  # this process has no slot left: not even a query
        assert_busy(sixth, held, "max_ingestions", 4)
        # App 0 holds four of its six connections for uploads; the reserve serves the rest.
        headers = {"Authorization": f"Bearer {apps.token('c')}"}
        for _ in range(3):
            assert (await apps.clients[0].get("/projects", headers=headers)).status_code == 200

        for held, _ in flights:
            held.release.set()
        assert [(await task).status_code for _, task in flights] == [201] * 4


async def test_a_slot_held_by_a_session_that_ends_is_free_again(settings, database_url):
    """Whatever holds the slots (here a bare session, as another host's upload would), they
    count; and they go with the session, as they would with a process that dies."""
    async with Apps(settings, database_url) as apps:
        await apps.project("flood")
        other_host = await asyncpg.connect(database_url)
        flood = await other_host.fetchval("SELECT id FROM users WHERE external_id = 'flood'")
        for slot in range(2):
            assert await slots.take_user_slot(other_host, flood, slot)

        held, refused = await apps.send(0, "flood")
        assert_busy(refused, held, "max_ingestions_per_user", 2)

        other_host.terminate()
        _, accepted = await apps.send(0, "flood")
        assert accepted.status_code == 201, accepted.text


async def test_a_pool_with_no_free_connection_says_so(database_url, tmp_path):
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, db_connect_timeout_seconds=0.2)
    app = create_app(settings, database_url)
    headers = {"Authorization": f"Bearer {issue_token(settings, 'u')}"}
    async with running(app) as client:
        assert (await client.get("/projects", headers=headers)).status_code == 200
        pool = app.state.pool
        taken = [await pool.acquire() for _ in range(settings.pool_size)]
        try:
            response = await client.get("/projects", headers=headers)
        finally:
            for conn in taken:
                await pool.release(conn)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert "no database connection became free within 0.2 s" in response.json()["detail"]


async def test_an_ingestion_without_a_free_connection_is_not_reported_as_a_lost_one(
    database_url, tmp_path
):
    settings = Settings(pool_size=1, db_connect_timeout_seconds=0.2)
    source = tmp_path / "a.csv"
    source.write_bytes(CSV)
    pool = await create_pool(database_url, settings)
    try:
        async with pool.acquire():
            with pytest.raises(Unavailable) as refused:
                await ingestion.ingest(
                    pool,
                    project_id=uuid.uuid4(),
                    user_id=uuid.uuid4(),
                    sources=[Source(path=source, name="a.csv")],
                    mode=BatchMode.LIST_MODE,
                    sheet=None,
                    settings=settings,
                )
    finally:
        await pool.close()
    assert "no database connection became free" in refused.value.detail


def test_the_pool_must_hold_the_uploads_and_the_reserve():
    assert load_settings({}).max_ingestions == 4
    with pytest.raises(SystemExit, match="SHEETFLOW_POOL_SIZE=10 is too small"):
        load_settings({"SHEETFLOW_MAX_INGESTIONS": "8"})
    sized = load_settings({"SHEETFLOW_MAX_INGESTIONS": "8", "SHEETFLOW_POOL_SIZE": "12"})
    assert (sized.max_ingestions, sized.pool_reserve, sized.pool_size) == (8, 4, 12)


async def test_an_upload_whose_connection_closed_while_its_body_arrived_is_a_lost_connection():
    """An upload holds its connection while its body arrives; when PostgreSQL goes away
    meanwhile, asyncpg takes the closed connection back into the pool and says so to its next
    use. That is a lost connection (503, retry), not a bug (500): `tests/faults/test_faults.py`
    shows it end to end (`pg_restart`, round 0 of seed 5, answered 500 before)."""
    released = asyncpg.InterfaceError(
        "cannot call Connection.fetchrow(): connection has been released back to the pool"
    )
    assert db.connection_lost(released)
    assert not db.connection_lost(asyncpg.InterfaceError("cannot perform operation: another"))
    assert not db.connection_lost(TimeoutError())  # no free connection, or no answer in time
