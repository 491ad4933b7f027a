"""A project deleted (or archived) while an upload into it runs (issue 14, item 4).

Both orders are forced, without sleeping on time: the delete committed inside the upload's
transaction (from `on_created`, on a connection of its own), and the delete started just
before the upload finishes its batch, where it must wait for the upload's COMMIT and then
cascade to the new batch. Either way no live batch may be left under a deleted project."""

from __future__ import annotations

import asyncio

import pytest

from service import errors
from service.entities import ProjectStatus
from service.store import batches, projects
from tests.test_ingestion import csv_file, owner_and_project, run, stored


async def live_batches_under_deleted_projects(pool):
    return await pool.fetchval(
        "SELECT count(*) FROM ingestion_batches AS b JOIN projects AS p ON p.id = b.project_id"
        " WHERE b.deleted_at IS NULL AND p.deleted_at IS NOT NULL"
    )


async def blocked_or_done(pool, task):
    """Wait until `task` has ended or waits on a lock (another backend's state: polled)."""
    async with asyncio.timeout(30):
        while not task.done():
            if await pool.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                return
            await asyncio.sleep(0.01)


async def test_a_delete_committed_during_the_upload_makes_it_a_404_storing_nothing(pool, tmp_path):
    owner, project = await owner_and_project(pool)

    async def delete_meanwhile(conn, batch):
        assert await projects.soft_delete(pool, owner.id, project.id)

    with pytest.raises(errors.NotFound, match="deleted during the upload"):
        await run(pool, project, [csv_file(tmp_path, 3_000)], on_created=delete_meanwhile)

    assert await stored(pool) == (0, 0)
    assert await projects.get(pool, owner.id, project.id) is None


async def test_a_delete_that_comes_as_the_upload_commits_waits_and_cascades(
    pool, tmp_path, monkeypatch
):
    """The delete starts while the upload is about to finish its batch: it waits for the
    upload's COMMIT (the upload's lock on the project), then hides the new batch too."""
    owner, project = await owner_and_project(pool)
    finish = batches.finish
    deleting: list[asyncio.Task[bool]] = []

    async def finish_while_deleting(conn, batch_id, **fields):
        deleting.append(asyncio.create_task(projects.soft_delete(pool, owner.id, project.id)))
        await blocked_or_done(pool, deleting[0])
        assert not deleting[0].done(), "the delete did not wait for the upload"
        return await finish(conn, batch_id, **fields)

    monkeypatch.setattr(batches, "finish", finish_while_deleting)
    batch = await run(pool, project, [csv_file(tmp_path, 3_000)])
    assert await deleting[0] is True

    assert batch.row_count == 3_000
    assert await batches.find_by_id(pool, batch.id) is None  # hidden by the cascade
    assert await live_batches_under_deleted_projects(pool) == 0
    assert (
        await pool.fetchval("SELECT deleted_by FROM ingestion_batches WHERE id = $1", batch.id)
        == owner.id
    )


async def test_an_upload_into_a_project_archived_meanwhile_stores_nothing(pool, tmp_path):
    """Archived projects take no uploads (README); archiving during one is caught at its end."""
    owner, project = await owner_and_project(pool)

    async def archive_meanwhile(conn, batch):
        await projects.update(pool, owner.id, project.id, status=ProjectStatus.ARCHIVED)

    with pytest.raises(errors.ProjectArchived):
        await run(pool, project, [csv_file(tmp_path, 100)], on_created=archive_meanwhile)
    assert await stored(pool) == (0, 0)


async def test_an_upload_into_an_archived_project_is_409_before_any_parsing(client, auth, pool):
    created = await client.post("/projects", json={"name": "old"}, headers=auth())
    url = f"/projects/{created.json()['id']}"
    await client.patch(url, json={"status": "archived"}, headers=auth())

    response = await client.post(
        f"{url}/batches",
        data={"mode": "list_mode"},
        files=[("files", ("a.csv", b"nome\nAna\n", "text/csv"))],
        headers=auth(),
    )

    assert response.status_code == 409, response.text
    assert "archived" in response.json()["detail"]
    assert await stored(pool) == (0, 0)
    await client.patch(url, json={"status": "active"}, headers=auth())
    response = await client.post(
        f"{url}/batches",
        data={"mode": "list_mode"},
        files=[("files", ("a.csv", b"nome\nAna\n", "text/csv"))],
        headers=auth(),
    )
    assert response.status_code == 201, response.text
