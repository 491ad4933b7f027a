"""Batches over HTTP (list, get, review, delete), rows and fields; uploads are in test_upload."""

from __future__ import annotations

import uuid

import pytest

from service.entities import RowStatus
from service.store import users
from tests.factories import make_batch, make_project

RECORDS = [
    {"nome": "Ana", "cidade": "São Paulo"},
    {"nome": "Bia", "cidade": "Lisboa"},
    {"nome": "Caio", "cidade": None},
    {"nome": "Duda", "cidade": "sao paulo"},
]
STATUSES = [RowStatus.VALID, RowStatus.WARNING, RowStatus.ERROR, RowStatus.WARNING]


@pytest.fixture
async def owned(client, auth, pool):
    """A project of the user `owner` with one 4-row batch; returns (project, batch, base url)."""
    await client.get("/projects", headers=auth())  # first sight creates the user
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(pool, project=project, records=RECORDS, statuses=STATUSES)
    return project, batch, f"/projects/{project.id}/batches/{batch.id}"


async def test_get_and_list_batches_with_status_counts(client, auth, owned):
    project, batch, url = owned
    body = (await client.get(url, headers=auth())).json()
    assert set(body) == {
        "id",
        "projectId",
        "userId",
        "mode",
        "status",
        "fileCount",
        "rowCount",
        "columnMetadata",
        "statusCounts",
        "name",
        "identifierFieldKey",
        "secondaryFieldKey",
        "deliveryCounts",
        "schemaVersion",
        "reviewNote",
        "createdAt",
        "updatedAt",
    }
    assert (body["name"], body["deliveryCounts"]) == ("people.csv", None)
    assert (body["schemaVersion"], body["reviewNote"]) == (None, None)
    assert body["statusCounts"] == {"valid": 1, "warning": 2, "error": 1}
    assert body["columnMetadata"][0] == {
        "normalizedKey": "nome",
        "originalHeader": "Nome",
        "inferredType": "string",
        "position": 0,
    }
    page = (await client.get(f"/projects/{project.id}/batches", headers=auth())).json()
    assert (page["total"], [b["id"] for b in page["items"]]) == (1, [str(batch.id)])
    missing = await client.get(f"/projects/{uuid.uuid4()}/batches", headers=auth())
    assert missing.status_code == 404


async def test_review_once_then_409(client, auth, owned):
    _, _, url = owned
    approved = await client.patch(url, json={"status": "completed"}, headers=auth())
    assert approved.status_code == 200
    assert approved.json()["status"] == "completed"
    again = await client.patch(url, json={"status": "failed"}, headers=auth())
    assert again.status_code == 409
    assert "final" in again.json()["detail"]
    for body in ({"status": "pending_review"}, {"status": "bogus"}, {}):
        assert (await client.patch(url, json=body, headers=auth())).status_code == 400


async def test_delete_hides_the_batch_and_its_rows(client, auth, owned, pool):
    _, batch, url = owned
    assert (await client.delete(url, headers=auth())).status_code == 204
    assert (await client.get(url, headers=auth())).status_code == 404
    assert (await client.get(url + "/rows", headers=auth())).status_code == 404
    assert (await client.delete(url, headers=auth())).status_code == 404
    deleted_by = await pool.fetchval(
        "SELECT u.external_id FROM ingestion_batches b JOIN users u ON u.id = b.deleted_by"
        " WHERE b.id = $1",
        batch.id,
    )
    assert deleted_by == "owner"


async def test_rows_in_source_order_with_status_filter_and_by_id(client, auth, owned):
    _, _, url = owned
    page = (await client.get(url + "/rows", params={"limit": 3}, headers=auth())).json()
    assert page["total"] == 4
    assert [r["data"]["nome"] for r in page["items"]] == ["Ana", "Bia", "Caio"]
    row = page["items"][2]
    assert set(row) == {
        "id",
        "batchId",
        "data",
        "status",
        "validationMessages",
        "sourceFileName",
        "sourceSheetName",
        "sourceRowIndex",
        "version",
        "delivery",
        "createdAt",
        "updatedAt",
    }
    assert row["delivery"] is None  # the batch is not completed
    assert row["data"] == {"nome": "Caio", "cidade": None}

    warnings = await client.get(url + "/rows", params={"status": "warning"}, headers=auth())
    assert warnings.json()["total"] == 2
    assert [r["data"]["nome"] for r in warnings.json()["items"]] == ["Bia", "Duda"]
    assert (
        await client.get(url + "/rows", params={"status": "x"}, headers=auth())
    ).status_code == 400

    one = await client.get(f"{url}/rows/{row['id']}", headers=auth())
    assert one.json() == row
    assert (await client.get(f"{url}/rows/{uuid.uuid4()}", headers=auth())).status_code == 404
    assert (await client.get(f"{url}/rows/nope", headers=auth())).status_code == 400


async def test_row_pages_by_offset_with_and_without_a_status(client, auth, owned):
    _, _, url = owned

    async def names(**params):
        page = (await client.get(url + "/rows", params=params, headers=auth())).json()
        found = [r["data"]["nome"] for r in page["items"]]
        return page["total"], page["limit"], page["offset"], found

    assert await names(limit=2, offset=1) == (4, 2, 1, ["Bia", "Caio"])
    assert await names(limit=2, offset=3) == (4, 2, 3, ["Duda"])
    assert await names(limit=2, offset=4) == (4, 2, 4, [])
    assert await names(status="warning", limit=1, offset=1) == (2, 1, 1, ["Duda"])
    assert await names(status="error") == (1, 50, 0, ["Caio"])
    assert await names(status="valid", offset=1) == (1, 50, 1, [])


async def test_a_listed_row_is_byte_for_byte_the_row_by_id(client, auth, owned, pool):
    """The list's JSON is built by PostgreSQL, the single row's by msgspec: the same text,
    timestamps included, whether or not they have microseconds."""
    _, batch, url = owned
    await pool.execute(
        "UPDATE ingestion_rows SET updated_at = '2026-11-25 10:11:12+00',"
        " created_at = '2026-11-25 10:11:12.000500+00' WHERE batch_id = $1",
        batch.id,
    )
    page = (await client.get(url + "/rows", headers=auth())).json()
    for row in page["items"]:
        one = (await client.get(f"{url}/rows/{row['id']}", headers=auth())).json()
        assert one == row
    assert (row["createdAt"], row["updatedAt"]) == (
        "2026-11-25T10:11:12.000500Z",
        "2026-11-25T10:11:12Z",
    )


async def test_fields_and_values(client, auth, owned):
    _, _, url = owned
    body = (await client.get(url + "/fields", headers=auth())).json()
    assert body["totalRows"] == 4
    assert [
        (f["normalizedKey"], f["presentCount"], f["emptyCount"], f["distinctCount"])
        for f in body["items"]
    ] == [("nome", 4, 0, 4), ("cidade", 3, 1, 3)]

    values = await client.get(
        url + "/fields/cidade/values", params={"search": "SÃO"}, headers=auth()
    )
    assert values.json() == {
        "items": [{"value": "São Paulo", "count": 1}, {"value": "sao paulo", "count": 1}],
        "total": 2,
        "limit": 50,
        "offset": 0,
    }
    assert (await client.get(url + "/fields/nope/values", headers=auth())).status_code == 404
