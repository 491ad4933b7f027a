"""Fields over HTTP, on uploaded batches: statistics of keys that no row fills, and statistics
that take longer than the statement timeout to compute."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from service import fields, queries
from service.api.app import create_app
from service.settings import Settings
from tests.api.conftest import SECRET, running

# A trailing column nobody filled, and a blank header that becomes `column_c`.
CSV = "nome;idade;;Observações\r\nAna;30;;\r\nBia;41;;\r\nCaio;;;\r\n".encode()


@pytest.fixture
async def project(client, auth):
    return (await client.post("/projects", json={"name": "fields"}, headers=auth())).json()


async def upload(client, auth, project, name, data):
    response = await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode"},
        files=[("files", (name, data, "text/csv"))],
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return response.headers["location"]


async def test_a_key_no_row_fills_has_zero_present_and_every_row_empty(client, auth, project):
    url = await upload(client, auth, project, "pessoas.csv", CSV)

    response = await client.get(url + "/fields", headers=auth())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalRows"] == 3
    assert [
        (f["normalizedKey"], f["presentCount"], f["emptyCount"], f["distinctCount"])
        for f in body["items"]
    ] == [
        ("nome", 3, 0, 3),
        ("idade", 2, 1, 2),
        ("column_c", 0, 3, 0),
        ("observacoes", 0, 3, 0),
    ]
    for key in ("column_c", "observacoes"):
        values = await client.get(f"{url}/fields/{key}/values", headers=auth())
        assert values.status_code == 200, values.text
        assert values.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_statistics_are_saved_after_the_upload_without_a_request(client, auth, project, app):
    url = await upload(client, auth, project, "pessoas.csv", CSV)
    await fields.settled(app.state.pool)

    saved = await app.state.pool.fetchval(
        "SELECT field_stats FROM ingestion_batches WHERE id = $1::uuid", url.rsplit("/", 1)[1]
    )
    assert sorted((s["key"], s["present_count"], s["empty_count"]) for s in saved) == [
        ("column_c", 0, 3),
        ("idade", 2, 1),
        ("nome", 3, 0),
        ("observacoes", 0, 3),
    ]


async def test_statistics_longer_than_the_statement_timeout_are_200(
    database_url, tmp_path, token_for
):
    """A computation that takes longer than a request's statement timeout (here: one that
    another session is running, holding the batch's lock past it) is waited for under the
    ingestion's limit, not answered 503."""
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, statement_timeout_seconds=0.2)
    app = create_app(settings, database_url)
    headers = {"Authorization": f"Bearer {token_for('owner')}"}
    async with running(app) as client:
        project = (await client.post("/projects", json={"name": "slow"}, headers=headers)).json()
        url = await upload(client, lambda: headers, project, "pessoas.csv", CSV)
        pool = app.state.pool
        await fields.settled(pool)
        batch_id = url.rsplit("/", 1)[1]
        # As if the computation after the upload had not run yet: a request must make it.
        await pool.execute("UPDATE ingestion_batches SET field_stats = NULL")
        locker = await asyncpg.connect(database_url)
        try:
            async with locker.transaction():
                await locker.execute(queries.QUERIES["lock_field_stats"].sql, batch_id)
                request = asyncio.create_task(client.get(url + "/fields", headers=headers))
                # Hold the lock until the request has waited twice the statement timeout.
                waited = (
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                    " AND clock_timestamp() - query_start > interval '400 milliseconds'"
                )
                while not await locker.fetchval(waited):
                    done, _ = await asyncio.wait({request}, timeout=0.02)
                    if done:  # answered while the lock was still held: a 503 then
                        break
            response = await request
        finally:
            await locker.close()

    assert response.status_code == 200, response.text
    assert [
        (f["normalizedKey"], f["presentCount"], f["emptyCount"], f["distinctCount"])
        for f in response.json()["items"]
    ] == [
        ("nome", 3, 0, 3),
        ("idade", 2, 1, 2),
        ("column_c", 0, 3, 0),
        ("observacoes", 0, 3, 0),
    ]


async def test_concurrent_first_requests_share_one_computation(
    client, auth, project, app, database_url, caplog
):
    """Two first requests for a batch's statistics, both waiting while the computation runs
    elsewhere (here: its lock held by another session), compute them once between them: the
    first to get the lock computes and saves, the other re-checks under the lock and reads
    what was saved. Counted by the log line each computation writes."""
    url = await upload(client, auth, project, "pessoas.csv", CSV)
    pool = app.state.pool
    await fields.settled(pool)
    batch_id = url.rsplit("/", 1)[1]
    await pool.execute(
        "UPDATE ingestion_batches SET field_stats = NULL WHERE id = $1::uuid", batch_id
    )
    computed = f"computed the field statistics of batch {batch_id}"
    locker = await asyncpg.connect(database_url)
    try:
        with caplog.at_level(logging.INFO, logger="sheetflow.fields"):
            async with locker.transaction():
                await locker.execute(queries.QUERIES["lock_field_stats"].sql, batch_id)
                requests = [
                    asyncio.create_task(client.get(url + "/fields", headers=auth()))
                    for _ in range(2)
                ]
                # Both requests wait for the lock before it is let go.
                waiting = (
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event = 'advisory' AND datname = current_database()"
                )
                while await locker.fetchval(waiting) < 2:
                    done, _ = await asyncio.wait(requests, timeout=0.02)
                    assert not done, [task.result().text for task in done]
            responses = await asyncio.gather(*requests)
    finally:
        await locker.close()

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[0].json() == responses[1].json()
    assert [r.getMessage() for r in caplog.records].count(computed) == 1
