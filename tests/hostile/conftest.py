"""One running service per test module: the app in-process (lifespan and all) on a fresh
database of its own, shared by the module's many uploads so that each costs an upload and
not a new database. Uploads go into one project; a refused upload is shown to leave
nothing behind by counting every batch and row before and after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import msgspec
import pytest

from service import db
from service.api.app import create_app
from service.api.auth import issue_token
from service.settings import Settings
from tests.api.conftest import SECRET, counts, running
from tests.conftest import fresh_database


class Service:
    """The service under attack: an app per set of limits, all on one database."""

    def __init__(
        self, settings: Settings, database_url: str, pool: db.Pool, stack: AsyncExitStack
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.pool = pool
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {issue_token(settings, 'attacker')}"}
        self.clients: dict[tuple[tuple[str, int], ...], httpx.AsyncClient] = {}
        self.project = ""

    async def start(self) -> None:
        created = await (await self.client()).post(
            "/projects", json={"name": "hostile"}, headers=self.headers
        )
        assert created.status_code == 201, created.text
        self.project = created.json()["id"]

    async def client(self, limits: dict[str, int] | None = None) -> httpx.AsyncClient:
        key = tuple(sorted((limits or {}).items()))
        if key not in self.clients:
            settings = msgspec.structs.replace(self.settings, **dict(key))
            app = create_app(settings, self.database_url)
            self.clients[key] = await self.stack.enter_async_context(running(app))
        return self.clients[key]

    async def upload(
        self,
        files: list[tuple[str, bytes]],
        *,
        mode: str = "list_mode",
        sheet: str | None = None,
        limits: dict[str, int] | None = None,
    ) -> httpx.Response:
        client = await self.client(limits)
        return await client.post(
            f"/projects/{self.project}/batches",
            data={"mode": mode, **({"sheet": sheet} if sheet is not None else {})},
            files=[("files", (name, data, "application/octet-stream")) for name, data in files],
            headers=self.headers,
        )

    async def get(self, path: str, **params: Any) -> Any:
        response = await (await self.client()).get(path, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def stored(self) -> tuple[int, int]:
        return await counts(self.pool)


@pytest.fixture(scope="module")
async def service(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("service"), jwt_secret=SECRET)
    async with fresh_database(server_url) as url, AsyncExitStack() as stack:
        pool = await db.create_pool(url, max_size=2)
        stack.push_async_callback(pool.close)
        service = Service(settings, url, pool, stack)
        await service.start()
        yield service
