"""Exports: every format read back by an independent reader (csv, openpyxl, json) equals the
rows API, for every option; text a spreadsheet would run as a formula is neutralised in CSV
and a plain string in XLSX; NDJSON is exact."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
import xlsxwriter

from service.entities import RowStatus
from service.store import users
from tests.factories import make_batch, make_project

DANGEROUS = ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']


async def all_rows(client, headers, project_id, batch_id, status=None):
    url = f"/projects/{project_id}/batches/{batch_id}/rows?limit=100"
    if status:
        url += f"&status={status}"
    items = []
    while url:
        page = (await client.get(url, headers=headers)).json()
        items += page["items"]
        url = page["next"]
    return items


def workbook_bytes() -> bytes:
    """A typed workbook: numbers, booleans, dates, text with commas, quotes and newlines."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"strings_to_formulas": False})
    sheet = book.add_worksheet("pessoas")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["Nome", "Idade", "Salário", "Ativo", "Nascimento", "Nota", "Nome"])
    people = [
        ("Ana", 30, 1500.5, True, dt.date(1990, 1, 31), 'diz "olá", tudo\nbem', "A"),
        ("Bia", 41, 2000.25, False, dt.date(1983, 12, 1), "São Paulo; SP", "B"),
        ("Caio", 7, 0.1, True, dt.date(2017, 6, 15), None, "C"),
    ]
    for row, person in enumerate(people, start=1):
        for column, value in enumerate(person):
            if isinstance(value, dt.date):
                sheet.write_datetime(row, column, value, date_format)
            elif value is not None:
                sheet.write(row, column, value)
    book.close()
    return out.getvalue()


@pytest.fixture
async def uploaded(client, auth):
    headers = auth("owner")
    project = (await client.post("/projects", json={"name": "Clientes"}, headers=headers)).json()
    created = await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode"},
        files={"files": ("pessoas.xlsx", workbook_bytes(), "application/octet-stream")},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    batch = created.json()
    rows = await all_rows(client, headers, project["id"], batch["id"])
    return headers, project, batch, rows


def as_csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def export_url(project, batch, **query) -> str:
    text = "&".join(f"{name}={value}" for name, value in query.items())
    return f"/projects/{project['id']}/batches/{batch['id']}/export?{text}"


async def test_ndjson_is_each_rows_data_exactly(client, uploaded):
    headers, project, batch, rows = uploaded
    response = await client.get(export_url(project, batch, format="ndjson"), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert 'filename="pessoas.ndjson"' in response.headers["content-disposition"]
    lines = response.content.decode().splitlines()
    assert [json.loads(line) for line in lines] == [row["data"] for row in rows]


async def test_ndjson_with_provenance(client, uploaded):
    headers, project, batch, rows = uploaded
    response = await client.get(
        export_url(project, batch, format="ndjson", provenance="true"), headers=headers
    )
    assert [json.loads(line) for line in response.content.decode().splitlines()] == [
        {
            "data": row["data"],
            "sourceFileName": row["sourceFileName"],
            "sourceSheetName": row["sourceSheetName"],
            "sourceRowIndex": row["sourceRowIndex"],
        }
        for row in rows
    ]


@pytest.mark.parametrize(
    ("query", "delimiter"),
    [({}, ","), ({"delimiter": ";", "bom": "true"}, ";"), ({"delimiter": "|"}, "|")],
)
async def test_csv_reads_back_as_the_rows(client, uploaded, query, delimiter):
    headers, project, batch, rows = uploaded
    response = await client.get(export_url(project, batch, format="csv", **query), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf") == ("bom" in query)
    text = io.StringIO(body.decode("utf-8-sig"), newline="")
    records = list(csv.reader(text, delimiter=delimiter))
    columns = batch["columnMetadata"]
    assert records[0] == [column["originalHeader"] for column in columns]
    assert records[1:] == [
        [as_csv_text(row["data"][column["normalizedKey"]]) for column in columns] for row in rows
    ]
    assert body.count(b"\r\n") >= len(rows) + 1  # CRLF line ends


async def test_csv_columns_headers_provenance_and_status(client, uploaded):
    headers, project, batch, rows = uploaded
    response = await client.get(
        export_url(project, batch, columns="idade,nome_2,nome", header="key", provenance="true"),
        headers=headers,
    )
    records = list(csv.reader(io.StringIO(response.text, newline="")))
    assert records[0] == [
        "idade", "nome_2", "nome", "sourceFileName", "sourceSheetName", "sourceRowIndex"
    ]  # fmt: skip
    assert records[1:] == [
        [
            as_csv_text(row["data"]["idade"]),
            row["data"]["nome_2"],
            row["data"]["nome"],
            row["sourceFileName"],
            row["sourceSheetName"],
            str(row["sourceRowIndex"]),
        ]
        for row in rows
    ]
    labelled = await client.get(export_url(project, batch, header="label"), headers=headers)
    assert next(csv.reader(io.StringIO(labelled.text))) == [
        "Nome", "Idade", "Salário", "Ativo", "Nascimento", "Nota", "Nome (2)"
    ]  # fmt: skip
    named = await client.patch(
        f"/projects/{project['id']}/batches/{batch['id']}/columns",
        json={"nota": {"label": "Observação"}, "nome_2": {"label": "Apelido"}},
        headers=headers,
    )
    assert named.status_code == 200, named.text
    labelled = await client.get(export_url(project, batch, header="label"), headers=headers)
    assert next(csv.reader(io.StringIO(labelled.text))) == [
        "Nome", "Idade", "Salário", "Ativo", "Nascimento", "Observação", "Apelido"
    ]  # fmt: skip
    for status in ("valid", "warning", "error"):
        expected = [row for row in rows if row["status"] == status]
        filtered = await client.get(export_url(project, batch, status=status), headers=headers)
        assert len(list(csv.reader(io.StringIO(filtered.text, newline="")))) == len(expected) + 1


async def test_xlsx_has_typed_cells_a_frozen_header_and_the_rows(client, uploaded):
    headers, project, batch, rows = uploaded
    response = await client.get(export_url(project, batch, format="xlsx"), headers=headers)
    assert response.status_code == 200
    assert 'filename="pessoas.xlsx"' in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet.freeze_panes == "A2"
    values = list(sheet.iter_rows(values_only=True))
    columns = batch["columnMetadata"]
    assert list(values[0]) == [column["originalHeader"] for column in columns]
    assert len(values) == len(rows) + 1
    first = dict(zip([column["normalizedKey"] for column in columns], values[1], strict=True))
    assert first["idade"] == 30
    assert first["salario"] == 1500.5
    assert first["ativo"] is True
    assert first["nascimento"] == dt.datetime(1990, 1, 31)
    assert first["nota"] == 'diz "olá", tudo\nbem'
    for row, cells in zip(rows, values[1:], strict=True):
        for column, cell in zip(columns, cells, strict=True):
            stored = row["data"][column["normalizedKey"]]
            if isinstance(cell, dt.datetime):
                cell = cell.date().isoformat()
            assert cell == stored, (column, cell, stored)


async def test_csv_typed_text_becomes_typed_cells_in_xlsx(client, auth):
    headers = auth("owner")
    project = (await client.post("/projects", json={"name": "csv"}, headers=headers)).json()
    text = "nome;idade;nascido;ativo\nAna;30;31/01/1990;true\nBia;41;2001-02-03;false\n"
    batch = (
        await client.post(
            f"/projects/{project['id']}/batches",
            data={"mode": "list_mode"},
            files={"files": ("p.csv", text.encode(), "text/csv")},
            headers=headers,
        )
    ).json()
    response = await client.get(export_url(project, batch, format="xlsx"), headers=headers)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert list(sheet.iter_rows(values_only=True))[1:] == [
        ("Ana", 30, dt.datetime(1990, 1, 31), True),
        ("Bia", 41, dt.datetime(2001, 2, 3), False),
    ]


@pytest.fixture
async def dangerous(client, auth, pool):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    records = [{"text": value, "number": -5, "minus_text": "-5"} for value in DANGEROUS]
    batch = await make_batch(pool, project=project, records=records)
    return {"id": str(project.id)}, {"id": str(batch.id)}, records


async def test_csv_neutralises_every_dangerous_prefix(client, auth, dangerous):
    project, batch, records = dangerous
    response = await client.get(export_url(project, batch), headers=auth("owner"))
    rows = list(csv.reader(io.StringIO(response.text, newline="")))[1:]
    assert [row[0] for row in rows] == ["'" + record["text"] for record in records]
    assert {row[1] for row in rows} == {"-5"}  # a number is not text
    assert {row[2] for row in rows} == {"'-5"}  # a text "-5" is
    raw = await client.get(export_url(project, batch, raw="true"), headers=auth("owner"))
    rows = list(csv.reader(io.StringIO(raw.text, newline="")))[1:]
    assert [row[0] for row in rows] == [record["text"] for record in records]


async def test_xlsx_writes_dangerous_text_as_strings(client, auth, dangerous):
    project, batch, records = dangerous
    response = await client.get(export_url(project, batch, format="xlsx"), headers=auth("owner"))
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    cells = list(sheet.iter_rows(min_row=2))
    # OOXML writes a CR as `_x000D_`, which Excel reads back as CR and openpyxl leaves be.
    texts = [row[0].value.replace("_x000D_", "\r") for row in cells]
    assert texts == [record["text"] for record in records]
    assert {row[0].data_type for row in cells} == {"s"}  # never "f" (formula)
    assert {row[1].value for row in cells} == {-5}
    assert {(row[2].value, row[2].data_type) for row in cells} == {("-5", "s")}


async def test_ndjson_keeps_dangerous_and_awkward_text_exact(client, auth, pool):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    records = [
        {"text": value, "other": 'back\\slash "quoted"\nline \u0001 ✓ 😀'} for value in DANGEROUS
    ]
    batch = await make_batch(pool, project=project, records=records)
    response = await client.get(
        f"/projects/{project.id}/batches/{batch.id}/export?format=ndjson", headers=auth("owner")
    )
    assert [json.loads(line) for line in response.content.split(b"\n") if line] == records


async def test_project_export_has_the_completed_batches_with_a_batch_column(client, auth, pool):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name="Owner")
    project = await make_project(pool, owner=owner, name="Meu projeto")
    first = await make_batch(pool, project=project, records=[{"a": 1, "b": "x"}])
    second = await make_batch(pool, project=project, records=[{"b": "y", "c": True}])
    pending = await make_batch(pool, project=project, records=[{"a": 99}])
    for batch in (first, second):
        reviewed = await client.patch(
            f"/projects/{project.id}/batches/{batch.id}",
            json={"status": "completed"},
            headers=auth("owner"),
        )
        assert reviewed.status_code == 200
    response = await client.get(f"/projects/{project.id}/export", headers=auth("owner"))
    assert response.status_code == 200
    assert 'filename="Meu projeto.csv"' in response.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(response.text, newline=""))) == [
        ["batchId", "A", "B", "C"],
        [str(first.id), "1", "x", ""],
        [str(second.id), "", "y", "true"],
    ]
    ndjson = await client.get(f"/projects/{project.id}/export?format=ndjson", headers=auth("owner"))
    assert [json.loads(line) for line in ndjson.text.splitlines()] == [
        {"batchId": str(first.id), "data": {"a": 1, "b": "x"}},
        {"batchId": str(second.id), "data": {"b": "y", "c": True}},
    ]
    assert str(pending.id) not in response.text
    xlsx = await client.get(f"/projects/{project.id}/export?format=xlsx", headers=auth("owner"))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert list(sheet.iter_rows(values_only=True)) == [
        ("batchId", "A", "B", "C"),
        (str(first.id), 1, "x", None),
        (str(second.id), None, "y", True),
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("columns=nope", "no column 'nope'"),
        ("columns=nome,,idade", "none empty"),
        ("columns=nome,nome", "more than once"),
        ("delimiter=x", "delimiter"),
        ("format=pdf", "format"),
        ("report=issues&format=csv", "use format=xlsx"),
    ],
)
async def test_bad_options_are_a_400_naming_them(client, uploaded, query, words):
    headers, project, batch, _ = uploaded
    response = await client.get(
        f"/projects/{project['id']}/batches/{batch['id']}/export?{query}", headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.text


async def test_another_users_batch_is_a_404(client, uploaded, auth):
    _, project, batch, _ = uploaded
    response = await client.get(export_url(project, batch), headers=auth("intruder"))
    assert response.status_code == 404


async def test_the_issues_report_has_the_rows_with_problems(client, auth, pool):
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    records = [
        {"nome": "Ana", "idade": 30},
        {"nome": "", "idade": "x"},
        {"nome": "Caio", "idade": 7},
    ]
    batch = await make_batch(
        pool,
        project=project,
        records=records,
        statuses=[RowStatus.VALID, RowStatus.ERROR, RowStatus.WARNING],
    )
    await pool.execute(
        "UPDATE ingestion_rows SET validation_messages = $2 WHERE batch_id = $1 AND position = 1",
        batch.id,
        [{"field": "idade", "type": "type_mismatch", "message": "Not an integer"}],
    )
    ids = [
        str(row_id)
        for row_id in await pool.fetchval(
            "SELECT array_agg(id ORDER BY position) FROM ingestion_rows WHERE batch_id = $1",
            batch.id,
        )
    ]
    response = await client.get(
        f"/projects/{project.id}/batches/{batch.id}/export?format=xlsx&report=issues",
        headers=auth("owner"),
    )
    assert response.status_code == 200
    assert "-issues.xlsx" in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet.column_dimensions["A"].hidden
    assert list(sheet.iter_rows(values_only=True)) == [
        ("Row id", "Nome", "Idade", "Messages"),
        (ids[1], "", "x", "Idade: Not an integer"),
        (ids[2], "Caio", 7, None),
    ]


@pytest.mark.parametrize(
    "query", ["q=s%C3%A3o", "where.idade=41", "where.ativo=true&where.idade=7", "status=valid"]
)
@pytest.mark.parametrize("format", ["csv", "ndjson", "xlsx"])
async def test_the_rows_list_filters_choose_the_same_rows(client, uploaded, query, format):
    headers, project, batch, _ = uploaded
    base = f"/projects/{project['id']}/batches/{batch['id']}"
    listed = (await client.get(f"{base}/rows?{query}&limit=100", headers=headers)).json()
    expected = [row["data"]["nome"] for row in listed["items"]]
    response = await client.get(f"{base}/export?format={format}&{query}", headers=headers)
    assert response.status_code == 200, response.text
    if format == "csv":
        names = [record[0] for record in csv.reader(io.StringIO(response.text, newline=""))][1:]
    elif format == "ndjson":
        names = [json.loads(line)["nome"] for line in response.text.splitlines()]
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == expected
    assert 0 < len(expected) < 3 or query == "status=valid"


async def test_an_unknown_where_key_is_a_422(client, uploaded):
    headers, project, batch, _ = uploaded
    response = await client.get(export_url(project, batch, **{"where.nope": "1"}), headers=headers)
    assert response.status_code == 422
    assert "where.nope" in response.text
