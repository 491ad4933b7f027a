"""Restore over HTTP: a soft-deleted batch comes back with its rows; a project comes back with
exactly the batches its deletion hid (a batch deleted before it stays deleted)."""

from __future__ import annotations

from service.store import users
from tests.factories import make_batch, make_project


async def _owner(client, auth, pool):
    await client.get("/projects", headers=auth())
    return await users.upsert_by_external_id(pool, "owner", email=None, name=None)


async def _live_batches(client, auth, project_id):
    page = (await client.get(f"/projects/{project_id}/batches", headers=auth())).json()
    return {item["id"] for item in page["items"]}


async def test_a_deleted_batch_is_restored_with_its_rows(client, auth, pool):
    owner = await _owner(client, auth, pool)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(pool, project=project, records=[{"a": 1}, {"a": 2}, {"a": 3}])
    url = f"/projects/{project.id}/batches/{batch.id}"
    row = (await client.get(url + "/rows", headers=auth())).json()["items"][1]
    await client.delete(f"{url}/rows/{row['id']}", headers=auth())
    assert (await client.delete(url, headers=auth())).status_code == 204
    assert (await client.get(url, headers=auth())).status_code == 404

    restored = await client.post(url + "/restore", headers=auth())

    assert restored.status_code == 200, restored.text
    assert (restored.json()["id"], restored.json()["rowCount"]) == (str(batch.id), 2)
    page = (await client.get(url + "/rows", headers=auth())).json()
    assert [r["data"]["a"] for r in page["items"]] == [1, 3]
    history = (await client.get(url + "/history", headers=auth())).json()
    assert [e["kind"] for e in history["items"]] == [
        "batch.restored",
        "batch.deleted",
        "row.deleted",
    ]
    again = await client.post(url + "/restore", headers=auth())
    assert again.status_code == 409
    assert "not deleted" in again.json()["detail"]


async def test_a_project_restores_only_the_batches_its_deletion_hid(client, auth, pool):
    owner = await _owner(client, auth, pool)
    project = await make_project(pool, owner=owner, name="Censo")
    kept = await make_batch(pool, project=project, records=[{"a": 1}])
    also_kept = await make_batch(pool, project=project, records=[{"a": 2}])
    deleted_before = await make_batch(pool, project=project, records=[{"a": 3}])
    base = f"/projects/{project.id}"
    await client.delete(f"{base}/batches/{deleted_before.id}", headers=auth())
    assert (await client.delete(base, headers=auth())).status_code == 204
    assert (await client.get(base, headers=auth())).status_code == 404

    restored = await client.post(base + "/restore", headers=auth())

    assert restored.status_code == 200, restored.text
    assert restored.json()["name"] == "Censo"
    assert await _live_batches(client, auth, project.id) == {str(kept.id), str(also_kept.id)}
    history = (await client.get(f"{base}/batches/{kept.id}/history", headers=auth())).json()
    assert [(e["kind"], e["after"]) for e in history["items"]] == [
        ("batch.restored", {"cascade": "project"}),
        ("batch.deleted", {"cascade": "project"}),
    ]
    # The batch deleted on its own can still be restored on its own.
    alone = await client.post(f"{base}/batches/{deleted_before.id}/restore", headers=auth())
    assert alone.status_code == 200
    assert len(await _live_batches(client, auth, project.id)) == 3
    assert (await client.post(base + "/restore", headers=auth())).status_code == 409


async def test_a_project_deleted_twice_restores_each_time_its_own_batches(client, auth, pool):
    owner = await _owner(client, auth, pool)
    project = await make_project(pool, owner=owner)
    first = await make_batch(pool, project=project, records=[{"a": 1}])
    second = await make_batch(pool, project=project, records=[{"a": 2}])
    base = f"/projects/{project.id}"
    await client.delete(base, headers=auth())
    await client.post(base + "/restore", headers=auth())
    await client.delete(f"{base}/batches/{first.id}", headers=auth())
    await client.delete(base, headers=auth())

    await client.post(base + "/restore", headers=auth())

    assert await _live_batches(client, auth, project.id) == {str(second.id)}


async def test_a_project_whose_name_was_taken_meanwhile_is_409(client, auth, pool):
    owner = await _owner(client, auth, pool)
    project = await make_project(pool, owner=owner, name="Censo")
    await client.delete(f"/projects/{project.id}", headers=auth())
    await make_project(pool, owner=owner, name="Censo")

    answer = await client.post(f"/projects/{project.id}/restore", headers=auth())

    assert answer.status_code == 409
    assert "name" in answer.json()["detail"]
    assert (await client.get(f"/projects/{project.id}", headers=auth())).status_code == 404


async def test_only_the_owner_restores(client, auth, pool):
    owner = await _owner(client, auth, pool)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(pool, project=project, records=[{"a": 1}])
    await client.delete(f"/projects/{project.id}/batches/{batch.id}", headers=auth())
    await client.delete(f"/projects/{project.id}", headers=auth())

    for path in (
        f"/projects/{project.id}/restore",
        f"/projects/{project.id}/batches/{batch.id}/restore",
    ):
        answer = await client.post(path, headers=auth("intruder"))
        assert answer.status_code == 404, path
    assert (await client.post(f"/projects/{project.id}/restore", headers=auth())).status_code == 200
