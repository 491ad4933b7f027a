"""Projects over HTTP: every status code of spec §6.2 for /projects."""

from __future__ import annotations

import uuid


async def create(client, auth, name="Clientes", **extra):
    return await client.post("/projects", json={"name": name, **extra}, headers=auth())


async def test_create_answers_201_with_location_and_camel_case(client, auth):
    response = await create(client, auth, description="Planilhas de 2026")

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/projects/{body['id']}"
    assert set(body) == {
        "id",
        "userId",
        "name",
        "description",
        "status",
        "errorBudget",
        "createdAt",
        "updatedAt",
    }
    assert body["errorBudget"] is None
    assert (body["name"], body["description"], body["status"]) == (
        "Clientes",
        "Planilhas de 2026",
        "active",
    )
    assert body["createdAt"].endswith("Z") or "+" in body["createdAt"]


async def test_duplicate_live_name_is_409_problem(client, auth):
    await create(client, auth)
    response = await create(client, auth)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 409
    assert "name" in response.json()["detail"]


async def test_invalid_bodies_are_400_with_field_errors(client, auth):
    for body in ({"name": ""}, {"name": "x" * 101}, {"name": "   "}, {"name": "a", "bogus": 1}, {}):
        response = await client.post("/projects", json=body, headers=auth())
        assert response.status_code == 400, body
        problem = response.json()
        assert problem["status"] == 400
        assert problem["title"] == "Bad Request"
        assert problem["errors"], body


async def test_list_is_newest_first_and_paged(client, auth):
    for name in ("a", "b", "c"):
        await create(client, auth, name=name)
    await create(client, lambda: auth("someone-else"), name="theirs")

    response = await client.get("/projects", params={"limit": 2, "offset": 1}, headers=auth())

    assert response.status_code == 200
    page = response.json()
    assert [p["name"] for p in page["items"]] == ["b", "a"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}):
        assert (await client.get("/projects", params=params, headers=auth())).status_code == 400


async def test_get_patch_delete(client, auth):
    project = (await create(client, auth, description="d")).json()
    url = f"/projects/{project['id']}"

    assert (await client.get(url, headers=auth())).json() == project

    renamed = await client.patch(url, json={"name": "Fornecedores"}, headers=auth())
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Fornecedores", "d")

    cleared = await client.patch(
        url, json={"description": None, "status": "archived"}, headers=auth()
    )
    assert (cleared.json()["description"], cleared.json()["status"]) == (None, "archived")
    assert (await client.patch(url, json={"name": None}, headers=auth())).status_code == 400
    assert (await client.patch(url, json={"status": "gone"}, headers=auth())).status_code == 400

    assert (await client.delete(url, headers=auth())).status_code == 204
    assert (await client.get(url, headers=auth())).status_code == 404
    assert (await client.delete(url, headers=auth())).status_code == 404


async def test_missing_malformed_and_foreign_ids(client, auth):
    project = (await create(client, auth)).json()
    missing = await client.get(f"/projects/{uuid.uuid4()}", headers=auth())
    foreign = await client.get(f"/projects/{project['id']}", headers=auth("intruder"))
    assert missing.status_code == foreign.status_code == 404
    assert missing.json()["title"] == foreign.json()["title"]
    assert (await client.get("/projects/not-a-uuid", headers=auth())).status_code == 400


async def test_unknown_routes_and_methods_are_problems(client, auth):
    for response in (
        await client.get("/nope", headers=auth()),
        await client.put("/projects", headers=auth()),
    ):
        assert response.status_code in (404, 405)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert set(response.json()) >= {"type", "title", "status", "detail"}
