"""Test fixtures: one real PostgreSQL per session, one fresh database per test.

The server is `TEST_DATABASE_URL` when set (its role must be allowed to create databases),
otherwise an embedded PostgreSQL in a temporary directory. A template database is migrated
once with dbmate; each test gets its own copy (`CREATE DATABASE … TEMPLATE`), dropped after,
so tests are isolated even when they commit, and the app can use a real pool.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from service import db

TEMPLATE = f"sheetflow_template_{os.getpid()}"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Administrative URL of the server the tests use."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    with db.throwaway_server() as server:
        yield str(server.get_uri("postgres"))


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    url = with_database(server_url, TEMPLATE)
    db.migrate(url)
    yield url
    db.dbmate(url, "drop")


async def _admin(server_url: str) -> asyncpg.Connection:  # type: ignore[type-arg]
    return await asyncpg.connect(server_url)


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database (a copy of the template), dropped on exit."""
    name = f"test_{uuid.uuid4().hex}"
    admin = await _admin(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    finally:
        await admin.close()
    yield with_database(server_url, name)
    admin = await _admin(server_url)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test alone."""
    async with fresh_database(server_url) as url:
        yield url


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(database_url, max_size=4)
    yield pool
    await pool.close()
