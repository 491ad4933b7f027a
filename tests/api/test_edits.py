"""Row edits over HTTP: PATCH with ETag/If-Match, bulk updates, delete and restore of rows,
each re-validated at once with the batch's counts following, and each in the history."""

from __future__ import annotations

import uuid

import pytest

from service.entities import InferredType, RowStatus
from service.ingest import validation
from service.store import users
from tests.factories import make_batch, make_project

RECORDS = [
    {"nome": "Ana", "idade": 30, "uf": "sao paulo"},
    {"nome": "Bia", "idade": 41, "uf": "SP"},
    {"nome": "Caio", "idade": "??", "uf": "sao paulo"},
    {"nome": "Duda", "idade": 52, "uf": "RJ"},
]
MISMATCH = validation.type_mismatch("idade", InferredType.INTEGER)


@pytest.fixture
async def owned(client, auth, pool):
    """The user `owner`'s 4-row batch (`idade` an integer column; Caio's does not fit);
    returns (batch, its url, row ids in order)."""
    await client.get("/projects", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(
        pool,
        project=project,
        records=RECORDS,
        statuses=[RowStatus.VALID, RowStatus.VALID, RowStatus.WARNING, RowStatus.VALID],
        messages=[[], [], [MISMATCH], []],
        types={"idade": InferredType.INTEGER},
    )
    url = f"/projects/{project.id}/batches/{batch.id}"
    page = (await client.get(url + "/rows", headers=auth())).json()
    return batch, url, [row["id"] for row in page["items"]]


async def _counts(client, auth, url):
    return (await client.get(url, headers=auth())).json()["statusCounts"]


async def _recount(pool, batch_id):
    rows = await pool.fetch(
        "SELECT status::text, count(*) FROM ingestion_rows"
        " WHERE batch_id = $1 AND deleted_at IS NULL GROUP BY status",
        batch_id,
    )
    return {"valid": 0, "warning": 0, "error": 0} | {r[0]: r[1] for r in rows}


async def test_patch_changes_only_the_given_keys_and_revalidates_at_once(client, auth, owned):
    _, url, ids = owned

    fixed = await client.patch(f"{url}/rows/{ids[2]}", json={"data": {"idade": 33}}, headers=auth())

    assert fixed.status_code == 200, fixed.text
    body = fixed.json()
    assert body["data"] == {"nome": "Caio", "idade": 33, "uf": "sao paulo"}
    assert (body["status"], body["validationMessages"], body["version"]) == ("valid", [], 2)
    assert fixed.headers["etag"] == '"2"'
    assert await _counts(client, auth, url) == {"valid": 4, "warning": 0, "error": 0}

    broken = await client.patch(
        f"{url}/rows/{ids[0]}", json={"data": {"idade": "trinta"}}, headers=auth()
    )
    assert broken.json()["status"] == "warning"
    assert broken.json()["validationMessages"] == [
        {"field": "idade", "type": "type_mismatch", "message": MISMATCH.message}
    ]
    assert await _counts(client, auth, url) == {"valid": 3, "warning": 1, "error": 0}
    got = await client.get(f"{url}/rows/{ids[0]}", headers=auth())
    assert got.json() == broken.json()
    assert got.headers["etag"] == '"2"'


async def test_patch_refuses_unknown_keys_bad_values_and_reviewed_batches(client, auth, owned):
    _, url, ids = owned
    row_url = f"{url}/rows/{ids[0]}"

    unknown = await client.patch(row_url, json={"data": {"idade": 1, "idad": 2}}, headers=auth())
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "'idad' is not a key" in unknown.json()["detail"]
    nested = await client.patch(row_url, json={"data": {"nome": ["a"]}}, headers=auth())
    assert nested.status_code == 400
    nul = await client.patch(row_url, json={"data": {"nome": "a\u0000b"}}, headers=auth())
    assert nul.status_code == 400
    missing = await client.patch(
        f"{url}/rows/{uuid.uuid4()}", json={"data": {"idade": 1}}, headers=auth()
    )
    assert missing.status_code == 404

    await client.patch(url, json={"status": "completed"}, headers=auth())
    late = await client.patch(row_url, json={"data": {"idade": 1}}, headers=auth())
    assert late.status_code == 409
    assert "pending review" in late.json()["detail"]
    assert (await client.get(row_url, headers=auth())).json()["version"] == 1


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ('"1"', 200),
        ('"2"', 412),
        ('W/"1"', 412),
        ('"7", "1"', 200),
        ("*", 200),
        ("1", 412),
        ('"x"', 412),
    ],
)
async def test_if_match_compares_versions_strongly(client, auth, owned, if_match, status):
    _, url, ids = owned

    answer = await client.patch(
        f"{url}/rows/{ids[1]}",
        json={"data": {"uf": "MG"}},
        headers=auth() | {"If-Match": if_match},
    )

    assert answer.status_code == status, answer.text
    row = (await client.get(f"{url}/rows/{ids[1]}", headers=auth())).json()
    assert row["data"]["uf"] == ("MG" if status == 200 else "SP")


async def test_a_stale_if_match_is_412_after_someone_elses_edit(client, auth, owned):
    _, url, ids = owned
    row_url = f"{url}/rows/{ids[3]}"
    etag = (await client.get(row_url, headers=auth())).headers["etag"]

    first = await client.patch(
        row_url, json={"data": {"uf": "ES"}}, headers=auth() | {"If-Match": etag}
    )
    second = await client.patch(
        row_url, json={"data": {"uf": "BA"}}, headers=auth() | {"If-Match": etag}
    )

    assert (first.status_code, second.status_code) == (200, 412)
    assert second.headers["content-type"].startswith("application/problem+json")
    assert "version 2" in second.json()["detail"]
    gone = await client.patch(
        f"{url}/rows/{uuid.uuid4()}",
        json={"data": {"uf": "BA"}},
        headers=auth() | {"If-Match": etag},
    )
    assert gone.status_code == 404


async def test_bulk_set_by_field_equals_changes_the_matching_rows(client, auth, owned, pool):
    batch, url, _ = owned

    answer = await client.post(
        f"{url}/rows/bulk-update",
        json={"filter": {"field": "uf", "equals": "sao paulo"}, "set": {"uf": "SP"}},
        headers=auth(),
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "updated": 2,
        "cellsChanged": 2,
        "statusCounts": {"valid": 3, "warning": 1, "error": 0},
    }
    page = (await client.get(url + "/rows", headers=auth())).json()
    assert [row["data"]["uf"] for row in page["items"]] == ["SP", "SP", "SP", "RJ"]
    assert [row["version"] for row in page["items"]] == [2, 1, 2, 1]
    again = await client.post(f"{url}/rows/bulk-update", json={"set": {"uf": "SP"}}, headers=auth())
    assert again.json()["updated"] == 1
    assert await _counts(client, auth, url) == await _recount(pool, batch.id)


async def test_bulk_set_revalidates_and_filters_combine(client, auth, owned, pool):
    batch, url, ids = owned

    answer = await client.post(
        f"{url}/rows/bulk-update",
        json={
            "filter": {"status": "valid", "field": "nome", "contains": "a", "rowIds": ids[1:]},
            "set": {"idade": "x"},
        },
        headers=auth(),
    )

    # Ana is not in rowIds and Caio is not valid: Bia and Duda change.
    assert answer.json()["updated"] == 2
    assert answer.json()["statusCounts"] == {"valid": 1, "warning": 3, "error": 0}
    assert await _counts(client, auth, url) == await _recount(pool, batch.id)


async def test_bulk_replace_exact_and_contains(client, auth, owned):
    _, url, _ = owned

    exact = await client.post(
        f"{url}/rows/bulk-update",
        json={"replace": {"field": "uf", "find": "sao paulo", "replace": "SP"}},
        headers=auth(),
    )
    contains = await client.post(
        f"{url}/rows/bulk-update",
        json={
            "replace": {"field": "nome", "find": "a", "replace": "4", "match": "contains"},
        },
        headers=auth(),
    )
    numeric = await client.post(
        f"{url}/rows/bulk-update",
        json={
            "replace": {"field": "idade", "find": "??", "replace": " 44 ", "match": "contains"},
        },
        headers=auth(),
    )

    assert [a.json()["updated"] for a in (exact, contains, numeric)] == [2, 4, 1]
    page = (await client.get(url + "/rows", headers=auth())).json()
    assert [row["data"] for row in page["items"]] == [
        {"nome": "An4", "idade": 30, "uf": "SP"},
        {"nome": "Bi4", "idade": 41, "uf": "SP"},
        {"nome": "C4io", "idade": "44", "uf": "SP"},
        {"nome": "Dud4", "idade": 52, "uf": "RJ"},
    ]
    # "44" is an integer's text: the mismatch is gone.
    assert page["items"][2]["status"] == "valid"
    assert numeric.json()["statusCounts"] == {"valid": 4, "warning": 0, "error": 0}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filter": {}}, 400),
        ({"set": {"uf": "SP"}, "replace": {"field": "uf", "find": "a", "replace": "b"}}, 400),
        ({"set": {}}, 400),
        ({"filter": {"equals": "x"}, "set": {"uf": "SP"}}, 400),
        ({"filter": {"field": "nope", "equals": "x"}, "set": {"uf": "SP"}}, 422),
        ({"set": {"nope": 1}}, 422),
        ({"replace": {"field": "nope", "find": "a", "replace": "b"}}, 422),
        ({"replace": {"field": "uf", "find": "", "replace": "b"}}, 400),
        ({"filter": {"rowIds": ["x"]}, "set": {"uf": "SP"}}, 400),
        ({"set": {"uf": {"a": 1}}}, 400),
    ],
)
async def test_bulk_update_refuses_malformed_bodies(client, auth, owned, body, status):
    _, url, _ = owned

    answer = await client.post(f"{url}/rows/bulk-update", json=body, headers=auth())

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    page = (await client.get(url + "/rows", headers=auth())).json()
    assert [row["version"] for row in page["items"]] == [1, 1, 1, 1]


async def test_bulk_update_needs_a_batch_pending_review(client, auth, owned):
    _, url, _ = owned
    await client.patch(url, json={"status": "failed"}, headers=auth())

    answer = await client.post(
        f"{url}/rows/bulk-update", json={"set": {"uf": "SP"}}, headers=auth()
    )

    assert answer.status_code == 409


async def test_delete_and_restore_a_row_with_counts_following(client, auth, owned, pool):
    batch, url, ids = owned

    deleted = await client.delete(f"{url}/rows/{ids[2]}", headers=auth())

    assert deleted.status_code == 204
    body = (await client.get(url, headers=auth())).json()
    assert (body["rowCount"], body["statusCounts"]) == (3, {"valid": 3, "warning": 0, "error": 0})
    assert (await client.get(f"{url}/rows/{ids[2]}", headers=auth())).status_code == 404
    page = (await client.get(url + "/rows", headers=auth())).json()
    assert (page["total"], [r["id"] for r in page["items"]]) == (3, [ids[0], ids[1], ids[3]])
    assert (await client.delete(f"{url}/rows/{ids[2]}", headers=auth())).status_code == 404
    assert (
        await client.patch(f"{url}/rows/{ids[2]}", json={"data": {"uf": "x"}}, headers=auth())
    ).status_code == 404

    restored = await client.post(f"{url}/rows/{ids[2]}/restore", headers=auth())

    assert restored.status_code == 200
    assert (restored.json()["data"]["nome"], restored.json()["version"]) == ("Caio", 3)
    body = (await client.get(url, headers=auth())).json()
    assert (body["rowCount"], body["statusCounts"]) == (4, {"valid": 3, "warning": 1, "error": 0})
    assert body["statusCounts"] == await _recount(pool, batch.id)
    again = await client.post(f"{url}/rows/{ids[2]}/restore", headers=auth())
    assert again.status_code == 200
    missing = await client.post(f"{url}/rows/{uuid.uuid4()}/restore", headers=auth())
    assert missing.status_code == 404


async def test_rows_change_only_while_the_batch_is_pending_review(client, auth, owned):
    _, url, ids = owned
    await client.delete(f"{url}/rows/{ids[0]}", headers=auth())
    await client.patch(url, json={"status": "completed"}, headers=auth())

    assert (await client.delete(f"{url}/rows/{ids[1]}", headers=auth())).status_code == 409
    assert (await client.post(f"{url}/rows/{ids[0]}/restore", headers=auth())).status_code == 409
