"""The authorization matrix: every endpoint, called by another user with the owner's ids,
answers 404 exactly as for a missing resource, and changes nothing.

The routes are read from the app itself, so a new endpoint without a case here fails."""

from __future__ import annotations

import re
import uuid

import pytest

from service.schemas import SchemaField
from service.store import project_schemas, users
from tests.factories import make_batch, make_project

PUBLIC = {"/health", "/ready", "/metrics"}  # /metrics: no tenant data (README, Deployment)
# Routes that name no resource of anybody else: they act on the caller's own data.
OWN = {("GET", "/users/me"), ("GET", "/projects"), ("POST", "/projects")}

CSV = b"nome,idade\nAna,30\n"


def request_for(method, path):
    """Keyword arguments for an intruder's request to this route, with a plausible body."""
    if method == "PATCH" and path.endswith("{batch_id:str}"):
        return {"json": {"status": "failed", "name": "taken over"}}
    if method == "PATCH" and path.endswith("{row_id:str}"):
        return {"json": {"data": {"nome": "taken over"}}}
    if method == "POST" and path.endswith("/bulk-update"):
        return {"json": {"filter": {}, "set": {"nome": "taken over"}}}
    if method == "PATCH" and path.endswith("/columns"):
        return {"json": {"nome": {"label": "taken over"}}}
    if method == "PATCH" and path.endswith("/delivery"):
        return {"json": {"status": "done"}}
    if method == "POST" and path.endswith("/claim"):
        return {"json": {"limit": 1}}
    if method == "PATCH":
        return {"json": {"name": "taken over", "description": None, "status": "archived"}}
    if method == "PUT" and path.endswith("/schema"):
        return {"json": {"fields": [{"key": "nome", "required": True}]}}
    if method == "POST" and path.endswith("/corrections"):
        return {"files": {"file": ("fixed.xlsx", CSV, "application/octet-stream")}}
    if method == "POST" and path.endswith(("/batches", "/batches/preview")):
        return {"data": {"mode": "list_mode"}, "files": {"files": ("x.csv", CSV, "text/csv")}}
    return {}


def fill(template, ids):
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(ids[m.group(1)]), template)


def anonymous(text, ids):
    for name, value in ids.items():
        text = text.replace(str(value), f"<{name}>")
    return text


def routes(app):
    for route in app.routes:
        if route.path in PUBLIC or route.path.startswith("/schema"):
            continue
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            yield method, route.path


async def test_every_route_is_404_for_another_user_and_changes_nothing(app, client, auth, pool):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(
        pool, project=project, records=[{"nome": "Ana", "idade": 30}, {"nome": "Bia", "idade": 7}]
    )
    async with pool.acquire() as conn, conn.transaction():
        await project_schemas.create_version(conn, owner.id, project.id, [SchemaField(key="nome")])
    row_id = await pool.fetchval(
        "SELECT id FROM ingestion_rows WHERE batch_id = $1 ORDER BY position LIMIT 1", batch.id
    )
    ids = {"project_id": project.id, "batch_id": batch.id, "row_id": row_id, "key": "nome"}
    absent = {"project_id": uuid.uuid4(), "batch_id": uuid.uuid4(), "row_id": uuid.uuid4()}
    absent["key"] = "nome"
    ids["version"] = absent["version"] = 1

    async def snapshot():
        return [
            tuple(r)
            for r in await pool.fetch(
                "SELECT 'p', id::text, name || coalesce(status::text, '') || coalesce("
                "deleted_at::text, '') FROM projects UNION ALL "
                "SELECT 'b', id::text, status::text || coalesce(deleted_at::text, '') "
                "|| name || column_metadata::text FROM ingestion_batches UNION ALL "
                "SELECT 'r', id::text, data::text || delivery_status::text FROM ingestion_rows "
                "UNION ALL "
                "SELECT 's', version::text, coalesce(retired_at::text, '') "
                "FROM project_schemas ORDER BY 1, 2"
            )
        ]

    before = await snapshot()
    checked = []
    for method, template in routes(app):
        if (method, template) in OWN:
            continue
        intruder = await client.request(
            method, fill(template, ids), headers=auth("intruder"), **request_for(method, template)
        )
        missing = await client.request(
            method,
            fill(template, absent),
            headers=auth("intruder"),
            **request_for(method, template),
        )
        assert intruder.status_code == 404, (method, template, intruder.text)
        assert intruder.headers["content-type"].startswith("application/problem+json")
        # Exactly the answer for ids that do not exist, but for the ids themselves.
        assert anonymous(intruder.text, ids) == anonymous(missing.text, absent)
        checked.append((method, template))
    assert await snapshot() == before
    # The owner still sees everything.
    assert (await client.get(f"/projects/{project.id}", headers=auth("owner"))).status_code == 200
    assert len(checked) >= 12, checked


@pytest.mark.parametrize("route", sorted(OWN))
async def test_own_routes_show_only_own_data(client, auth, pool, route):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    await make_project(pool, owner=owner, name="owner's")
    method, path = route
    response = await client.request(
        method, path, headers=auth("intruder"), json={"name": "mine"} if method == "POST" else None
    )
    assert response.status_code in (200, 201)
    assert "owner's" not in response.text
