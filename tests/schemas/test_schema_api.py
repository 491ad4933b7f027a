"""PUT/GET/DELETE …/schema and …/schema/versions/{n}: versions, validation, hostile schemas."""

from __future__ import annotations

import json

import pytest

from service.api.project_schemas import EXAMPLE


@pytest.fixture
async def project_url(client, auth):
    response = await client.post("/projects", json={"name": "Clientes"}, headers=auth())
    return f"/projects/{response.json()['id']}"


async def test_put_get_versions_and_delete(client, auth, project_url):
    assert (await client.get(f"{project_url}/schema", headers=auth())).status_code == 404

    first = await client.put(f"{project_url}/schema", json=EXAMPLE, headers=auth())
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["version"] == 1
    assert first.headers["location"] == f"{project_url}/schema/versions/1"
    fields = {field["key"]: field for field in body["fields"]}
    assert fields["nascimento"]["max"] == "2025-12-31"  # saved in the field's type
    assert fields["idade"]["severity"] == "warning"
    assert fields["nome"]["type"] == "string"  # the default
    assert fields["uf"]["anchor"] == {
        "cell": None,
        "label": "UF:",
        "direction": "right",
        "skip": 0,
    }

    second = await client.put(
        f"{project_url}/schema", json={"fields": [{"key": "nome"}]}, headers=auth()
    )
    assert second.json()["version"] == 2
    current = (await client.get(f"{project_url}/schema", headers=auth())).json()
    assert (current["version"], [f["key"] for f in current["fields"]]) == (2, ["nome"])
    old = await client.get(f"{project_url}/schema/versions/1", headers=auth())
    assert old.json()["fields"] == body["fields"]
    missing = await client.get(f"{project_url}/schema/versions/3", headers=auth())
    assert missing.status_code == 404

    assert (await client.delete(f"{project_url}/schema", headers=auth())).status_code == 204
    assert (await client.get(f"{project_url}/schema", headers=auth())).status_code == 404
    assert (await client.delete(f"{project_url}/schema", headers=auth())).status_code == 204
    kept = (await client.get(f"{project_url}/schema/versions/2", headers=auth())).json()
    assert kept["retiredAt"] is not None
    third = await client.put(f"{project_url}/schema", json=EXAMPLE, headers=auth())
    assert third.json()["version"] == 3
    assert (await client.get(f"{project_url}/schema", headers=auth())).json()["version"] == 3


async def test_another_users_project_is_404(client, auth, project_url):
    for method, path, body in [
        ("PUT", "/schema", EXAMPLE),
        ("GET", "/schema", None),
        ("GET", "/schema/versions/1", None),
        ("DELETE", "/schema", None),
    ]:
        response = await client.request(
            method, f"{project_url}{path}", json=body, headers=auth("intruder")
        )
        assert response.status_code == 404, (method, path)


async def test_every_problem_is_one_entry(client, auth, project_url):
    schema = {
        "fields": [
            {"key": "Nome Completo"},
            {"key": "idade", "type": "integer", "min": "zero", "max": 10},
            {"key": "idade"},
            {"key": "cpf", "pattern": "(a"},
            {"key": "quando", "type": "date", "min": "2024-02-30"},
            {"key": "texto", "min": 1},
            {"key": "uf", "enum": ["SP", 3], "type": "integer"},
            {"key": "n", "type": "number", "min": 10, "max": 1},
            {"key": "s", "minLength": 5, "maxLength": 2},
            {"key": "a", "anchor": {"cell": "b2"}},
            {"key": "b", "anchor": {"label": "Nome:"}},
            {"key": "c", "enum": []},
        ]
    }
    response = await client.put(f"{project_url}/schema", json=schema, headers=auth())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problems = {(item["field"], item["message"]) for item in response.json()["errors"]}
    assert {field for field, _ in problems} == {
        "fields[0].key",
        "fields[1].min",
        "fields[2].key",
        "fields[3].pattern",
        "fields[4].min",
        "fields[5].min",
        "fields[6].enum[0]",
        "fields[7].min",
        "fields[8].minLength",
        "fields[9].anchor.cell",
        "fields[10].anchor.direction",
        "fields[11].enum",
    }
    assert ("fields[0].key", "'Nome Completo' is not a normalized key; use 'nome_completo'") in (
        problems
    )
    assert (await client.get(f"{project_url}/schema", headers=auth())).status_code == 404


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("unknown type", {"fields": [{"key": "a", "type": "money"}]}),
        ("unknown member", {"fields": [{"key": "a", "colour": "red"}]}),
        ("no key", {"fields": [{"label": "A"}]}),
        ("10,000 fields", {"fields": [{"key": f"f{i}"} for i in range(10_000)]}),
        ("huge enum", {"fields": [{"key": "a", "enum": [str(i) for i in range(100_000)]}]}),
        ("long pattern", {"fields": [{"key": "a", "pattern": "a" * 10_000}]}),
        ("deep JSON", "[" * 100_000 + "]" * 100_000),
        ("deep enum", '{"fields": [{"key": "a", "enum": ' + "[" * 100_000 + "]" * 100_000 + "}]}"),
        (
            "deep object",
            '{"fields": [{"key": "a", "anchor": ' + '{"a":' * 50_000 + "}" * 50_000 + "}]}",
        ),
        ("catastrophic regex", {"fields": [{"key": "a", "pattern": r"(a+)+\1"}]}),
        ("NUL", {"fields": [{"key": "a\u0000"}]}),
        ("not an object", '"fields"'),
        ("not JSON", "{fields"),
    ],
)
async def test_hostile_schemas_are_clean_4xx(client, auth, project_url, name, body):
    content = body if isinstance(body, str) else json.dumps(body)
    response = await client.put(
        f"{project_url}/schema",
        content=content,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 413, 422), (name, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{project_url}/schema", headers=auth())).status_code == 404


async def test_catastrophic_patterns_that_re2_accepts_are_saved_and_run_fast(
    client, auth, project_url
):
    response = await client.put(
        f"{project_url}/schema",
        json={"fields": [{"key": "a", "pattern": "^(a+)+$"}]},
        headers=auth(),
    )
    assert response.status_code == 201


async def test_malformed_project_id_is_still_400(client, auth):
    response = await client.put("/projects/nope/schema", json=EXAMPLE, headers=auth())
    assert response.status_code == 400


async def test_text_that_postgresql_cannot_store_is_400_as_everywhere(client, auth, project_url):
    body = {"fields": [{"key": "nome", "aliases": ["no\u0000me"]}]}
    response = await client.put(f"{project_url}/schema", json=body, headers=auth())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "fields[0].aliases[0]"
    too_many = {"fields": [{"key": f"f{i}"} for i in range(1001)]}
    response = await client.put(f"{project_url}/schema", json=too_many, headers=auth())
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "fields"
