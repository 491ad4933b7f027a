"""The audit trail over HTTP: every change appends an event (actor, time, kind, before and
after), read newest first and paged; the original value as uploaded stays readable."""

from __future__ import annotations

import uuid

import pytest

from service.entities import InferredType
from service.store import users
from tests.factories import make_batch, make_project


@pytest.fixture
async def owned(client, auth, pool):
    await client.get("/projects", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(
        pool,
        project=project,
        records=[
            {"nome": "Ana", "uf": "sp", "idade": 30},
            {"nome": "Bia", "uf": "rj", "idade": 41},
        ],
        types={"idade": InferredType.INTEGER},
    )
    url = f"/projects/{project.id}/batches/{batch.id}"
    page = (await client.get(url + "/rows", headers=auth())).json()
    return owner, url, [row["id"] for row in page["items"]]


async def test_every_change_is_in_the_histories_newest_first(client, auth, owned):
    owner, url, ids = owned
    row_url = f"{url}/rows/{ids[0]}"
    await client.patch(row_url, json={"data": {"uf": "SP"}}, headers=auth())
    await client.patch(row_url, json={"data": {"uf": "MG", "idade": "x"}}, headers=auth())
    await client.post(f"{url}/rows/bulk-update", json={"set": {"nome": "Zé"}}, headers=auth())
    await client.delete(f"{url}/rows/{ids[1]}", headers=auth())
    await client.post(f"{url}/rows/{ids[1]}/restore", headers=auth())
    await client.patch(url, json={"status": "completed"}, headers=auth())

    history = (await client.get(f"{row_url}/history", headers=auth())).json()

    assert (history["total"], history["limit"], history["offset"]) == (3, 50, 0)
    assert [(e["kind"], e["before"], e["after"]) for e in history["items"]] == [
        ("row.bulk_edited", {"nome": "Ana"}, {"nome": "Zé"}),
        ("row.edited", {"idade": 30, "uf": "SP"}, {"idade": "x", "uf": "MG"}),
        ("row.edited", {"uf": "sp"}, {"uf": "SP"}),
    ]
    event = history["items"][0]
    assert (event["rowId"], event["actorId"]) == (ids[0], str(owner.id))
    assert event["createdAt"].endswith("Z")
    batch_history = (await client.get(f"{url}/history", headers=auth())).json()
    assert batch_history["total"] == 7
    assert [(e["kind"], e["rowId"]) for e in batch_history["items"]][:4] == [
        ("batch.reviewed", None),
        ("row.restored", ids[1]),
        ("row.deleted", ids[1]),
        ("row.bulk_edited", ids[1]),
    ]
    reviewed = batch_history["items"][0]
    assert (reviewed["before"], reviewed["after"]) == (
        {"status": "pending_review"},
        {"status": "completed"},
    )
    ids_in_order = [e["id"] for e in batch_history["items"]]
    assert ids_in_order == sorted(ids_in_order, reverse=True)


async def test_histories_page_deterministically(client, auth, owned):
    _, url, ids = owned
    for value in range(7):
        await client.patch(f"{url}/rows/{ids[0]}", json={"data": {"idade": value}}, headers=auth())

    pages = [
        (
            await client.get(
                f"{url}/rows/{ids[0]}/history",
                params={"limit": 3, "offset": offset},
                headers=auth(),
            )
        ).json()
        for offset in (0, 3, 6)
    ]

    assert [[e["after"]["idade"] for e in page["items"]] for page in pages] == [
        [6, 5, 4],
        [3, 2, 1],
        [0],
    ]
    assert {page["total"] for page in pages} == {7}


async def test_the_original_value_as_uploaded_stays_readable(client, auth, owned):
    _, url, ids = owned
    row_url = f"{url}/rows/{ids[0]}"
    await client.patch(row_url, json={"data": {"uf": "SP"}}, headers=auth())
    await client.patch(row_url, json={"data": {"uf": "MG", "idade": None}}, headers=auth())
    await client.post(
        f"{url}/rows/bulk-update",
        json={"replace": {"field": "nome", "find": "A", "replace": "E", "match": "contains"}},
        headers=auth(),
    )

    now = (await client.get(row_url, headers=auth())).json()
    original = await client.get(row_url, params={"original": "true"}, headers=auth())

    assert now["data"] == {"nome": "Ena", "uf": "MG", "idade": None}
    assert original.json()["data"] == {"nome": "Ana", "uf": "sp", "idade": 30}
    assert original.json()["version"] == now["version"] == 4
    untouched = await client.get(f"{url}/rows/{ids[1]}", params={"original": True}, headers=auth())
    assert untouched.json()["data"] == {"nome": "Bia", "uf": "rj", "idade": 41}


async def test_a_deleted_rows_history_is_readable_and_others_are_404(client, auth, owned):
    _, url, ids = owned
    await client.delete(f"{url}/rows/{ids[1]}", headers=auth())

    history = await client.get(f"{url}/rows/{ids[1]}/history", headers=auth())

    assert [e["kind"] for e in history.json()["items"]] == ["row.deleted"]
    assert (
        await client.get(f"{url}/rows/{uuid.uuid4()}/history", headers=auth())
    ).status_code == 404
    assert (await client.get(f"{url}/rows/nope/history", headers=auth())).status_code == 400


async def test_the_trail_of_a_failed_change_is_empty(client, auth, owned):
    _, url, ids = owned

    refused = await client.patch(
        f"{url}/rows/{ids[0]}", json={"data": {"uf": "SP", "nope": 1}}, headers=auth()
    )

    assert refused.status_code == 422
    assert (await client.get(f"{url}/history", headers=auth())).json()["total"] == 0
