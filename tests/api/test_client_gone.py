"""Disconnect after the body: a client that sends its whole upload and goes away before the
answer gets nothing stored (spec 4.6), and a retry with its Idempotency-Key works as ever.

The ASGI app is called as uvicorn calls it (httpx cannot hang up on purpose): after the
body, `receive` answers `http.disconnect` when the client goes away. The client goes away
at once, or while the upload's first statement is blocked by a lock the test holds (the
ingestion's transaction is then open: it must roll back). Before, the upload carried on
and stored a batch for nobody."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid

import asyncpg
import httpx
import pytest

from tests.api.conftest import http_scope

CSV = b"nome;idade\r\nAna;30\r\nBia;41\r\n"


def upload_request(url: str, headers: dict[str, str]) -> tuple[dict, bytes]:
    form = httpx.Request(
        "POST", url, data={"mode": "list_mode"}, files={"files": ("a.csv", CSV, "text/csv")}
    )
    body = form.read()
    scope = http_scope("POST", url, {**headers, **form.headers})
    return scope, body


async def waiting_on_a_lock(database_url: str) -> None:
    """Until a backend of the service waits on a lock (another process's state: polled)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(30):
            while not await conn.fetchval(  # noqa: ASYNC110 (another process's state)
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ):
                await asyncio.sleep(0.01)
    finally:
        await conn.close()


@pytest.mark.parametrize("when", ["at once", "while storing"])
async def test_a_client_gone_after_its_body_leaves_nothing_and_its_retry_works(
    app, client, auth, pool, database_url, caplog, when
):
    headers = {**auth("owner"), "Idempotency-Key": str(uuid.uuid4())}
    project = (await client.post("/projects", json={"name": "gone"}, headers=auth())).json()
    url = f"/projects/{project['id']}/batches"
    scope, body = upload_request(url, headers)
    left = asyncio.Event()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await left.wait()
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    locker = await asyncpg.connect(database_url)
    try:
        with caplog.at_level(logging.INFO):
            if when == "at once":
                left.set()
                await app(scope, receive, send)
            else:
                async with locker.transaction():
                    await locker.execute("LOCK TABLE ingestion_batches IN ACCESS EXCLUSIVE MODE")
                    upload = asyncio.create_task(app(scope, receive, send))
                    await waiting_on_a_lock(database_url)  # the upload's INSERT, in its transaction
                    left.set()
                    await upload
    finally:
        await locker.close()

    assert sent == []  # nobody is there to read an answer
    assert any("went away after sending its body" in r.getMessage() for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await pool.fetchval("SELECT count(*) FROM ingestion_batches") == 0
    assert await pool.fetchval("SELECT count(*) FROM ingestion_rows") == 0
    assert await pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    # The same request again, with the same key: as if the first had never been.
    retried = await client.post(
        url,
        data={"mode": "list_mode"},
        files={"files": ("a.csv", CSV, "text/csv")},
        headers=headers,
    )
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert await pool.fetchval("SELECT count(*) FROM ingestion_batches") == 1
    gc.collect()  # a spooled part left open would fail the suite with a ResourceWarning
