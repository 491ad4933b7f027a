"""Preview before storing over HTTP (issue 18, item 3): the proposed matching with its
alternatives, the first 20 rows as they would be stored, nothing written, and the read stopped
early (a fault far down the file does not reach the preview)."""

from __future__ import annotations

from uuid import UUID

import pytest
import xlsxwriter

from service.schemas import AnchorDirection, FieldAnchor, FieldType, SchemaField
from service.store import project_schemas
from tests.api.conftest import counts

FIELDS = [
    SchemaField(key="nome", label="Nome", aliases=["name"], required=True),
    SchemaField(key="data_nascimento", label="Data de nascimento", type=FieldType.DATE),
    SchemaField(
        key="idade",
        type=FieldType.INTEGER,
        anchor=FieldAnchor(label="Idade", direction=AnchorDirection.RIGHT),
    ),
]


def csv(rows: int, tail: str = "") -> bytes:
    lines = ["Name;Data Nascimento;Data de vencimento"]
    lines += [f"P{n};15/03/1990;01/01/2025" for n in range(rows)]
    lines[3] = ";31/02/1990;x"  # row 4: no name, no such date
    return ("\r\n".join(lines) + "\r\n" + tail).encode()


async def with_schema(client, auth, pool, name="preview"):
    created = (await client.post("/projects", json={"name": name}, headers=auth())).json()
    async with pool.acquire() as conn, conn.transaction():
        await project_schemas.create_version(
            conn, UUID(created["userId"]), UUID(created["id"]), FIELDS
        )
    return created


async def post_preview(client, auth, project, content, name="pessoas.csv", **fields):
    return await client.post(
        f"/projects/{project['id']}/batches/preview",
        data={"mode": "list_mode", **fields},
        files=[("files", (name, content, "application/octet-stream"))],
        headers=auth(),
    )


async def test_a_preview_proposes_the_matching_and_shows_20_rows_storing_nothing(
    client, auth, pool
):
    project = await with_schema(client, auth, pool)
    before = await counts(pool)
    response = await post_preview(client, auth, project, csv(50))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemaVersion"] == 1
    assert [(m["source"], m["targetField"], m["matchedBy"]) for m in body["matches"]] == [
        ("Name", "nome", "alias"),
        ("Data Nascimento", "data_nascimento", "key"),
        ("Data de vencimento", None, None),
    ]
    [alternative] = body["matches"][2]["alternatives"]
    assert (alternative["field"], alternative["matchedBy"]) == ("data_nascimento", "fuzzy")
    assert 0.6 <= alternative["confidence"] < 0.85
    assert [c["targetField"] for c in body["columns"]] == ["nome", "data_nascimento", None]
    assert len(body["rows"]) == 20
    assert [r["sourceRowIndex"] for r in body["rows"]] == list(range(2, 22))
    assert body["rows"][0]["data"]["nome"] == "P0"
    assert body["rows"][0]["sourceFileName"] == "pessoas.csv"
    assert await counts(pool) == before


async def test_an_explicit_mapping_shapes_the_preview(client, auth, pool):
    project = await with_schema(client, auth, pool)
    response = await post_preview(
        client, auth, project, csv(5), mapping='{"Data Nascimento": null}'
    )
    assert response.status_code == 200, response.text
    assert response.json()["matches"][1]["matchedBy"] == "explicit"
    # Kept, under another key: a field's key holds only that field's value.
    assert response.json()["columns"][1]["normalizedKey"] == "data_nascimento_2"
    assert response.json()["rows"][0]["data"]["data_nascimento_2"] == "15/03/1990"
    assert response.json()["rows"][0]["data"].get("data_nascimento") is None
    bad = await post_preview(client, auth, project, csv(5), mapping='{"Name": "idade2"}')
    assert bad.status_code == 422, bad.text


async def test_the_preview_stops_reading_after_its_first_rows(client, auth, pool, settings):
    project = await with_schema(client, auth, pool)
    # A cell over the limit on line 5,001: the upload is refused, the preview never gets there.
    content = csv(5000, tail="P;" + "x" * (settings.max_cell_chars + 1) + ";1\r\n")
    upload = await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode"},
        files=[("files", ("pessoas.csv", content, "text/csv"))],
        headers=auth(),
    )
    assert upload.status_code == 422, upload.text
    response = await post_preview(client, auth, project, content)
    assert response.status_code == 200, response.text
    assert len(response.json()["rows"]) == 20


async def test_without_a_schema_the_preview_has_no_matching(client, auth):
    project = (await client.post("/projects", json={"name": "plain"}, headers=auth())).json()
    response = await post_preview(client, auth, project, csv(3))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["schemaVersion"], body["matches"]) == (None, None)
    assert [c["normalizedKey"] for c in body["columns"]] == [
        "name",
        "data_nascimento",
        "data_de_vencimento",
    ]
    assert "targetField" not in body["columns"][0]
    assert len(body["rows"]) == 3


async def test_a_form_preview_reads_its_labels(client, auth, pool, tmp_path):
    project = await with_schema(client, auth, pool)
    path = tmp_path / "ficha.xlsx"
    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet()
        sheet.write(4, 2, "Idade:")
        sheet.write(4, 3, 33)
    response = await post_preview(
        client, auth, project, path.read_bytes(), name="ficha.xlsx", mode="profile_mode"
    )
    assert response.status_code == 200, response.text
    [row] = response.json()["rows"]
    assert row["data"] == {"nome": None, "data_nascimento": None, "idade": 33}
    assert [(m["field"], m["type"]) for m in row["validationMessages"]] == [("nome", "required")]


@pytest.mark.parametrize("mode", ["list_mode", "profile_mode"])
async def test_a_preview_of_an_unreadable_file_is_a_problem(client, auth, mode):
    project = (await client.post("/projects", json={"name": "x"}, headers=auth())).json()
    response = await post_preview(
        client, auth, project, b"PK\x03\x04junk", name="a.xlsx", mode=mode
    )
    assert response.status_code in (415, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
