"""Steps the schema tests take over HTTP: a project, its schema, an upload, the rows."""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter


async def new_project(client, auth, name="schemas") -> str:
    response = await client.post("/projects", json={"name": name}, headers=auth())
    assert response.status_code == 201, response.text
    return f"/projects/{response.json()['id']}"


async def put_schema(client, auth, project: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.put(f"{project}/schema", json={"fields": fields}, headers=auth())
    assert response.status_code == 201, response.text
    return response.json()


async def upload(client, auth, project: str, files, mode="list_mode") -> dict[str, Any]:
    response = await client.post(
        f"{project}/batches",
        data={"mode": mode},
        files=[("files", file) for file in files],
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return response.json()


def csv(name: str, text: str):
    return (name, text.encode(), "text/csv")


def xlsx(name: str, rows: list[list[Any]]):
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        page = book.add_worksheet("Dados")
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    page.write(r, c, value)
    return (name, buffer.getvalue(), "application/octet-stream")


async def rows_of(client, auth, project: str, batch: dict[str, Any]) -> list[dict[str, Any]]:
    url = f"{project}/batches/{batch['id']}/rows?limit=100"
    items: list[dict[str, Any]] = []
    while url:
        page = (await client.get(url, headers=auth())).json()
        items.extend(page["items"])
        url = page["next"]
    return items


def recount(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"valid": 0, "warning": 0, "error": 0}
    for row in rows:
        counts[row["status"]] += 1
    return counts


def messages(row: dict[str, Any], *types: str) -> list[tuple[str, str]]:
    """(field, type) of a row's messages, only of the given types when some are given."""
    return [
        (m["field"], m["type"])
        for m in row["validationMessages"]
        if not types or m["type"] in types
    ]
