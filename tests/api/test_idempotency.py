"""Idempotency-Key on the creating POSTs: a retry answers with what the first attempt made
(201, `Idempotent-Replayed: true`, nothing done again), a reused key with another request is
422, a retry while the first attempt runs is 409, and a failed attempt leaves the key free."""

from __future__ import annotations

import asyncio

import pytest

from service import ingestion
from service.api.app import create_app
from service.settings import load_settings
from service.store import idempotency
from tests.api.conftest import running

CSV = b"nome,idade\nAna,30\nBia,41\n"
KEY = "3f1c9a6e-upload-1"


class Gate:
    """Counts the calls of `ingestion.ingest` and holds the first one, once it has been
    entered, until `release` (so that a test knows an upload is in flight, without timing)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.released = asyncio.Event()
        real = ingestion.ingest

        async def gated(*args, **kwargs):
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                await self.released.wait()
            return await real(*args, **kwargs)

        monkeypatch.setattr(ingestion, "ingest", gated)


@pytest.fixture
async def project(client, auth):
    return (await client.post("/projects", json={"name": "keys"}, headers=auth())).json()


def upload(client, auth, project, *, key=KEY, content=CSV, name="p.csv", subject="owner", **form):
    headers = auth(subject)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode", **form},
        files=[("files", (name, content, "text/csv"))],
        headers=headers,
    )


async def batch_count(pool):
    return await pool.fetchval("SELECT count(*) FROM ingestion_batches")


async def test_a_retried_upload_replays_the_batch_without_ingesting_again(
    client, auth, project, pool, monkeypatch
):
    first = await upload(client, auth, project)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    gate = Gate(monkeypatch)
    gate.released.set()

    again = await upload(client, auth, project)

    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()
    assert gate.calls == 0  # answered from the record: no parsing, no worker
    assert await batch_count(pool) == 1
    # Without a key, the same upload is a new batch.
    assert (await upload(client, auth, project, key=None)).status_code == 201
    assert await batch_count(pool) == 2


async def test_a_replay_shows_the_batch_as_it_is_now_and_404_once_deleted(client, auth, project):
    first = await upload(client, auth, project)
    location = first.headers["location"]
    reviewed = await client.patch(location, json={"status": "completed"}, headers=auth())
    assert reviewed.status_code == 200

    again = await upload(client, auth, project)
    assert (again.status_code, again.json()["status"]) == (201, "completed")
    assert again.headers["idempotent-replayed"] == "true"

    assert (await client.delete(location, headers=auth())).status_code == 204
    gone = await upload(client, auth, project)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in gone.json()["detail"]
    assert "deleted" in gone.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [
        {"content": CSV + b"Cid,9\n"},
        {"name": "other.csv"},
        {"mode": "profile_mode"},
        {"sheet": "p"},
    ],
    ids=["bytes", "file name", "mode", "sheet"],
)
async def test_the_same_key_with_a_different_upload_is_422(client, auth, project, pool, change):
    assert (await upload(client, auth, project)).status_code == 201

    response = await upload(client, auth, project, **change)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in response.json()["detail"]
    assert await batch_count(pool) == 1


async def test_the_same_key_on_another_operation_is_422(client, auth, project, pool):
    assert (await upload(client, auth, project)).status_code == 201
    other = (await client.post("/projects", json={"name": "other"}, headers=auth())).json()

    assert (await upload(client, auth, other)).status_code == 422
    response = await client.post(
        "/projects", json={"name": "third"}, headers={**auth(), "Idempotency-Key": KEY}
    )
    assert response.status_code == 422
    assert await batch_count(pool) == 1


async def test_a_retry_while_the_first_upload_runs_is_409(client, auth, project, pool, monkeypatch):
    gate = Gate(monkeypatch)
    first = asyncio.create_task(upload(client, auth, project))
    await gate.entered.wait()

    retry = await upload(client, auth, project)

    assert retry.status_code == 409, retry.text
    assert retry.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in retry.json()["detail"]
    gate.released.set()
    assert (await first).status_code == 201
    replay = await upload(client, auth, project)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == (await first).json()["id"]
    assert await batch_count(pool) == 1


async def test_a_key_held_by_another_process_is_409_and_stores_nothing(client, auth, project, pool):
    """Another process's creating transaction holds the key: the upload is refused when it
    reaches its own transaction, which rolls back."""
    user_id = (await client.get("/users/me", headers=auth())).json()["id"]
    async with pool.acquire() as conn, conn.transaction():
        assert await idempotency.lock(conn, user_id, KEY)
        response = await upload(client, auth, project)
        assert response.status_code == 409, response.text
        assert await batch_count(pool) == 0

    retry = await upload(client, auth, project)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


async def test_an_attempt_that_finds_the_key_committed_meanwhile_replays_it(
    app, client, auth, settings, database_url, project, pool, monkeypatch
):
    """B passed the early check before A committed; under the lock B finds A's record, rolls
    its own batch back and answers with A's. A and B run in two apps, as in two processes."""
    gate = Gate(monkeypatch)
    async with running(create_app(settings, database_url)) as other_process:
        late = asyncio.create_task(upload(other_process, auth, project))
        await gate.entered.wait()
        first = await upload(client, auth, project)
        assert first.status_code == 201
        gate.released.set()
        replay = await late

    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert await batch_count(pool) == 1
    assert await pool.fetchval("SELECT count(DISTINCT batch_id) FROM ingestion_rows") == 1


async def test_a_failed_attempt_leaves_the_key_free(client, auth, project, pool):
    refused = await upload(client, auth, project, name="p.xlsx", content=b"PK\x03\x04broken")
    assert refused.status_code in (415, 422), refused.text

    # A database failure after the key was written rolls the key back with the batch.
    await pool.execute(
        "CREATE FUNCTION refuse_rows() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;"
        "CREATE TRIGGER refuse_rows BEFORE INSERT ON ingestion_rows "
        "FOR EACH ROW EXECUTE FUNCTION refuse_rows()"
    )
    failed = await upload(client, auth, project)
    assert failed.status_code == 500
    await pool.execute("DROP TRIGGER refuse_rows ON ingestion_rows")
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0

    response = await upload(client, auth, project)
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    assert await batch_count(pool) == 1


async def test_keys_are_per_user(client, auth, pool):
    headers = {"Idempotency-Key": KEY}
    mine = await client.post("/projects", json={"name": "same"}, headers={**auth(), **headers})
    theirs = await client.post(
        "/projects", json={"name": "same"}, headers={**auth("someone else"), **headers}
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]

    their_project = theirs.json()
    mine_batch = await upload(client, auth, mine.json(), key="batch")
    their_batch = await upload(client, auth, their_project, key="batch", subject="someone else")
    assert (mine_batch.status_code, their_batch.status_code) == (201, 201)
    assert "idempotent-replayed" not in their_batch.headers
    assert await batch_count(pool) == 2


async def test_expired_keys_are_ignored_and_purged(client, auth, project, pool):
    first = await upload(client, auth, project)
    old = await upload(client, auth, project, key="old")
    assert (first.status_code, old.status_code) == (201, 201)
    await pool.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")

    again = await upload(client, auth, project)

    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    # The key now names the new batch, and the other expired key is gone.
    keys = await pool.fetch("SELECT key, resource_id FROM idempotency_keys")
    assert [(k["key"], str(k["resource_id"])) for k in keys] == [(KEY, again.json()["id"])]


async def test_keys_are_kept_for_the_configured_time(client, auth, project, pool):
    assert (await upload(client, auth, project)).status_code == 201
    kept = await pool.fetchval("SELECT expires_at - created_at FROM idempotency_keys")
    assert kept.total_seconds() == 24 * 3600
    settings = load_settings({"SHEETFLOW_IDEMPOTENCY_TTL_SECONDS": "600"})
    assert settings.idempotency_ttl_seconds == 600


async def test_a_retried_project_create_replays_it(client, auth, pool):
    headers = {**auth(), "Idempotency-Key": KEY}
    body = {"name": "Clientes", "description": "d"}
    first = await client.post("/projects", json=body, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers

    again = await client.post("/projects", json=body, headers=headers)
    assert again.status_code == 201  # not 409: the name is taken by this very project
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()

    different = await client.post("/projects", json={**body, "name": "Outro"}, headers=headers)
    assert different.status_code == 422
    assert "Idempotency-Key" in different.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM projects") == 1

    # A refused create (the name is taken) does not spend a new key.
    fresh = {**auth(), "Idempotency-Key": "fresh"}
    assert (await client.post("/projects", json=body, headers=fresh)).status_code == 409
    renamed = await client.post("/projects", json={"name": "Novo"}, headers=fresh)
    assert renamed.status_code == 201


async def test_a_project_key_held_elsewhere_is_409(client, auth, pool):
    user_id = (await client.get("/users/me", headers=auth())).json()["id"]
    async with pool.acquire() as conn, conn.transaction():
        assert await idempotency.lock(conn, user_id, KEY)
        response = await client.post(
            "/projects", json={"name": "x"}, headers={**auth(), "Idempotency-Key": KEY}
        )
        assert response.status_code == 409
    assert await pool.fetchval("SELECT count(*) FROM projects") == 0


@pytest.mark.parametrize(
    "key",
    ["", "   ", "k" * 256, b"tab\there", b"bell\x07", "chave-\u00e9".encode("latin-1")],
    ids=["empty", "blank", "too long", "tab", "control", "not ascii"],
)
async def test_a_malformed_key_is_400(client, auth, project, pool, key):
    response = await upload(client, auth, project, key=key)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in response.json()["detail"]
    created = await client.post(
        "/projects", json={"name": "n"}, headers={**auth(), "Idempotency-Key": key}
    )
    assert created.status_code == 400
    assert await batch_count(pool) == 0


async def test_the_longest_key_is_accepted(client, auth, project):
    assert (await upload(client, auth, project, key="k" * 255)).status_code == 201


async def test_the_openapi_documents_the_header_and_its_answers(client):
    document = (await client.get("/schema/openapi.json")).json()
    for path in ("/projects", "/projects/{project_id}/batches"):
        operation = document["paths"][path]["post"]
        [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert (header["in"], header["required"]) == ("header", False)
        assert {"409", "422"} <= set(operation["responses"])
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
