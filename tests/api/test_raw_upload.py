"""The raw-body upload over HTTP: one file as the body, named by Content-Disposition, with
the same answers and problems as the multipart form (`service.api.raw_body`)."""

from __future__ import annotations

import json

import pytest

from service.api.app import create_app
from service.settings import Settings
from tests.api.conftest import SECRET, counts, http_scope, running
from tests.api.test_upload import CSV, xlsx

UTF8_NAME = "attachment; filename*=UTF-8''Relat%C3%B3rio%20%C3%A7.csv"


@pytest.fixture
async def project(client, auth):
    return (await client.post("/projects", json={"name": "raw"}, headers=auth())).json()


async def post_raw(client, auth, project, body, disposition=UTF8_NAME, query=None, **headers):
    if disposition is not None:
        headers["Content-Disposition"] = disposition
    return await client.post(
        f"/projects/{project['id']}/batches",
        params={"mode": "list_mode"} if query is None else query,
        content=body,
        headers={**auth(), "Content-Type": "text/csv", **headers},
    )


async def test_a_raw_csv_is_201_with_location_and_the_same_rows_as_a_form(client, auth, project):
    response = await post_raw(client, auth, project, CSV)

    assert response.status_code == 201, response.text
    batch = response.json()
    assert response.headers["location"] == f"/projects/{project['id']}/batches/{batch['id']}"
    assert (batch["mode"], batch["fileCount"], batch["rowCount"]) == ("list_mode", 1, 2)
    rows = (await client.get(response.headers["location"] + "/rows", headers=auth())).json()
    form = await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode"},
        files=[("files", ("Relatório ç.csv", CSV, "text/csv"))],
        headers=auth(),
    )
    form_rows = (await client.get(form.headers["location"] + "/rows", headers=auth())).json()
    fields = ("data", "status", "validationMessages", "sourceFileName", "sourceRowIndex")
    assert [{k: r[k] for k in fields} for r in rows["items"]] == [
        {k: r[k] for k in fields} for r in form_rows["items"]
    ]
    assert {r["sourceFileName"] for r in rows["items"]} == {"Relatório ç.csv"}
    assert batch["columnMetadata"] == form.json()["columnMetadata"]


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        ('attachment; filename="a \\"b\\".csv"', 'a "b".csv'),
        ("Attachment; filename=plain.csv", "plain.csv"),
        # filename* wins over filename (RFC 6266), whatever their order.
        ("attachment; filename*=utf-8''%C3%A7.csv; filename=c.csv", "ç.csv"),
        # A plain filename sent as UTF-8 bytes stays UTF-8.
        ('attachment; filename="Relatório.csv"'.encode().decode("latin-1"), "Relatório.csv"),
    ],
)
async def test_the_file_name_comes_from_content_disposition(
    client, auth, project, disposition, name
):
    response = await post_raw(client, auth, project, CSV, disposition=disposition.encode("latin-1"))
    assert response.status_code == 201, response.text
    rows = (await client.get(response.headers["location"] + "/rows", headers=auth())).json()
    assert {r["sourceFileName"] for r in rows["items"]} == {name}


async def test_a_workbook_sheet_is_chosen_in_the_query(client, auth, project):
    book = xlsx([["a"], [1]], sheet="Primeira")
    response = await post_raw(
        client,
        auth,
        project,
        book,
        disposition="attachment; filename=p.xlsx",
        query={"mode": "list_mode", "sheet": "Nope"},
    )
    assert response.status_code == 422
    assert "Nope" in response.json()["detail"]
    response = await post_raw(
        client,
        auth,
        project,
        book,
        disposition="attachment; filename=p.xlsx",
        query={"mode": "list_mode", "sheet": "Primeira"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "disposition",
    [
        None,
        "inline; filename=a.csv",
        "attachment",
        "attachment; filename*=UTF-8''%FF.csv",
        "attachment; filename*=latin1''a.csv",
        "attachment; filename=",
        'attachment; filename="unterminated',
    ],
)
async def test_a_missing_or_unreadable_content_disposition_is_400(
    client, auth, project, pool, disposition
):
    response = await post_raw(client, auth, project, CSV, disposition=disposition)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Content-Disposition" in response.json()["detail"]
    assert await counts(pool) == (0, 0)


@pytest.mark.parametrize("query", [{}, {"mode": "x"}, {"mode": ""}])
async def test_a_missing_or_bad_mode_is_400_naming_it(client, auth, project, pool, query):
    response = await post_raw(client, auth, project, CSV, query=query)
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["mode"]
    assert await counts(pool) == (0, 0)


async def test_a_file_over_max_file_bytes_is_413_announced_or_not(
    database_url, tmp_path, token_for
):
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, max_file_bytes=1000)
    headers = {
        "Authorization": f"Bearer {token_for('owner')}",
        "Content-Disposition": "attachment; filename=big.csv",
    }
    big = b"a,b\n" + b"1,2\n" * 400

    async def chunks():  # no Content-Length: refused while it arrives
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    async with running(create_app(settings, database_url)) as client:
        project = (await client.post("/projects", json={"name": "p"}, headers=headers)).json()
        url = f"/projects/{project['id']}/batches?mode=list_mode"
        for body in (big, chunks()):
            response = await client.post(url, content=body, headers=headers)
            assert response.status_code == 413, response.text
            problem = response.json()
            assert (problem["file"], problem["limit"], problem["limitValue"]) == (
                "big.csv",
                "max_file_bytes",
                1000,
            )


async def test_a_retry_with_the_same_key_replays_the_batch(client, auth, project, pool):
    key = {"Idempotency-Key": "raw-1"}
    first = await post_raw(client, auth, project, CSV, **key)
    again = await post_raw(client, auth, project, CSV, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await counts(pool) == (1, 2)

    other = await post_raw(client, auth, project, CSV + b"Cai;9;Porto\r\n", **key)
    assert other.status_code == 422
    assert await counts(pool) == (1, 2)


async def raw_upload_via_asgi(app, project, headers, messages):
    """A raw-body upload sent straight through ASGI, its body as `messages` and then a
    disconnect (which httpx cannot do at a moment of the test's choosing): what was sent back."""
    sent = []
    path = f"/projects/{project['id']}/batches"
    scope = {**http_scope("POST", path, headers), "query_string": b"mode=list_mode", "state": {}}

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_body_shorter_than_its_content_length_stores_nothing(app, auth, project, pool):
    """Straight through ASGI: a body that ends before its announced length is not a file."""
    headers = {
        **auth(),
        "content-type": "text/csv",
        "content-disposition": "attachment; filename=a.csv",
        "content-length": str(len(CSV) + 10),
    }
    messages = [{"type": "http.request", "body": CSV, "more_body": False}]
    sent = await raw_upload_via_asgi(app, project, headers, messages)
    assert sent[0]["status"] == 400
    assert "ended before the whole file" in json.loads(sent[1]["body"])["detail"]
    assert await counts(pool) == (0, 0)


async def test_a_client_gone_mid_body_stores_nothing(app, auth, project, pool):
    """Without a Content-Length, a body cut short by a disconnect is not taken for a file."""
    headers = {
        **auth(),
        "content-type": "text/csv",
        "content-disposition": "attachment; filename=a.csv",
    }
    messages = [{"type": "http.request", "body": CSV, "more_body": True}]
    sent = await raw_upload_via_asgi(app, project, headers, messages)
    assert sent == []  # nobody is there to read an answer
    assert await counts(pool) == (0, 0)


async def test_the_openapi_documents_the_raw_body(client):
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/projects/{project_id}/batches"]["post"]
    content = operation["requestBody"]["content"]
    assert {"multipart/form-data", "application/octet-stream"} <= set(content)
    names = {(p["in"], p["name"]) for p in operation["parameters"]}
    assert {("query", "mode"), ("query", "sheet"), ("header", "Content-Disposition")} <= names
