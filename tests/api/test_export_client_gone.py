"""A client that goes away mid-export stops the work at once: the COPY (or the cursor) is
cancelled on the server, the transaction rolled back, the connection back in the pool.

The ASGI app is called as uvicorn calls it (httpx cannot hang up on purpose): the client
takes the first chunk of the body, then `receive` answers `http.disconnect`. Either its
`send` then stalls for good (a client gone with a full socket buffer: the cancellation lands
while the export waits to send) or it keeps returning (the cancellation lands while the
export waits for PostgreSQL)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from service.store import rows, users
from tests.api.conftest import http_scope
from tests.factories import make_batch, make_project, new_rows

ROWS = 30_000


async def export_backends(database_url: str) -> list[tuple[str, str]]:
    """(state, query) of this database's backends that run or ran an export statement."""
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetch(
            "SELECT state, query FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND (query LIKE '%export_%' OR state <> 'idle')"
        )
    finally:
        await conn.close()
    return [(record["state"], record["query"][:60]) for record in found]


@pytest.mark.parametrize("format", ["csv", "ndjson", "xlsx"])
@pytest.mark.parametrize("stalled", [True, False], ids=["send stalls", "send returns"])
async def test_a_client_gone_mid_export_stops_the_query(
    app, client, auth, pool, database_url, format, stalled
):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(pool, project=project, records=[{"a": 1}])
    await pool.execute("UPDATE ingestion_rows SET position = -1 WHERE batch_id = $1", batch.id)
    await rows.create_many(pool, new_rows(batch.id, ROWS))
    path = f"/projects/{project.id}/batches/{batch.id}/export"
    scope = http_scope("GET", path, auth("owner"))
    scope["query_string"] = f"format={format}".encode()
    left = asyncio.Event()
    never = asyncio.Event()
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await left.wait()
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and message["body"]:
            left.set()  # the client has its first bytes, and goes away
            if stalled:
                await never.wait()

    async with asyncio.timeout(60):
        await app(scope, receive, send)

    assert sent[0]["status"] == 200
    bodies = [message for message in sent if message["type"] == "http.response.body"]
    assert bodies
    assert all(message.get("more_body") for message in bodies)  # the file never ended
    if format != "xlsx":  # an XLSX is sent once whole: its query was done before
        assert sum(len(message["body"]) for message in bodies) < ROWS * 100
    # Nothing runs on for nobody: no export statement active, no transaction left open. A
    # COPY cut short closes its connection, and its backend ends at its next write (another
    # process's state: polled, briefly).
    async with asyncio.timeout(10):
        while busy := [  # noqa: ASYNC110
            found for found in await export_backends(database_url) if found[0] != "idle"
        ]:
            await asyncio.sleep(0.01)
    assert busy == []
    async with asyncio.timeout(5):
        async with app.state.pool.acquire() as conn:  # the pool has its connections back
            assert await conn.fetchval("SELECT 1") == 1
    assert app.state.pool.get_idle_size() == app.state.pool.get_size()
