"""Rows deleted one by one: pages stay exact and deterministic across the gaps they leave
(found by position, however deep), totals and field statistics follow."""

from __future__ import annotations

import pytest

from service.entities import RowStatus
from service.store import users
from tests.factories import make_batch, make_project

COUNT = 12


@pytest.fixture
async def owned(client, auth, pool):
    await client.get("/projects", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(
        pool,
        project=project,
        records=[{"n": index, "par": "sim" if index % 2 == 0 else None} for index in range(COUNT)],
        statuses=[
            RowStatus.WARNING if index % 3 == 0 else RowStatus.VALID for index in range(COUNT)
        ],
    )
    url = f"/projects/{project.id}/batches/{batch.id}"
    page = (await client.get(url + "/rows", params={"limit": 100}, headers=auth())).json()
    return url, [row["id"] for row in page["items"]]


async def _all_pages(client, auth, url, limit, **params):
    """Every row by following `next`, and by computing offsets, which must agree."""
    seen, offsets = [], []
    path = f"{url}/rows?limit={limit}" + "".join(f"&{k}={v}" for k, v in params.items())
    while path:
        page = (await client.get(path, headers=auth())).json()
        seen.extend(row["data"]["n"] for row in page["items"])
        offsets.append((page["offset"], page["total"]))
        path = page["next"]
    return seen, offsets


@pytest.mark.parametrize("deleted", [[0], [11], [3, 4, 5], [0, 1, 2, 7, 10, 11], list(range(12))])
@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_pages_skip_deleted_rows_at_any_offset(client, auth, owned, deleted, limit):
    url, ids = owned
    for index in deleted:
        assert (await client.delete(f"{url}/rows/{ids[index]}", headers=auth())).status_code == 204
    live = [index for index in range(COUNT) if index not in deleted]

    seen, _ = await _all_pages(client, auth, url, limit)

    assert seen == live
    for offset in range(len(live) + 1):
        page = (
            await client.get(
                f"{url}/rows", params={"limit": limit, "offset": offset}, headers=auth()
            )
        ).json()
        assert [row["data"]["n"] for row in page["items"]] == live[offset : offset + limit]
        assert page["total"] == len(live)
    warnings, _ = await _all_pages(client, auth, url, limit, status="warning")
    assert warnings == [index for index in live if index % 3 == 0]


async def test_a_restored_row_comes_back_in_its_place(client, auth, owned):
    url, ids = owned
    for index in (2, 5, 6):
        await client.delete(f"{url}/rows/{ids[index]}", headers=auth())
    await client.post(f"{url}/rows/{ids[5]}/restore", headers=auth())

    seen, _ = await _all_pages(client, auth, url, 4)

    assert seen == [0, 1, 3, 4, 5, 7, 8, 9, 10, 11]
    body = (await client.get(url, headers=auth())).json()
    assert body["rowCount"] == 10
    assert sum(body["statusCounts"].values()) == 10


async def test_field_statistics_follow_edits_and_deletes(client, auth, owned):
    url, ids = owned
    before = (await client.get(url + "/fields", headers=auth())).json()
    par = next(item for item in before["items"] if item["normalizedKey"] == "par")
    assert (before["totalRows"], par["presentCount"], par["emptyCount"]) == (12, 6, 6)

    await client.delete(f"{url}/rows/{ids[0]}", headers=auth())
    await client.patch(f"{url}/rows/{ids[1]}", json={"data": {"par": "nao"}}, headers=auth())
    after = (await client.get(url + "/fields", headers=auth())).json()

    par = next(item for item in after["items"] if item["normalizedKey"] == "par")
    assert (after["totalRows"], par["presentCount"], par["emptyCount"]) == (11, 6, 5)
    assert par["distinctCount"] == 2
