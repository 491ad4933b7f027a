"""POST …/batches/{batchId}/validate: loosen and tighten a schema, every row's messages
checked; built-in messages kept; 409 once reviewed; a race with a review keeps counts exact."""

from __future__ import annotations

import asyncio

from tests.schemas.flows import csv, messages, new_project, put_schema, recount, rows_of, upload

V1 = [
    {"key": "nome", "required": True},
    {"key": "idade", "type": "integer", "max": 100},
    {"key": "uf", "enum": ["SP"], "severity": "warning"},
    {"key": "cpf", "unique": True},
]
LOOSE = [
    {"key": "nome"},
    {"key": "idade", "type": "integer", "max": 200},
    {"key": "uf", "enum": ["SP", "RJ"], "severity": "warning"},
    {"key": "cpf"},
]
TIGHT = [
    {"key": "nome", "required": True, "minLength": 4},
    {"key": "idade", "type": "integer", "min": 18, "max": 100},
    {"key": "uf", "enum": ["SP"]},
    {"key": "cpf", "unique": True, "pattern": r"^\d{3}$"},
    {"key": "email", "required": True, "severity": "warning"},
]
DATA = (
    "nome,idade,uf,cpf,extra\n"
    "Ana,30,SP,111,\n"  # 2
    "Bia,150,RJ,111,\n"  # 3
    ",17,SP,222,x\n"  # 4
    "Caio,abc,MG,333,\n"  # 5
    "Duda Maria,40,SP,4444,\n"  # 6
)
RULES = ("type", "required", "unique", "enum", "pattern", "range", "length")


async def validate(client, auth, project, batch, body=None):
    return await client.post(f"{project}/batches/{batch['id']}/validate", json=body, headers=auth())


async def test_loosen_then_tighten_then_back(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, V1)
    batch = await upload(client, auth, project, [csv("p.csv", DATA)])
    uploaded = await rows_of(client, auth, project, batch)
    assert [messages(row, *RULES) for row in uploaded] == [
        [("cpf", "unique")],
        [("idade", "range"), ("uf", "enum"), ("cpf", "unique")],
        [("nome", "required")],
        [("idade", "type"), ("uf", "enum")],
        [],
    ]
    assert batch["statusCounts"] == {"valid": 1, "warning": 0, "error": 4}

    await put_schema(client, auth, project, LOOSE)
    loosened = await validate(client, auth, project, batch)
    assert loosened.status_code == 200, loosened.text
    assert loosened.json() == {
        "before": {"valid": 1, "warning": 0, "error": 4},
        "after": {"valid": 4, "warning": 0, "error": 1},
        "changedRows": 4,
        "schemaVersion": 2,
    }
    rows = await rows_of(client, auth, project, batch)
    assert [messages(row, *RULES) for row in rows] == [
        [],
        [],
        [],
        [("idade", "type"), ("uf", "enum")],
        [],
    ]
    assert [row["status"] for row in rows] == ["valid", "valid", "valid", "error", "valid"]
    assert [row["data"] for row in rows] == [row["data"] for row in uploaded]
    got = (await client.get(f"{project}/batches/{batch['id']}", headers=auth())).json()
    assert (got["schemaVersion"], got["statusCounts"]) == (2, recount(rows))

    await put_schema(client, auth, project, TIGHT)
    tightened = (await validate(client, auth, project, batch, {"schemaVersion": 3})).json()
    rows = await rows_of(client, auth, project, batch)
    missing = ("email", "required")
    assert [messages(row, *RULES) for row in rows] == [
        [("nome", "length"), missing, ("cpf", "unique")],
        [("nome", "length"), ("idade", "range"), ("uf", "enum"), missing, ("cpf", "unique")],
        [("nome", "required"), ("idade", "range"), missing],
        [("idade", "type"), ("uf", "enum"), missing],
        [("cpf", "pattern"), missing],
    ]
    assert tightened["after"] == recount(rows) == {"valid": 0, "warning": 0, "error": 5}
    assert tightened["changedRows"] == 5

    back = (await validate(client, auth, project, batch, {"schemaVersion": 1})).json()
    assert back["after"] == batch["statusCounts"]
    again = await rows_of(client, auth, project, batch)
    keep = ("data", "status", "validationMessages")
    assert [{k: r[k] for k in keep} for r in again] == [{k: r[k] for k in keep} for r in uploaded]
    same = (await validate(client, auth, project, batch, {"schemaVersion": 1})).json()
    assert same["changedRows"] == 0


async def test_built_in_messages_are_kept(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, [{"key": "a", "type": "integer"}])
    text = "a,b\n" + "".join(f"{n},{n}\n" for n in range(40)) + "x,\n1,2,3\n"
    batch = await upload(client, auth, project, [csv("b.csv", text)])
    uploaded = await rows_of(client, auth, project, batch)
    built_in = [messages(row, "type_mismatch", "empty", "extra_cells") for row in uploaded]
    assert built_in[40] == [("a", "type_mismatch"), ("b", "empty")]
    assert built_in[41] == [("column_c", "extra_cells")]

    await put_schema(client, auth, project, [{"key": "a", "type": "string", "required": True}])
    await validate(client, auth, project, batch)
    rows = await rows_of(client, auth, project, batch)
    assert [messages(row, "type_mismatch", "empty", "extra_cells") for row in rows] == built_in
    assert messages(rows[40]) == [("a", "type_mismatch"), ("b", "empty")]
    assert rows[40]["status"] == "warning"


async def test_reviewed_batches_unknown_versions_and_other_users(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, V1)
    batch = await upload(client, auth, project, [csv("p.csv", DATA)])
    assert (await validate(client, auth, project, batch, {"schemaVersion": 9})).status_code == 404
    assert (await validate(client, auth, project, batch, {"schemaVersion": 0})).status_code == 400
    intruder = await client.post(
        f"{project}/batches/{batch['id']}/validate", json={}, headers=auth("intruder")
    )
    assert intruder.status_code == 404
    await client.delete(f"{project}/schema", headers=auth())
    assert (await validate(client, auth, project, batch)).status_code == 404
    assert (await validate(client, auth, project, batch, {"schemaVersion": 1})).status_code == 200

    url = f"{project}/batches/{batch['id']}"
    await client.patch(url, json={"status": "completed"}, headers=auth())
    refused = await validate(client, auth, project, batch, {"schemaVersion": 1})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_a_race_with_a_review_never_leaves_counts_and_rows_disagreeing(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, V1)
    await put_schema(client, auth, project, TIGHT)
    for attempt in range(6):
        batch = await upload(client, auth, project, [csv("p.csv", DATA * 1)])
        url = f"{project}/batches/{batch['id']}"
        review = client.patch(url, json={"status": "completed"}, headers=auth())
        check = validate(client, auth, project, batch, {"schemaVersion": 2 - attempt % 2})
        if attempt % 2:
            reviewed, checked = await asyncio.gather(review, check)
        else:
            checked, reviewed = await asyncio.gather(check, review)
        assert reviewed.status_code == 200
        assert checked.status_code in (200, 409)
        final = (await client.get(url, headers=auth())).json()
        rows = await rows_of(client, auth, project, batch)
        assert final["status"] == "completed"
        assert final["statusCounts"] == recount(rows)
        if checked.status_code == 200:
            assert checked.json()["after"] == final["statusCounts"]
