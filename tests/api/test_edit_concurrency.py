"""Edits under concurrency, over HTTP: optimistic versions let exactly one of many writers of
the same version win; edits racing a review land before the verdict or get 409; the batch's
counts always equal a recount."""

from __future__ import annotations

import asyncio
import random

import pytest

from service.entities import InferredType, RowStatus
from service.ingest import validation
from service.store import users
from tests.factories import make_batch, make_project

WRITERS = 20


@pytest.fixture
async def owned(client, auth, pool):
    await client.get("/projects", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    count = 30
    batch = await make_batch(
        pool,
        project=project,
        records=[{"n": index, "idade": index if index % 3 else "?"} for index in range(count)],
        statuses=[RowStatus.VALID if index % 3 else RowStatus.WARNING for index in range(count)],
        messages=[
            [] if index % 3 else [validation.type_mismatch("idade", InferredType.INTEGER)]
            for index in range(count)
        ],
        types={"idade": InferredType.INTEGER},
    )
    url = f"/projects/{project.id}/batches/{batch.id}"
    page = (await client.get(url + "/rows", params={"limit": 100}, headers=auth())).json()
    return batch, url, [row["id"] for row in page["items"]]


async def _recount(pool, batch_id):
    rows = await pool.fetch(
        "SELECT status::text, count(*) FROM ingestion_rows"
        " WHERE batch_id = $1 AND deleted_at IS NULL GROUP BY status",
        batch_id,
    )
    return {"valid": 0, "warning": 0, "error": 0} | {r[0]: r[1] for r in rows}


async def test_of_20_concurrent_writers_of_one_version_exactly_one_wins(client, auth, owned):
    _, url, ids = owned
    row_url = f"{url}/rows/{ids[4]}"

    for version in (1, 2, 3):
        answers = await asyncio.gather(
            *(
                client.patch(
                    row_url,
                    json={"data": {"n": f"writer {writer} of version {version}"}},
                    headers=auth() | {"If-Match": f'"{version}"'},
                )
                for writer in range(WRITERS)
            )
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] + [412] * (WRITERS - 1), [a.text for a in answers]
        (winner,) = [answer for answer in answers if answer.status_code == 200]
        assert winner.headers["etag"] == f'"{version + 1}"'
        row = (await client.get(row_url, headers=auth())).json()
        assert row["data"]["n"] == winner.json()["data"]["n"]
        assert row["version"] == version + 1

    history = (await client.get(f"{row_url}/history", headers=auth())).json()
    assert history["total"] == 3
    assert [e["before"]["n"] for e in history["items"]][-1] == 4


@pytest.mark.parametrize("seed", range(4))
async def test_edits_racing_a_review_land_before_the_verdict_or_get_409(
    client, auth, owned, pool, seed
):
    batch, url, ids = owned
    chooser = random.Random(seed)
    edits = [
        ("patch", f"{url}/rows/{row_id}", {"data": {"idade": chooser.choice([7, "x", None])}})
        for row_id in chooser.sample(ids, 12)
    ] + [
        ("post", f"{url}/rows/bulk-update", {"filter": {"status": "warning"}, "set": {"idade": 1}}),
        ("delete", f"{url}/rows/{ids[0]}", None),
    ]
    requests = [*edits, ("patch", url, {"status": "completed"})]
    chooser.shuffle(requests)

    async def send(method, path, body):
        if method == "delete":
            return await client.delete(path, headers=auth())
        return await client.request(method.upper(), path, json=body, headers=auth())

    answers = await asyncio.gather(*(send(*request) for request in requests))

    by_path = {(m, p): a for (m, p, _), a in zip(requests, answers, strict=True)}
    assert by_path[("patch", url)].status_code == 200
    landed = sum(1 for (m, p, _) in edits if by_path[(m, p)].status_code in (200, 204))
    refused = sum(1 for (m, p, _) in edits if by_path[(m, p)].status_code == 409)
    assert landed + refused == len(edits), [a.text for a in answers]
    body = (await client.get(url, headers=auth())).json()
    assert body["status"] == "completed"
    assert body["statusCounts"] == await _recount(pool, batch.id)
    assert body["rowCount"] == sum(body["statusCounts"].values())
    # Every edit that landed is in the history before the verdict, none after it.
    history = (await client.get(f"{url}/history", params={"limit": 100}, headers=auth())).json()
    kinds = [event["kind"] for event in history["items"]]
    assert kinds[0] == "batch.reviewed"
    assert "batch.reviewed" not in kinds[1:]
    changed = await pool.fetchval(
        "SELECT count(*) FROM ingestion_rows WHERE batch_id = $1 AND version > 1", batch.id
    )
    assert changed == len({event["rowId"] for event in history["items"][1:]})
