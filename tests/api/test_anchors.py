"""Profile-mode uploads to a project with a schema over HTTP (issue 18, item 6): forms whose
labels move between files give rows keyed by field."""

from __future__ import annotations

import io
from uuid import UUID

import xlsxwriter

from service.schemas import AnchorDirection, FieldAnchor, FieldType, SchemaField
from service.store import project_schemas

FIELDS = [
    SchemaField(
        key="nome", required=True, anchor=FieldAnchor(label="Nome", direction=AnchorDirection.RIGHT)
    ),
    SchemaField(
        key="valor",
        type=FieldType.NUMBER,
        anchor=FieldAnchor(label="Valor (R$)", direction=AnchorDirection.BELOW),
    ),
]


def form(cells):
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        sheet = book.add_worksheet("Ficha")
        for (row, column), value in cells.items():
            sheet.write(row, column, value)
    return buffer.getvalue()


async def test_forms_with_moved_labels_give_rows_keyed_by_field(client, auth, pool):
    project = (await client.post("/projects", json={"name": "fichas"}, headers=auth())).json()
    async with pool.acquire() as conn, conn.transaction():
        await project_schemas.create_version(
            conn, UUID(project["userId"]), UUID(project["id"]), FIELDS
        )
    files = [
        form({(0, 0): "Nome:", (0, 1): "Ana", (2, 0): "Valor (R$)", (3, 0): 10.5}),
        form({(5, 3): "VALOR R$", (6, 3): "7", (8, 1): "nome", (8, 4): "Bia"}),
        form({(0, 0): "Valor (R$)", (1, 0): "dez"}),
    ]
    response = await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "profile_mode"},
        files=[
            ("files", (f"f{n}.xlsx", content, "application/octet-stream"))
            for n, content in enumerate(files)
        ],
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    batch = response.json()
    assert [c["normalizedKey"] for c in batch["columnMetadata"]] == ["nome", "valor"]
    page = await client.get(response.headers["location"] + "/rows", headers=auth())
    rows = page.json()["items"]
    assert [row["data"] for row in rows] == [
        {"nome": "Ana", "valor": 10.5},
        {"nome": "Bia", "valor": 7},
        {"nome": None, "valor": "dez"},
    ]
    assert [row["status"] for row in rows] == ["valid", "valid", "error"]
    assert sorted(m["type"] for m in rows[2]["validationMessages"]) == ["required", "type"]
    assert batch["statusCounts"] == {"valid": 2, "warning": 0, "error": 1}
