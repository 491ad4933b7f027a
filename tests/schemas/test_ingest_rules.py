"""Uploads to a project with a schema, over HTTP with a real PostgreSQL: values converted to
their field's type, every rule kind, severities, `unique` across files, exact counts."""

from __future__ import annotations

import pytest

from tests.schemas.flows import (
    csv,
    messages,
    new_project,
    put_schema,
    recount,
    rows_of,
    upload,
    xlsx,
)

TYPED = [
    {"key": "inteiro", "type": "integer"},
    {"key": "numero", "type": "number"},
    {"key": "logico", "type": "boolean"},
    {"key": "data", "type": "date"},
    {"key": "momento", "type": "datetime"},
    {"key": "hora", "type": "time"},
    {"key": "email", "type": "email"},
    {"key": "site", "type": "url"},
    {"key": "texto", "type": "string"},
]
TYPED_CSV = (
    "Inteiro;Número;Lógico;Data;Momento;Hora;Email;Site;Texto;Outra\n"
    "42;1.5;verdadeiro;15/03/2024;15/03/2024 10:20;9:05;ana@example.com;https://x.org;00123;42\n"
    "4.5;1,5;talvez;2024-02-30;ontem;25:00;ana@;x.org;texto;abc\n"
)


async def test_each_type_converts_and_what_does_not_stays_with_a_type_message(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, TYPED)
    batch = await upload(client, auth, project, [csv("tipos.csv", TYPED_CSV)])
    first, second = await rows_of(client, auth, project, batch)

    assert first["data"] == {
        "inteiro": 42,
        "numero": 1.5,
        "logico": True,
        "data": "2024-03-15",
        "momento": "2024-03-15T10:20:00",
        "hora": "09:05:00",
        "email": "ana@example.com",
        "site": "https://x.org",
        "texto": "00123",
        "outra": "42",  # no field: as without a schema (CSV values stay text)
    }
    assert messages(first, "type") == []
    assert first["status"] == "valid"
    assert second["data"] == {
        "inteiro": "4.5",
        "numero": "1,5",
        "logico": "talvez",
        "data": "2024-02-30",
        "momento": "ontem",
        "hora": "25:00",
        "email": "ana@",
        "site": "x.org",
        "texto": "texto",
        "outra": "abc",
    }
    assert messages(second, "type") == [
        (key, "type")
        for key in ["inteiro", "numero", "logico", "data", "momento", "hora", "email", "site"]
    ]
    assert second["status"] == "error"
    assert batch["schemaVersion"] == 1
    assert (
        batch["statusCounts"] == recount([first, second]) == {"valid": 1, "warning": 0, "error": 1}
    )


async def test_workbook_values_convert_too(client, auth):
    project = await new_project(client, auth)
    await put_schema(
        client,
        auth,
        project,
        [{"key": "codigo", "type": "string"}, {"key": "valor", "type": "integer"}],
    )
    batch = await upload(
        client, auth, project, [xlsx("v.xlsx", [["Código", "Valor"], [123, "7"], [4.5, 8.0]])]
    )
    rows = await rows_of(client, auth, project, batch)
    assert [row["data"] for row in rows] == [
        {"codigo": "123", "valor": 7},
        {"codigo": "4.5", "valor": 8},
    ]


RULES = [
    {"key": "nome", "required": True, "minLength": 2, "maxLength": 10},
    {"key": "uf", "enum": ["SP", "RJ"]},
    {"key": "cpf", "pattern": r"^\d{11}$", "unique": True},
    {"key": "idade", "type": "integer", "min": 0, "max": 130, "severity": "warning"},
    {"key": "nascimento", "type": "date", "min": "1900-01-01", "max": "2025-12-31"},
    {"key": "email", "required": True, "severity": "warning"},
    {"key": "matricula", "required": True},
]
RULES_CSV = (
    "nome,uf,cpf,idade,nascimento\n"
    "Ana,SP,12345678901,30,15/03/1990\n"  # row 2: only `matricula`/`email` missing
    ",MG,123,200,01/01/1800\n"  # row 3
    "Bartolomeu Dias,RJ,12345678901,-1,2026-01-01\n"  # row 4
    "Caio,SP,98765432100,x,\n"  # row 5
)


async def test_each_rule_kind_and_severity(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, RULES)
    batch = await upload(client, auth, project, [csv("regras.csv", RULES_CSV)])
    rows = await rows_of(client, auth, project, batch)
    rule_types = ("type", "required", "unique", "enum", "pattern", "range", "length")
    missing = [("email", "required"), ("matricula", "required")]

    by_row = [messages(row, *rule_types) for row in rows]
    assert by_row[0] == [*missing, ("cpf", "unique")]
    assert by_row[1] == [
        ("nome", "required"),
        ("uf", "enum"),
        ("cpf", "pattern"),
        ("idade", "range"),
        ("nascimento", "range"),
        *missing,
    ]
    assert by_row[2] == [
        ("nome", "length"),
        ("idade", "range"),
        ("nascimento", "range"),
        *missing,
        ("cpf", "unique"),
    ]
    assert by_row[3] == [("idade", "type"), *missing]
    texts = {(m["field"], m["type"]): m["message"] for m in rows[2]["validationMessages"]}
    assert texts["cpf", "unique"] == "Value repeated in rows 2"
    assert texts["matricula", "required"] == "Required field: no column of the upload gives it"
    assert texts["nome", "length"] == "Longer than the maximum length, 10 characters"
    assert batch["statusCounts"] == recount(rows) == {"valid": 0, "warning": 0, "error": 4}


async def test_warnings_alone_make_a_warning_row(client, auth):
    project = await new_project(client, auth)
    await put_schema(
        client,
        auth,
        project,
        [
            {"key": "idade", "type": "integer", "max": 10, "severity": "warning"},
            {"key": "apelido", "required": True, "severity": "warning"},
            {"key": "uf", "enum": ["SP"], "severity": "error"},
        ],
    )
    batch = await upload(client, auth, project, [csv("w.csv", "idade,uf\n5,SP\n50,SP\n5,RJ\n")])
    rows = await rows_of(client, auth, project, batch)
    assert [row["status"] for row in rows] == ["warning", "warning", "error"]
    assert batch["statusCounts"] == recount(rows) == {"valid": 0, "warning": 2, "error": 1}


async def test_unique_names_up_to_five_other_rows(client, auth):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, [{"key": "codigo", "unique": True}])
    lines = ["codigo,n"] + [f"{code},{n}" for n, code in enumerate("AAAAAAAAB CC")]
    batch = await upload(client, auth, project, [csv("u.csv", "\n".join(lines) + "\n")])
    rows = await rows_of(client, auth, project, batch)
    texts = [
        [m["message"] for m in row["validationMessages"] if m["type"] == "unique"] for row in rows
    ]
    assert texts[0] == ["Value repeated in rows 3, 4, 5, 6, 7 and 2 more"]
    assert texts[7] == ["Value repeated in rows 2, 3, 4, 5, 6 and 2 more"]
    assert texts[8] == []  # B once
    assert texts[9] == []  # empty values never repeat (the one here is trimmed to none)
    assert texts[10] == ["Value repeated in rows 13"]
    assert texts[11] == ["Value repeated in rows 12"]
    assert batch["statusCounts"] == recount(rows) == {"valid": 2, "warning": 0, "error": 10}


async def test_unique_across_two_files_of_one_upload(client, auth):
    project = await new_project(client, auth)
    field = {"key": "cpf", "unique": True, "severity": "warning", "anchor": {"cell": "B1"}}
    await put_schema(client, auth, project, [field])
    files = [csv("a.csv", "CPF,111\n"), csv("b.csv", "CPF,222\n"), csv("c.csv", "CPF,111\n")]
    batch = await upload(client, auth, project, files, mode="profile_mode")
    rows = await rows_of(client, auth, project, batch)
    texts = [[m["message"] for m in row["validationMessages"]] for row in rows]
    assert texts == [
        ["Value repeated in rows 1 (c.csv)"],
        [],
        ["Value repeated in rows 1 (a.csv)"],
    ]
    assert batch["statusCounts"] == recount(rows) == {"valid": 1, "warning": 2, "error": 0}


async def test_without_a_schema_rows_are_as_before(client, auth):
    project = await new_project(client, auth)
    plain = await upload(client, auth, project, [csv("r.csv", RULES_CSV)])
    await put_schema(client, auth, project, RULES)
    await client.delete(f"{project}/schema", headers=auth())
    off = await upload(client, auth, project, [csv("r.csv", RULES_CSV)])
    assert (plain["schemaVersion"], off["schemaVersion"]) == (None, None)
    before = await rows_of(client, auth, project, plain)
    after = await rows_of(client, auth, project, off)
    keep = ("data", "status", "validationMessages", "sourceRowIndex")
    assert [{k: r[k] for k in keep} for r in before] == [{k: r[k] for k in keep} for r in after]
    assert plain["statusCounts"] == off["statusCounts"]


@pytest.mark.parametrize("budget", [{"maxErrorRows": 1}, {"maxErrorRatio": 0.25}])
async def test_an_upload_over_the_error_budget_is_stored_failed(client, auth, budget):
    project = await new_project(client, auth)
    await put_schema(client, auth, project, [{"key": "idade", "type": "integer"}])
    patched = await client.patch(project, json={"errorBudget": budget}, headers=auth())
    assert patched.status_code == 200
    assert patched.json()["errorBudget"] == {"maxErrorRows": None, "maxErrorRatio": None} | budget

    within = await upload(client, auth, project, [csv("ok.csv", "idade\n1\nx\n2\n3\n")])
    assert (within["status"], within["reviewNote"]) == ("pending_review", None)
    over = await upload(client, auth, project, [csv("bad.csv", "idade\n1\nx\ny\n3\n")])
    assert over["status"] == "failed"
    assert over["statusCounts"] == {"valid": 2, "warning": 0, "error": 2}
    assert "error budget" in over["reviewNote"]
    assert len(await rows_of(client, auth, project, over)) == 4  # stored all the same

    cleared = await client.patch(project, json={"errorBudget": None}, headers=auth())
    assert cleared.json()["errorBudget"] is None
    again = await upload(client, auth, project, [csv("bad.csv", "idade\n1\nx\ny\n3\n")])
    assert again["status"] == "pending_review"


async def test_error_budget_bounds(client, auth):
    project = await new_project(client, auth)
    for bad in [{"maxErrorRows": -1}, {"maxErrorRatio": 1.5}, {"maxErrors": 3}]:
        response = await client.patch(project, json={"errorBudget": bad}, headers=auth())
        assert response.status_code == 400, bad
