"""Deadlines over HTTP: a statement past the statement timeout is a clean problem (503)."""

from __future__ import annotations

import asyncpg
import pytest

from service.settings import Settings
from tests.api.conftest import SECRET


@pytest.fixture
def settings(tmp_path):
    return Settings(
        data_dir=tmp_path,
        jwt_secret=SECRET,
        statement_timeout_seconds=0.2,
    )


async def test_a_statement_past_the_timeout_is_a_503_and_the_pool_carries_on(
    client, auth, database_url
):
    headers = auth("owner")
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    locker = await asyncpg.connect(database_url)
    try:
        async with locker.transaction():
            # The listing now waits for the lock until PostgreSQL cancels it.
            await locker.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
            response = await client.get("/projects", headers=headers)
    finally:
        await locker.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "the database did not answer in time; try again shortly"
    assert (await client.get("/projects", headers=headers)).status_code == 200
