"""Matching columns to a project schema's fields over HTTP (issue 18, item 2): column
metadata with targetField/matchedBy/confidence, rows keyed by field, the `mapping` form field
(and query parameter of the raw-body upload), its refusals, and the mapping remembered from the
last completed batch with the same header."""

from __future__ import annotations

from uuid import UUID

import pytest

from service.schemas import SchemaField
from service.store import project_schemas
from tests.api.conftest import counts

FIELDS = [
    SchemaField(key="nome", label="Nome completo", aliases=["name"]),
    SchemaField(key="cpf", label="CPF", aliases=["cpf/cnpj", "documento"]),
    SchemaField(key="email", label="E-mail"),
    SchemaField(key="valor_total", label="Valor total"),
]

CSV = b"Name;CPF/CNPJ;Vlr. Total;Obs\r\nAna;123;10,5;vip\r\n"


@pytest.fixture
async def project(client, auth, pool):
    created = (await client.post("/projects", json={"name": "matching"}, headers=auth())).json()
    async with pool.acquire() as conn, conn.transaction():
        await project_schemas.create_version(
            conn, UUID(created["userId"]), UUID(created["id"]), FIELDS
        )
    return created


async def upload(client, auth, project, content=CSV, name="clientes.csv", **fields):
    return await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode", **fields},
        files=[("files", (name, content, "text/csv"))],
        headers=auth(),
    )


def matched(batch):
    return [
        (c["normalizedKey"], c["targetField"], c["matchedBy"], c["confidence"])
        for c in batch["columnMetadata"]
    ]


async def rows_of(client, auth, response):
    page = await client.get(response.headers["location"] + "/rows", headers=auth())
    return [row["data"] for row in page.json()["items"]]


async def test_columns_are_matched_and_stored_under_their_fields(client, auth, project):
    response = await upload(client, auth, project)
    assert response.status_code == 201, response.text
    assert matched(response.json()) == [
        ("name", "nome", "alias", 1.0),
        ("cpf_cnpj", "cpf", "alias", 1.0),
        ("vlr_total", "valor_total", "fuzzy", 0.9),
        ("obs", None, None, None),
    ]
    [data] = await rows_of(client, auth, response)
    assert set(data) >= {"nome", "cpf", "valor_total", "obs"}
    assert (data["nome"], data["obs"]) == ("Ana", "vip")


async def test_an_explicit_mapping_overrides_the_matching(client, auth, project):
    mapping = '{"Vlr. Total": null, "obs": "email"}'
    response = await upload(client, auth, project, mapping=mapping)
    assert response.status_code == 201, response.text
    assert matched(response.json())[2:] == [
        ("vlr_total", None, "explicit", 1.0),
        ("obs", "email", "explicit", 1.0),
    ]
    [data] = await rows_of(client, auth, response)
    assert (data["vlr_total"], data["email"]) == ("10,5", "vip")


@pytest.mark.parametrize(
    ("mapping", "status", "named"),
    [
        ('{"Obs": "idade"}', 422, "'idade'"),
        ('{"Obs": "cpf", "name": "cpf"}', 422, "'Name' and 'Obs'"),
        ('{"Obs": 3}', 400, "mapping"),
        ("[1, 2]", 400, "mapping"),
        ("{not json", 400, "mapping"),
    ],
)
async def test_bad_mappings_are_refused_and_store_nothing(
    client, auth, project, pool, mapping, status, named
):
    before = await counts(pool)
    response = await upload(client, auth, project, mapping=mapping)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"]
    assert await counts(pool) == before


async def test_a_mapping_needs_a_schema(client, auth):
    project = (await client.post("/projects", json={"name": "plain"}, headers=auth())).json()
    response = await upload(client, auth, project, mapping='{"Obs": "email"}')
    assert response.status_code == 422, response.text
    assert "no schema" in response.json()["detail"]


async def test_without_a_schema_columns_are_as_before(client, auth):
    project = (await client.post("/projects", json={"name": "plain"}, headers=auth())).json()
    response = await upload(client, auth, project)
    assert response.status_code == 201, response.text
    assert "targetField" not in response.json()["columnMetadata"][0]
    [data] = await rows_of(client, auth, response)
    assert set(data) == {"name", "cpf_cnpj", "vlr_total", "obs"}


async def complete(client, auth, project, batch):
    path = f"/projects/{project['id']}/batches/{batch['id']}"
    response = await client.patch(path, json={"status": "completed"}, headers=auth())
    assert response.status_code == 200, response.text


async def test_the_mapping_of_the_last_completed_batch_is_remembered_for_its_header(
    client, auth, project
):
    first = await upload(client, auth, project, mapping='{"Obs": "email", "Name": null}')
    assert first.status_code == 201, first.text
    # Not remembered while pending review.
    pending = await upload(client, auth, project)
    assert matched(pending.json())[3] == ("obs", None, None, None)
    await complete(client, auth, project, first.json())

    # The same header in another order and case: the remembered mapping.
    same = b"obs;NAME;cpf/cnpj;vlr total\r\nx;Bia;9;1\r\n"
    second = await upload(client, auth, project, content=same)
    assert second.status_code == 201, second.text
    assert matched(second.json()) == [
        ("obs", "email", "saved", 1.0),
        ("name", None, "saved", 1.0),
        ("cpf_cnpj", "cpf", "saved", 1.0),
        ("vlr_total", "valor_total", "saved", 1.0),
    ]
    # An explicit mapping still wins over the remembered one.
    third = await upload(client, auth, project, content=same, mapping='{"obs": null}')
    assert matched(third.json())[0] == ("obs", None, "explicit", 1.0)

    # Another header (one more column): matched afresh.
    other = b"Name;CPF/CNPJ;Vlr. Total;Obs;Extra\r\nAna;1;2;3;4\r\n"
    fourth = await upload(client, auth, project, content=other)
    assert fourth.status_code == 201, fourth.text
    assert [m[1:3] for m in matched(fourth.json())] == [
        ("nome", "alias"),
        ("cpf", "alias"),
        ("valor_total", "fuzzy"),
        (None, None),
        (None, None),
    ]


async def test_the_raw_body_upload_takes_a_mapping_in_its_query(client, auth, project):
    response = await client.post(
        f"/projects/{project['id']}/batches",
        params={"mode": "list_mode", "mapping": '{"Obs": "email"}'},
        content=CSV,
        headers={
            **auth(),
            "Content-Type": "text/csv",
            "Content-Disposition": "attachment; filename=clientes.csv",
        },
    )
    assert response.status_code == 201, response.text
    assert matched(response.json())[3] == ("obs", "email", "explicit", 1.0)
    bad = await client.post(
        f"/projects/{project['id']}/batches",
        params={"mode": "list_mode", "mapping": '{"Obs": "nada"}'},
        content=CSV,
        headers={
            **auth(),
            "Content-Type": "text/csv",
            "Content-Disposition": "attachment; filename=clientes.csv",
        },
    )
    assert bad.status_code == 422, bad.text
