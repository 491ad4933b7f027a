"""HTTP fixtures: the real app (lifespan and all) on a fresh database, an httpx client on the
same event loop, and tokens for as many users as a test needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from service.api.app import create_app
from service.api.auth import issue_token
from service.db import Pool
from service.settings import Settings

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret=SECRET)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[Litestar]:
    """The app's lifespan, entered and exited in one task of its own (anyio's cancel scopes
    refuse to be exited from another task, as a fixture's teardown may be)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await task


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to `app` in-process, on this event loop."""
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sheetflow.test") as c:
            yield c


def http_scope(method: str, path: str, headers: dict[str, str]) -> dict[str, object]:
    """The ASGI scope of a request as uvicorn builds it, for tests that call the app
    themselves (to hang up at a moment of their choosing, which httpx cannot)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (name.lower().encode(), value.encode())
            for name, value in headers.items()
            if name.lower() != "transfer-encoding"
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("sheetflow.test", 80),
    }


async def counts(pool: Pool) -> tuple[int, int]:
    """How many batches and rows the database holds: an upload refused leaves both as they were."""
    return (
        await pool.fetchval("SELECT count(*) FROM ingestion_batches"),
        await pool.fetchval("SELECT count(*) FROM ingestion_rows"),
    )


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[Litestar]:
    async with lifespan(create_app(settings, database_url)) as app:
        yield app


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sheetflow.test") as client:
        yield client


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., str]:
    def make(subject: str, **claims: str) -> str:
        return issue_token(settings, subject, **claims)

    return make


@pytest.fixture
def auth(token_for: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    """Headers that authenticate as `subject`."""

    def headers(subject: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(subject)}"}

    return headers
