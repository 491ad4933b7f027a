"""Delivery over HTTP: claims lease rows of a completed batch in source order, each to one
consumer; reports record outcomes (`done` final, `error` back to `pending`); the batch counts
them; many consumers at once deliver every row exactly once."""

from __future__ import annotations

import asyncio
import collections
import random
import uuid

import pytest

from service.api.app import create_app
from service.settings import Settings
from service.store import users
from tests.api.conftest import SECRET, running
from tests.factories import make_batch, make_project


async def owned_batch(client, auth, pool, count, *, complete=True):
    await client.get("/users/me", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(
        pool, project=project, records=[{"n": index} for index in range(count)]
    )
    url = f"/projects/{project.id}/batches/{batch.id}"
    if complete:
        reviewed = await client.patch(url, json={"status": "completed"}, headers=auth())
        assert reviewed.status_code == 200, reviewed.text
    return url


async def claim(client, auth, url, limit, lease=300):
    response = await client.post(
        url + "/rows/claim", json={"limit": limit, "leaseSeconds": lease}, headers=auth()
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def report(client, auth, url, row_id, status, **more):
    return await client.patch(
        f"{url}/rows/{row_id}/delivery", json={"status": status, **more}, headers=auth()
    )


async def counts(client, auth, url):
    return (await client.get(url, headers=auth())).json()["deliveryCounts"]


async def test_claims_lease_rows_in_source_order_and_count_them(client, auth, pool):
    url = await owned_batch(client, auth, pool, 5)
    assert await counts(client, auth, url) == {
        "pending": 5,
        "inProgress": 0,
        "done": 0,
        "error": 0,
    }
    first = await claim(client, auth, url, 2, lease=60)
    second = await claim(client, auth, url, 2)
    assert [row["data"]["n"] for row in first + second] == [0, 1, 2, 3]
    delivery = first[0]["delivery"]
    assert (delivery["status"], delivery["attempts"], delivery["leaseUntil"] is not None) == (
        "in_progress",
        1,
        True,
    )
    assert await counts(client, auth, url) == {
        "pending": 1,
        "inProgress": 4,
        "done": 0,
        "error": 0,
    }
    listed = await client.get(url + "/rows", params={"delivery": "in_progress"}, headers=auth())
    assert [row["data"]["n"] for row in listed.json()["items"]] == [0, 1, 2, 3]
    one = (await client.get(f"{url}/rows/{first[1]['id']}", headers=auth())).json()
    assert (one["delivery"]["status"], one["delivery"]["leaseUntil"]) == (
        "in_progress",
        first[1]["delivery"]["leaseUntil"],
    )
    assert [row["data"]["n"] for row in await claim(client, auth, url, 10)] == [4]
    assert await claim(client, auth, url, 10) == []


async def test_reports_follow_the_rules(client, auth, pool):
    url = await owned_batch(client, auth, pool, 3)
    rows = await claim(client, auth, url, 2)
    done = await report(client, auth, url, rows[0]["id"], "done", step="submitted")
    assert done.status_code == 200, done.text
    assert done.json()["delivery"] | {"updatedAt": None} == {
        "status": "done",
        "message": None,
        "step": "submitted",
        "attempts": 1,
        "leaseUntil": None,
        "updatedAt": None,
    }
    again = await report(client, auth, url, rows[0]["id"], "pending")
    assert again.status_code == 409
    assert "final" in again.json()["detail"]

    failed = await report(client, auth, url, rows[1]["id"], "error", message="CPF recusado")
    assert failed.json()["delivery"]["message"] == "CPF recusado"
    assert (await report(client, auth, url, rows[1]["id"], "done")).status_code == 409
    assert await counts(client, auth, url) == {
        "pending": 1,
        "inProgress": 0,
        "done": 1,
        "error": 1,
    }
    never_claimed = (await client.get(url + "/rows", headers=auth())).json()["items"][2]
    assert (await report(client, auth, url, never_claimed["id"], "done")).status_code == 409

    retry = await report(client, auth, url, rows[1]["id"], "pending")
    assert retry.json()["delivery"]["message"] == "CPF recusado"  # left out: kept
    # The retried row comes first again: source order.
    reclaimed = await claim(client, auth, url, 5)
    assert [(row["data"]["n"], row["delivery"]["attempts"]) for row in reclaimed] == [
        (1, 2),
        (2, 1),
    ]
    listed = await client.get(url + "/rows", params={"delivery": "done"}, headers=auth())
    assert [row["id"] for row in listed.json()["items"]] == [rows[0]["id"]]
    history = await pool.fetch(
        "SELECT kind, before, after FROM ingestion_events WHERE row_id = $1 ORDER BY id",
        uuid.UUID(rows[1]["id"]),
    )
    assert [(e["kind"], e["before"]["status"], e["after"]["status"]) for e in history] == [
        ("row.delivery_claimed", "pending", "in_progress"),
        ("row.delivery_reported", "in_progress", "error"),
        ("row.delivery_reported", "error", "pending"),
        ("row.delivery_claimed", "pending", "in_progress"),
    ]
    assert history[1]["after"] == {"status": "error", "message": "CPF recusado", "step": None}
    assert history[3]["after"]["attempts"] == 2


async def test_a_lease_that_ran_out_is_claimed_again(client, auth, pool):
    url = await owned_batch(client, auth, pool, 3)
    [row] = await claim(client, auth, url, 1)
    await pool.execute(
        "UPDATE ingestion_rows SET delivery_lease_until = now() - interval '1 second'"
        " WHERE id = $1",
        uuid.UUID(row["id"]),
    )
    again = await claim(client, auth, url, 2)
    assert [(r["id"], r["delivery"]["attempts"]) for r in again] == [
        (row["id"], 2),
        (again[1]["id"], 1),
    ]
    assert (await counts(client, auth, url))["inProgress"] == 2
    # The first consumer, only slow, is fenced off by the attempt its claim handed out.
    late = await report(client, auth, url, row["id"], "done", attempt=1)
    assert late.status_code == 409
    assert "claimed again" in late.json()["detail"]
    current = await report(client, auth, url, row["id"], "done", attempt=2)
    assert current.status_code == 200, current.text


async def test_rows_a_claim_leaves_out_or_skips_are_claimed_next_in_source_order(
    database_url, token_for, pool, tmp_path
):
    """The cursor stops at the first never-claimed row a claim did not take (left out for the
    answer's size, or locked by another transaction), and a later claim starts there, without
    handing out again the rows claimed past it."""
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, max_page_bytes=4096)
    async with running(create_app(settings, database_url)) as client:
        headers = {"Authorization": f"Bearer {token_for('owner')}"}
        await client.get("/users/me", headers=headers)
        owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
        project = await make_project(pool, owner=owner)
        sizes = [3000, 10, 3000, 10, 10, 10]  # 0 and 2 with the small rows after them: 4 kB
        batch = await make_batch(
            pool,
            project=project,
            records=[{"n": n, "t": "x" * size} for n, size in enumerate(sizes)],
        )
        url = f"/projects/{project.id}/batches/{batch.id}"
        reviewed = await client.patch(url, json={"status": "completed"}, headers=headers)
        assert reviewed.status_code == 200, reviewed.text

        def auth(_subject="owner"):
            return headers

        taken = []
        async with pool.acquire() as other, other.transaction():
            await other.execute(
                "SELECT 1 FROM ingestion_rows WHERE batch_id = $1 AND data ->> 'n' = '3'"
                " FOR UPDATE",
                batch.id,
            )
            taken.append([row["data"]["n"] for row in await claim(client, auth, url, 10)])
            taken.append([row["data"]["n"] for row in await claim(client, auth, url, 10)])
        taken.append([row["data"]["n"] for row in await claim(client, auth, url, 10)])
        assert taken == [[0, 1], [2, 4, 5], [3]]
        assert await claim(client, auth, url, 10) == []
        assert (await counts(client, auth, url))["inProgress"] == len(sizes)
        # Every never-claimed row was read: the cursor is past the batch's last row.
        assert await pool.fetchval(
            "SELECT delivery_cursor FROM ingestion_batches WHERE id = $1", batch.id
        ) == 1 + await pool.fetchval(
            "SELECT max(position) FROM ingestion_rows WHERE batch_id = $1", batch.id
        )


async def test_only_a_completed_batch_delivers(client, auth, pool):
    url = await owned_batch(client, auth, pool, 2, complete=False)
    response = await client.post(url + "/rows/claim", json={}, headers=auth())
    assert response.status_code == 409
    row_id = (await client.get(url + "/rows", headers=auth())).json()["items"][0]["id"]
    assert (await report(client, auth, url, row_id, "done")).status_code == 409
    assert (await client.get(url, headers=auth())).json()["deliveryCounts"] is None


@pytest.mark.parametrize(
    "body",
    [{"limit": 0}, {"limit": 101}, {"leaseSeconds": 0}, {"leaseSeconds": 86_401}, {"x": 1}],
)
async def test_bad_claims_are_400(client, auth, pool, body):
    url = await owned_batch(client, auth, pool, 1)
    response = await client.post(url + "/rows/claim", json=body, headers=auth())
    assert response.status_code == 400


async def test_unknown_row_is_404(client, auth, pool):
    url = await owned_batch(client, auth, pool, 1)
    assert (await report(client, auth, url, uuid.uuid4(), "done")).status_code == 404


async def test_eight_consumers_deliver_every_row_exactly_once(client, auth, pool):
    """A property of the final state, whatever the interleaving: 8 consumers claim batches of
    random sizes from 10,000 rows, give some back or fail them and retry them, and every row
    ends `done`, reported done exactly once, never held by two consumers at a time."""
    count = 10_000
    url = await owned_batch(client, auth, pool, count)
    held: dict[str, int] = {}
    done = collections.Counter[str]()
    overlaps: list[str] = []

    async def consumer(number: int) -> None:
        chance = random.Random(number)
        while rows := await claim(client, auth, url, chance.randint(1, 60)):
            for row in rows:
                if row["id"] in held:
                    overlaps.append(row["id"])
                held[row["id"]] = number
            for row in rows:
                del held[row["id"]]
                roll = chance.random()
                if roll < 0.03:
                    outcome = await report(client, auth, url, row["id"], "pending")
                elif roll < 0.06:
                    failed = await report(client, auth, url, row["id"], "error")
                    assert failed.status_code == 200, failed.text
                    outcome = await report(client, auth, url, row["id"], "pending")
                else:
                    outcome = await report(client, auth, url, row["id"], "done")
                    done[row["id"]] += 1
                assert outcome.status_code == 200, outcome.text

    await asyncio.gather(*(consumer(number) for number in range(8)))
    assert overlaps == []
    assert (len(done), set(done.values())) == (count, {1})
    reported_done = await pool.fetchval(
        "SELECT count(DISTINCT row_id) FILTER (WHERE after ->> 'status' = 'done')"
        " - count(*) FILTER (WHERE after ->> 'status' = 'done')"
        " FROM ingestion_events WHERE kind = 'row.delivery_reported'"
    )
    assert reported_done == 0  # one done event per row
    states = await pool.fetch(
        "SELECT delivery_status, count(*) FROM ingestion_rows GROUP BY delivery_status"
    )
    assert [tuple(state) for state in states] == [("done", count)]
    assert await counts(client, auth, url) == {
        "pending": 0,
        "inProgress": 0,
        "done": count,
        "error": 0,
    }
