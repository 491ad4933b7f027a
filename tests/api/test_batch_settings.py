"""Batch settings over HTTP: the name (the first file's by default), the identifier keys and
the column labels, beside and together with the review."""

from __future__ import annotations

import pytest

from service import batch_settings
from service.store import users
from tests.factories import make_batch, make_project


@pytest.fixture
async def url(client, auth, pool):
    await client.get("/users/me", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(
        pool, project=project, records=[{"cpf": "1", "nome": "Ana", "uf": "SP"}]
    )
    return f"/projects/{project.id}/batches/{batch.id}"


async def test_an_upload_is_named_after_its_first_file(client, auth, pool):
    await client.get("/users/me", headers=auth())
    created = await client.post("/projects", json={"name": "p"}, headers=auth())
    upload = await client.post(
        f"/projects/{created.json()['id']}/batches",
        data={"mode": "profile_mode"},
        files=[("files", ("março.csv", b"a\n1\n")), ("files", ("b.csv", b"a\n2\n"))],
        headers=auth(),
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["name"] == "março.csv"


async def test_an_uploads_name_is_one_a_patch_could_give(client, auth, pool):
    """Bidi overrides and controls are dropped and the name is cut at 255 characters, as
    PATCH's `name` allows; the rows keep the file's name as it came."""
    await client.get("/users/me", headers=auth())
    created = await client.post("/projects", json={"name": "p"}, headers=auth())
    file_name = "\u202eabc\x9b" + "x" * 300 + ".csv"  # a bidi override, a C1 control
    upload = await client.post(
        f"/projects/{created.json()['id']}/batches",
        data={"mode": "profile_mode"},
        files=[("files", (file_name, b"a\n1\n"))],
        headers=auth(),
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["name"] == ("abc" + "x" * 300)[:255]
    renamed = await client.patch(
        f"/projects/{created.json()['id']}/batches/{upload.json()['id']}",
        json={"name": upload.json()["name"]},
        headers=auth(),
    )
    assert renamed.status_code == 200, renamed.text


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("pessoas.csv", "pessoas.csv"),
        ("a\u202ebc\u2066.csv", "abc.csv"),
        ("  a\tb\nc.csv ", "a b c.csv"),
        ("\x01\u200f ", "batch"),
    ],
)
def test_a_default_name_keeps_only_what_a_name_may_hold(file_name, expected):
    assert batch_settings.default_name(file_name) == expected


async def test_settings_are_changed_and_kept(client, auth, url):
    patched = await client.patch(
        url,
        json={
            "name": "Clientes de março",
            "identifierFieldKey": "cpf",
            "secondaryFieldKey": "nome",
        },
        headers=auth(),
    )
    assert patched.status_code == 200, patched.text
    body = (await client.get(url, headers=auth())).json()
    assert (body["name"], body["identifierFieldKey"], body["secondaryFieldKey"]) == (
        "Clientes de março",
        "cpf",
        "nome",
    )
    assert body["status"] == "pending_review"
    cleared = await client.patch(url, json={"secondaryFieldKey": None}, headers=auth())
    assert (cleared.json()["name"], cleared.json()["identifierFieldKey"]) == (
        "Clientes de março",
        "cpf",
    )
    assert cleared.json()["secondaryFieldKey"] is None


@pytest.mark.parametrize("member", ["identifierFieldKey", "secondaryFieldKey"])
async def test_a_key_not_in_the_batch_is_a_422_naming_it(client, auth, url, member):
    response = await client.patch(url, json={member: "nope", "name": "x"}, headers=auth())
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [member]
    assert (await client.get(url, headers=auth())).json()["name"] == "people.csv"


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "  "}, {"name": "x" * 256}, {"name": None}, {"x": 1}, {}]
)
async def test_bad_settings_are_400(client, auth, url, body):
    assert (await client.patch(url, json=body, headers=auth())).status_code == 400


async def test_settings_and_review_together_are_all_or_nothing(client, auth, url, pool):
    both = await client.patch(url, json={"status": "completed", "name": "ok"}, headers=auth())
    assert (both.json()["status"], both.json()["name"]) == ("completed", "ok")
    again = await client.patch(url, json={"status": "failed", "name": "lost"}, headers=auth())
    assert again.status_code == 409
    assert (await client.get(url, headers=auth())).json()["name"] == "ok"
    renamed = await client.patch(url, json={"name": "after review"}, headers=auth())
    assert renamed.json()["name"] == "after review"
    history = await pool.fetch(
        "SELECT kind, before, after FROM ingestion_events WHERE row_id IS NULL ORDER BY id"
    )
    assert [(e["kind"], e["before"], e["after"]) for e in history] == [
        ("batch.settings_changed", {"name": "people.csv"}, {"name": "ok"}),
        ("batch.reviewed", {"status": "pending_review"}, {"status": "completed"}),
        ("batch.settings_changed", {"name": "ok"}, {"name": "after review"}),
    ]


async def test_columns_are_labelled_and_unlabelled(client, auth, url, pool):
    labelled = await client.patch(
        url + "/columns", json={"cpf": {"label": "CPF"}, "uf": {"label": "Estado"}}, headers=auth()
    )
    assert labelled.status_code == 200, labelled.text
    columns = labelled.json()["columnMetadata"]
    assert [(c["normalizedKey"], c.get("label")) for c in columns] == [
        ("cpf", "CPF"),
        ("nome", None),
        ("uf", "Estado"),
    ]
    unlabelled = await client.patch(url + "/columns", json={"uf": {"label": None}}, headers=auth())
    columns = (await client.get(url, headers=auth())).json()["columnMetadata"]
    assert unlabelled.status_code == 200
    assert [c.get("label") for c in columns] == ["CPF", None, None]
    assert [c["position"] for c in columns] == [0, 1, 2]
    history = await pool.fetch("SELECT kind, before, after FROM ingestion_events ORDER BY id")
    assert [(e["kind"], e["before"], e["after"]) for e in history] == [
        ("batch.columns_labelled", {"cpf": None, "uf": None}, {"cpf": "CPF", "uf": "Estado"}),
        ("batch.columns_labelled", {"uf": "Estado"}, {"uf": None}),
    ]


async def test_an_unknown_column_is_a_422_and_labels_nothing(client, auth, url):
    response = await client.patch(
        url + "/columns", json={"cpf": {"label": "CPF"}, "nope": {"label": "x"}}, headers=auth()
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["nope"]
    columns = (await client.get(url, headers=auth())).json()["columnMetadata"]
    assert all("label" not in c for c in columns)
