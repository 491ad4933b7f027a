"""Known killers of spreadsheet parsers, uploaded over HTTP: each is a clean 4xx problem
naming the file, stores nothing, and the next ordinary upload still works."""

from __future__ import annotations

import pytest
import xlsxwriter

from tests.ingest import test_guards as guards_tests
from tests.ingest.test_guards import lying_zip, rezip
from tests.ingest.uploads import table_xlsx, xlsx_source


def far_cell(tmp_path):
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("Far").write("XFD1048576", "far away")

    return xlsx_source(tmp_path, "far.xlsx", build).path.read_bytes()


def wide(tmp_path):
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("Wide").write_row(0, 0, [f"c{i}" for i in range(16_384)])

    return xlsx_source(tmp_path, "wide.xlsx", build).path.read_bytes()


def entity_bomb(tmp_path):
    return guards_tests.entity_bomb(tmp_path).path.read_bytes()


def zip_bomb(tmp_path):
    """A real workbook carrying 100 MiB of zeros that deflate to ~100 KiB."""
    source = table_xlsx(tmp_path, "x", [["a"], [1]])
    return rezip(source, "bomb.xlsx", {"xl/media/zeros.bin": bytes(100 << 20)}).path.read_bytes()


def lying_archive(tmp_path):
    """A ZIP whose headers understate what its one member inflates to."""
    return lying_zip(b"<row/>" * (3 << 20), declared=1000)


@pytest.mark.parametrize(
    ("name", "build", "status", "words"),
    [
        ("far.xlsx", far_cell, 422, "max_columns"),
        ("wide.xlsx", wide, 422, "max_columns"),
        ("lol.xlsx", entity_bomb, 422, "entity"),
        ("bomb.xlsx", zip_bomb, 422, "zip bomb"),
        ("lie.xlsx", lying_archive, 415, "not a spreadsheet"),
    ],
)
async def test_hostile_workbooks_are_refused_and_the_service_goes_on(
    client, auth, pool, tmp_path, name, build, status, words
):
    project = (await client.post("/projects", json={"name": "p"}, headers=auth())).json()
    url = f"/projects/{project['id']}/batches"

    refused = await client.post(
        url, data={"mode": "list_mode"}, files={"files": (name, build(tmp_path))}, headers=auth()
    )
    assert refused.status_code == status, refused.text
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["file"] == name
    assert words in problem.get("limit", "") + problem["detail"]
    assert await pool.fetchval("SELECT count(*) FROM ingestion_batches") == 0

    normal = await client.post(
        url,
        data={"mode": "list_mode"},
        files={"files": ("ok.csv", b"a,b\n1,2\n", "text/csv")},
        headers=auth(),
    )
    assert normal.status_code == 201
    assert normal.json()["rowCount"] == 1
