"""Row edits under a project schema (issue 19 item 1): PATCH, bulk-update (set, replace)
re-validated by the rules of the batch's schema version, values converted to the field's
type, `unique` rechecked over the batch, counts equal to a recount; and a re-validation
(issue 18 item 7) bumps the version (ETag) of exactly the rows it changes, with one
`batch.revalidated` event."""

from __future__ import annotations

import uuid

from service import review
from service.db import transaction
from service.entities import StatusCounts
from service.store import batches
from tests.schemas.flows import csv, messages, new_project, put_schema, recount, rows_of, upload

FIELDS = [
    {"key": "nome", "required": True},
    {"key": "idade", "type": "integer", "min": 0, "max": 120},
    {"key": "uf", "enum": ["SP", "RJ"], "severity": "warning"},
    {"key": "cpf", "pattern": r"^\d{3}$", "unique": True},
]
DATA = (
    "nome,idade,uf,cpf\n"
    "Ana,30,SP,111\n"  # 2
    "Bia,40,RJ,222\n"  # 3
    "Caio,50,SP,333\n"  # 4
)
RULES = ("type", "required", "unique", "enum", "pattern", "range", "length")


async def _setup(client, auth, fields=FIELDS, data=DATA):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, fields)
    batch = await upload(client, auth, project, [csv("p.csv", data)])
    return project, batch, await rows_of(client, auth, project, batch)


async def _patch(client, auth, project, batch, row, data):
    response = await client.patch(
        f"{project}/batches/{batch['id']}/rows/{row['id']}", json={"data": data}, headers=auth()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _batch(client, auth, project, batch):
    return (await client.get(f"{project}/batches/{batch['id']}", headers=auth())).json()


async def _counts_exact(client, auth, project, batch):
    rows = await rows_of(client, auth, project, batch)
    assert (await _batch(client, auth, project, batch))["statusCounts"] == recount(rows)
    return rows


async def test_an_edit_breaks_and_fixes_each_rule(client, auth):
    project, batch, rows = await _setup(client, auth)
    assert [messages(row, *RULES) for row in rows] == [[], [], []]
    ana = rows[0]

    broken = await _patch(client, auth, project, batch, ana, {"cpf": "12a"})
    assert messages(broken, *RULES) == [("cpf", "pattern")]
    assert broken["status"] == "error"
    broken = await _patch(client, auth, project, batch, ana, {"cpf": "111", "uf": "MG"})
    assert messages(broken, *RULES) == [("uf", "enum")]
    assert broken["status"] == "warning"  # the field's severity
    broken = await _patch(client, auth, project, batch, ana, {"uf": "SP", "idade": 121})
    assert messages(broken, *RULES) == [("idade", "range")]
    assert broken["status"] == "error"
    broken = await _patch(client, auth, project, batch, ana, {"idade": 30, "nome": ""})
    assert messages(broken, *RULES) == [("nome", "required")]
    assert broken["status"] == "error"
    fixed = await _patch(client, auth, project, batch, ana, {"nome": "Ana"})
    assert messages(fixed) == []
    assert fixed["status"] == "valid"
    await _counts_exact(client, auth, project, batch)


async def test_an_edit_converts_to_the_field_type(client, auth):
    project, batch, rows = await _setup(client, auth)
    bia = rows[1]
    converted = await _patch(client, auth, project, batch, bia, {"idade": "42"})
    assert converted["data"]["idade"] == 42
    assert converted["status"] == "valid"
    history = await client.get(
        f"{project}/batches/{batch['id']}/rows/{bia['id']}/history", headers=auth()
    )
    assert history.json()["items"][0]["after"] == {"idade": 42}
    same = await _patch(client, auth, project, batch, bia, {"idade": "42.0"})
    assert same["version"] == converted["version"]  # 42 already: nothing changed
    kept = await _patch(client, auth, project, batch, bia, {"idade": "quarenta"})
    assert kept["data"]["idade"] == "quarenta"
    assert messages(kept, *RULES) == [("idade", "type")]
    assert kept["status"] == "error"
    await _counts_exact(client, auth, project, batch)


async def test_unique_is_rechecked_over_the_batch(client, auth):
    project, batch, rows = await _setup(client, auth)
    ana, bia, caio = rows
    repeated = await _patch(client, auth, project, batch, caio, {"cpf": "111"})
    assert messages(repeated, *RULES) == [("cpf", "unique")]
    rows = await _counts_exact(client, auth, project, batch)
    assert messages(rows[0], *RULES) == [("cpf", "unique")]  # Ana repeats now too
    assert rows[0]["version"] == ana["version"] + 1  # its body changed: its ETag too
    assert rows[1]["version"] == bia["version"]
    await _patch(client, auth, project, batch, caio, {"cpf": "333"})
    rows = await _counts_exact(client, auth, project, batch)
    assert [messages(row, *RULES) for row in rows] == [[], [], []]
    assert [row["status"] for row in rows] == ["valid", "valid", "valid"]


async def test_bulk_updates_under_a_schema(client, auth):
    project, batch, rows = await _setup(client, auth)
    url = f"{project}/batches/{batch['id']}/rows/bulk-update"
    response = await client.post(
        url, json={"filter": {}, "set": {"idade": "130", "uf": "BA"}}, headers=auth()
    )
    assert response.status_code == 200, response.text
    assert response.json()["statusCounts"] == {"valid": 0, "warning": 0, "error": 3}
    rows = await _counts_exact(client, auth, project, batch)
    assert [row["data"]["idade"] for row in rows] == [130, 130, 130]
    assert [messages(row, *RULES) for row in rows] == [[("idade", "range"), ("uf", "enum")]] * 3

    response = await client.post(
        url,
        json={
            "filter": {},
            "replace": {"field": "idade", "find": "3", "replace": "", "match": "contains"},
        },
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["statusCounts"] == {"valid": 0, "warning": 3, "error": 0}
    rows = await _counts_exact(client, auth, project, batch)
    assert [row["data"]["idade"] for row in rows] == [10, 10, 10]  # "10" converted
    assert [messages(row, *RULES) for row in rows] == [[("uf", "enum")]] * 3

    response = await client.post(
        url,
        json={
            "filter": {},
            "replace": {"field": "uf", "find": "BA", "replace": "RJ", "match": "exact"},
        },
        headers=auth(),
    )
    assert response.json()["statusCounts"] == {"valid": 3, "warning": 0, "error": 0}
    await _counts_exact(client, auth, project, batch)


async def test_revalidation_bumps_the_versions_of_the_rows_it_changes(client, auth):
    project, batch, rows = await _setup(client, auth)
    url = f"{project}/batches/{batch['id']}"
    etags = [
        (await client.get(f"{url}/rows/{row['id']}", headers=auth())).headers["etag"]
        for row in rows
    ]
    tighter = [*FIELDS[:3], {"key": "cpf", "pattern": r"^[12]\d\d$", "unique": True}]
    await put_schema(client, auth, project, tighter)
    response = await client.post(f"{url}/validate", json=None, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["changedRows"] == 1
    after = [
        (await client.get(f"{url}/rows/{row['id']}", headers=auth())).headers["etag"]
        for row in rows
    ]
    assert after[:2] == etags[:2]
    assert after[2] != etags[2]
    history = (await client.get(f"{url}/history", headers=auth())).json()["items"]
    assert history[0]["kind"] == "batch.revalidated"
    assert history[0]["before"] == {
        "statusCounts": {"valid": 3, "warning": 0, "error": 0},
        "schemaVersion": 1,
    }
    assert history[0]["after"] == {
        "statusCounts": {"valid": 2, "warning": 0, "error": 1},
        "schemaVersion": 2,
        "changedRows": 1,
    }
    # The edit path follows the version the batch was validated with (2 now).
    edited = await _patch(client, auth, project, batch, rows[0], {"cpf": "333"})
    assert messages(edited, *RULES) == [("cpf", "pattern"), ("cpf", "unique")]
    await _counts_exact(client, auth, project, batch)


async def test_the_fix_loops_per_row_edits_follow_the_schema(client, auth, pool):
    """`review.apply_row_edits` (the corrections fix loop's path) converts and re-checks too."""
    project, batch, rows = await _setup(client, auth)
    async with transaction(pool) as conn:
        stored = await batches.find_by_id(conn, uuid.UUID(batch["id"]))
        assert stored is not None
        outcome = await review.apply_row_edits(
            conn,
            stored,
            stored.user_id,
            {
                uuid.UUID(rows[0]["id"]): {"idade": "7"},
                uuid.UUID(rows[1]["id"]): {"cpf": "333"},
                uuid.UUID(rows[2]["id"]): {"uf": "AM"},
            },
        )
    assert outcome.counts_after == StatusCounts(valid=1, warning=0, error=2)
    rows = await _counts_exact(client, auth, project, batch)
    assert rows[0]["data"]["idade"] == 7
    assert [messages(row, *RULES) for row in rows] == [
        [],
        [("cpf", "unique")],
        [("uf", "enum"), ("cpf", "unique")],
    ]
    assert [row["status"] for row in rows] == ["valid", "error", "error"]


async def test_an_uploads_unique_check_leaves_versions_at_one(client, auth):
    _, _, rows = await _setup(client, auth, data=DATA.replace("333", "111"))
    assert [messages(row, "unique") for row in rows] == [
        [("cpf", "unique")],
        [],
        [("cpf", "unique")],
    ]
    assert [row["version"] for row in rows] == [1, 1, 1]
