"""Deadlines over HTTP: a statement past the statement timeout, an upload body that does not
arrive in time. Both are clean problems (503, 408), and neither leaves anything behind; nor
does a client that goes away in the middle of its upload's body, which is no error."""

from __future__ import annotations

import asyncio
import gc
import logging

import asyncpg
import httpx
import pytest

from service.settings import Settings
from tests.api.conftest import SECRET, http_scope


@pytest.fixture
def settings(tmp_path):
    return Settings(
        data_dir=tmp_path,
        jwt_secret=SECRET,
        statement_timeout_seconds=0.2,
        upload_body_timeout_seconds=0.5,
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


async def test_an_upload_body_that_does_not_arrive_in_time_is_a_408_and_stores_nothing(
    client, auth, pool
):
    headers = auth("owner")
    project = (await client.post("/projects", json={"name": "slow"}, headers=headers)).json()
    url = f"/projects/{project['id']}/batches"
    # Past Litestar's 1 MiB in memory, so the part being received is spooled to a file.
    csv = b"a;b\r\n" + b"1;2\r\n" * 400_000
    form = httpx.Request(
        "POST", url, data={"mode": "list_mode"}, files={"files": ("big.csv", csv, "text/csv")}
    )
    body = form.read()
    never = asyncio.Event()

    async def slow_drip():
        yield body[: len(body) - 1000]
        await never.wait()  # the rest never comes

    response = await client.post(
        url,
        content=slow_drip(),
        headers={**headers, "Content-Type": form.headers["Content-Type"]},
    )

    assert response.status_code == 408, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    assert "did not arrive within 0.5 s of its headers" in response.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM ingestion_batches") == 0
    # A spooled part left open would be closed by the collector with a ResourceWarning, which
    # this suite's warning filter turns into a failure: collect now, inside this test.
    gc.collect()


async def test_a_client_gone_before_the_end_of_its_body_is_no_error_and_stores_nothing(
    app, client, auth, pool, caplog
):
    headers = auth("owner")
    project = (await client.post("/projects", json={"name": "gone"}, headers=headers)).json()
    url = f"/projects/{project['id']}/batches"
    csv = b"a;b\r\n" + b"1;2\r\n" * 400_000  # past 1 MiB: the part is being spooled
    form = httpx.Request(
        "POST", url, data={"mode": "list_mode"}, files={"files": ("big.csv", csv, "text/csv")}
    )
    body = form.read()
    # httpx cannot hang up mid-body, so the ASGI app is called as the server would call it.
    messages = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0) if len(messages) > 1 else messages[0]

    sent = []

    async def send(message):
        sent.append(message)

    scope = http_scope("POST", url, {**headers, **form.headers})
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)

    assert sent == []  # nobody is there to read an answer
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("went away before the end of its body" in r.getMessage() for r in caplog.records)
    assert await pool.fetchval("SELECT count(*) FROM ingestion_batches") == 0
    assert (await client.get("/projects", headers=headers)).status_code == 200
    gc.collect()  # a spooled part left open would fail the suite with a ResourceWarning
