"""A hostile client and a careful reviewer against what issues 18 and 19 put on main. Each
test but the authorization one (another user's batch) failed on main when it was written:
a 5xx, a key the rows hold refused, counts that disagree with the rows, an audit trail that
disagrees with itself, work or memory that grows with the batch instead of the request.
Every hole found is closed now; the tests keep them closed."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from service import queries
from service.api.app import create_app
from service.settings import Settings
from service.store import edits, users
from tests.api.conftest import SECRET, running
from tests.api.test_delivery import claim, counts, owned_batch
from tests.api.test_preview import with_schema
from tests.factories import make_batch, make_project


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/projects"), ("PATCH", "{batch}"), ("POST", "{batch}/rows/claim")],
)
async def test_a_deeply_nested_json_body_is_a_400_not_a_500(client, auth, pool, method, path):
    url = await owned_batch(client, auth, pool, 1)
    body = b"[" * 100_000 + b"]" * 100_000  # 200 kB: far below any body limit
    response = await client.request(
        method,
        path.format(batch=url),
        content=body,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "nested" in response.json()["detail"]


async def test_a_row_locked_while_a_claim_passes_it_is_still_delivered(client, auth, pool):
    url = await owned_batch(client, auth, pool, 3)
    listed = (await client.get(url + "/rows", headers=auth())).json()["items"]
    middle = uuid.UUID(listed[1]["id"])
    # Another transaction holds the middle row (as a report refused for a pending row, or an
    # edit or delete of the row, does for a moment) while a consumer claims.
    async with pool.acquire() as other, other.transaction():
        await other.execute("SELECT 1 FROM ingestion_rows WHERE id = $1 FOR UPDATE", middle)
        first = await claim(client, auth, url, 10)
    assert [row["data"]["n"] for row in first] == [0, 2]  # SKIP LOCKED: not waited for
    # The lock is gone: the row must be handed out by a later claim.
    later = await claim(client, auth, url, 10)
    assert [row["data"]["n"] for row in later] == [1]
    assert (await counts(client, auth, url))["pending"] == 0


async def upload(client, auth, project, content, **fields):
    response = await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode", **fields},
        files=[("files", ("pessoas.csv", content, "application/octet-stream"))],
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_remembered_mapping_is_the_last_completed_batchs_not_the_last_touched(
    client, auth, pool
):
    project = await with_schema(client, auth, pool, name="remembered")
    content = b"Apelido;Idade\r\nAna;30\r\n"
    older = await upload(client, auth, project, content, mapping='{"Apelido": "nome"}')
    newer = await upload(client, auth, project, content, mapping='{"Apelido": null}')
    for batch in (older, newer):
        url = f"/projects/{project['id']}/batches/{batch['id']}"
        reviewed = await client.patch(url, json={"status": "completed"}, headers=auth())
        assert reviewed.status_code == 200, reviewed.text
    # A display label on the older batch is not a newer completion.
    older_url = f"/projects/{project['id']}/batches/{older['id']}"
    labelled = await client.patch(
        older_url + "/columns", json={"idade": {"label": "Idade"}}, headers=auth()
    )
    assert labelled.status_code == 200, labelled.text
    third = await upload(client, auth, project, content)
    apelido = next(c for c in third["columnMetadata"] if c["originalHeader"] == "Apelido")
    assert (apelido["targetField"], apelido["matchedBy"]) == (None, "saved")


async def recount(pool, url):
    """The delivery counts as the live rows say they are."""
    batch_id = uuid.UUID(url.rsplit("/", 1)[1])
    found = dict(
        await pool.fetch(
            "SELECT delivery_status::text, count(*) FROM ingestion_rows"
            " WHERE batch_id = $1 AND deleted_at IS NULL GROUP BY 1",
            batch_id,
        )
    )
    return {
        "pending": found.get("pending", 0),
        "inProgress": found.get("in_progress", 0),
        "done": found.get("done", 0),
        "error": found.get("error", 0),
    }


async def test_deleting_a_delivered_row_keeps_delivery_counts_equal_to_a_recount(
    client, auth, pool
):
    url = await owned_batch(client, auth, pool, 3)
    [row, _] = await claim(client, auth, url, 2)
    done = await client.patch(
        f"{url}/rows/{row['id']}/delivery", json={"status": "done"}, headers=auth()
    )
    assert done.status_code == 200, done.text
    batch_id = uuid.UUID(url.rsplit("/", 1)[1])
    owner_id = await pool.fetchval("SELECT user_id FROM ingestion_batches WHERE id = $1", batch_id)
    for kept in ("done", "in_progress"):
        victim = await pool.fetchval(
            "SELECT id FROM ingestion_rows WHERE batch_id = $1"
            " AND delivery_status = $2::delivery_status AND deleted_at IS NULL LIMIT 1",
            batch_id,
            kept,
        )
        assert await edits.soft_delete_row(pool, batch_id, victim, owner_id)
    assert await counts(client, auth, url) == await recount(pool, url)


async def test_a_claim_is_bounded_by_max_page_bytes_and_leases_only_what_it_answers(
    database_url, token_for, pool, tmp_path
):
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, max_page_bytes=4096)
    async with running(create_app(settings, database_url)) as client:
        headers = {"Authorization": f"Bearer {token_for('owner')}"}
        await client.get("/users/me", headers=headers)
        owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
        project = await make_project(pool, owner=owner)
        records = [{"n": index, "text": "x" * 3000} for index in range(5)]
        batch = await make_batch(pool, project=project, records=records)
        url = f"/projects/{project.id}/batches/{batch.id}"
        reviewed = await client.patch(url, json={"status": "completed"}, headers=headers)
        assert reviewed.status_code == 200, reviewed.text
        claimed = await client.post(url + "/rows/claim", json={"limit": 5}, headers=headers)
        assert claimed.status_code == 200, claimed.text
        # Two rows of 3,000 characters pass 4,096 bytes: one row comes (one always does),
        # and the rows left out stay pending for the next claim.
        assert [row["data"]["n"] for row in claimed.json()["items"]] == [0]
        delivery = (await client.get(url, headers=headers)).json()["deliveryCounts"]
        assert (delivery["inProgress"], delivery["pending"]) == (1, 4)


async def matched_batch_url(client, auth, pool):
    """A batch uploaded to a project with a schema: its column `Name` matched to the field
    `nome` (by alias), so the rows hold its values under `nome`, not under `name`."""
    project = await with_schema(client, auth, pool, name="matched")
    batch = await upload(client, auth, project, b"Name;Idade\r\nAna;30\r\nBia;31\r\n")
    [name, _] = batch["columnMetadata"]
    assert (name["normalizedKey"], name["targetField"]) == ("name", "nome")
    return f"/projects/{project['id']}/batches/{batch['id']}"


async def test_where_filters_a_matched_column_by_the_key_its_values_are_under(client, auth, pool):
    url = await matched_batch_url(client, auth, pool)
    for params, expected in [({"where.nome": "Ana"}, ["Ana"]), ({"where.idade": "31"}, ["Bia"])]:
        response = await client.get(url + "/rows", params=params, headers=auth())
        assert response.status_code == 200, response.text
        assert [row["data"]["nome"] for row in response.json()["items"]] == expected


async def test_a_matched_columns_field_can_identify_the_rows(client, auth, pool):
    url = await matched_batch_url(client, auth, pool)
    response = await client.patch(url, json={"identifierFieldKey": "nome"}, headers=auth())
    assert response.status_code == 200, response.text


async def test_a_matched_columns_label_names_the_key_its_values_are_under(client, auth, pool):
    url = await matched_batch_url(client, auth, pool)
    labelled = await client.patch(
        url + "/columns", json={"nome": {"label": "Nome"}}, headers=auth()
    )
    assert labelled.status_code == 200, labelled.text
    [name, _] = labelled.json()["columnMetadata"]
    assert (name["targetField"], name["label"]) == ("nome", "Nome")
    source_key = await client.patch(url + "/columns", json={"name": {"label": "x"}}, headers=auth())
    assert source_key.status_code == 422, source_key.text


async def test_another_users_batch_is_404_whatever_the_request_says(client, auth, pool):
    """Requests that would be a 422 or a 409 on the owner's batch (unknown keys, a batch not
    completed) are a 404 for anyone else: the answer never tells that the batch exists."""
    url = await matched_batch_url(client, auth, pool)
    project_url = url.split("/batches/")[0]
    row_id = (await client.get(url + "/rows", headers=auth())).json()["items"][0]["id"]
    await client.get("/users/me", headers=auth("intruder"))
    attempts = [
        ("GET", url + "/rows?where.nope=1", None, None),
        ("GET", url + "/rows?where.idade=abc", None, None),
        ("GET", url + "/rows?q=ana&delivery=done", None, None),
        ("PATCH", url, {"identifierFieldKey": "nope"}, None),
        ("PATCH", url + "/columns", {"nope": {"label": "x"}}, None),
        ("POST", url + "/rows/claim", {"limit": 1}, None),
        ("PATCH", f"{url}/rows/{row_id}/delivery", {"status": "done"}, None),
        ("POST", project_url + "/batches/preview", None, '{"Name": "nope"}'),
    ]
    for method, target, body, mapping in attempts:
        if mapping is None:
            response = await client.request(method, target, json=body, headers=auth("intruder"))
        else:
            response = await client.post(
                target,
                data={"mode": "list_mode", "mapping": mapping},
                files=[("files", ("p.csv", b"Name\r\nAna\r\n", "text/csv"))],
                headers=auth("intruder"),
            )
        assert response.status_code == 404, (method, target, response.text)


async def lock_waiters(pool, count):
    """Until `count` backends wait on a lock (other tasks' state: polled, as
    tests/api/test_client_gone.py does)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(30):
        while await pool.fetchval(query) < count:  # noqa: ASYNC110 (another connection's state)
            await asyncio.sleep(0.01)


async def test_concurrent_renames_leave_an_audit_trail_whose_befores_follow_its_afters(
    client, auth, pool
):
    url = await owned_batch(client, auth, pool, 1, complete=False)
    batch_id = uuid.UUID(url.rsplit("/", 1)[1])
    async with pool.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM ingestion_batches WHERE id = $1 FOR UPDATE", batch_id)
        first = asyncio.create_task(client.patch(url, json={"name": "first"}, headers=auth()))
        await lock_waiters(pool, 1)
        second = asyncio.create_task(client.patch(url, json={"name": "second"}, headers=auth()))
        await lock_waiters(pool, 2)
        await transaction.commit()
    assert {(await first).status_code, (await second).status_code} == {200}
    changes = await pool.fetch(
        "SELECT before, after FROM ingestion_events"
        " WHERE batch_id = $1 AND kind = 'batch.settings_changed' ORDER BY id",
        batch_id,
    )
    assert len(changes) == 2
    assert changes[1]["before"] == changes[0]["after"]


def removed_by_filter(plan):
    """Rows a plan read and threw away, over all its nodes."""
    removed = plan.get("Rows Removed by Filter", 0) + plan.get("Rows Removed by Index Recheck", 0)
    return removed + sum(removed_by_filter(child) for child in plan.get("Plans", []))


async def test_a_claim_does_not_read_the_rows_whose_delivery_failed(client, auth, pool):
    url = await owned_batch(client, auth, pool, 2_000)
    batch_id = uuid.UUID(url.rsplit("/", 1)[1])
    owner_id = await pool.fetchval("SELECT user_id FROM ingestion_batches WHERE id = $1", batch_id)
    # Every row was claimed once; all but the last ten failed, those ten are retries (as
    # claims and reports leave them, written directly: the plan is what is measured).
    await pool.execute(
        "UPDATE ingestion_rows SET delivery_attempts = 1, delivery_status ="
        " CASE WHEN position < 1990 THEN 'error' ELSE 'pending' END::delivery_status"
        " WHERE batch_id = $1",
        batch_id,
    )
    await pool.execute(
        "UPDATE ingestion_batches SET delivery_cursor = 2000 WHERE id = $1", batch_id
    )
    await pool.execute("ANALYZE ingestion_rows")
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            found = await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.QUERIES["claim_rows"].sql,
                batch_id,
                10,  # limit
                60,  # lease seconds
                2000,  # cursor
                owner_id,
                0,  # count slot
                8 * 1024 * 1024,  # max bytes
            )
        finally:
            await transaction.rollback()
    [plan] = json.loads(found) if isinstance(found, str) else found
    assert removed_by_filter(plan["Plan"]) < 100
