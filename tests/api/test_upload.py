"""Uploads over HTTP: multipart in, one atomic batch out (or a problem and nothing stored)."""

from __future__ import annotations

import asyncio
import gc
import io
import struct
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from service.api.app import create_app
from service.settings import Settings
from tests.api.conftest import SECRET, counts, running
from tests.ingest.uploads import indented_ods, ods_archive, ods_content, padded, two_sheets
from tests.terminator import Terminator

CSV = "nome;idade;cidade\r\nAna;30;São Paulo\r\nBia;41;Lisboa\r\n".encode()


def xlsx(rows, sheet="Pessoas"):
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        page = book.add_worksheet(sheet)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                page.write(r, c, value)
    return buffer.getvalue()


@pytest.fixture
async def project(client, auth):
    return (await client.post("/projects", json={"name": "uploads"}, headers=auth())).json()


async def upload(client, auth, project, files, mode="list_mode", **fields):
    return await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": mode, **fields},
        files=[("files", f) for f in files],
        headers=auth(),
    )


async def test_csv_upload_is_201_with_location_and_rows(client, auth, project):
    response = await upload(client, auth, project, [("Relatório ç.csv", CSV, "text/csv")])

    assert response.status_code == 201, response.text
    batch = response.json()
    assert response.headers["location"] == f"/projects/{project['id']}/batches/{batch['id']}"
    assert (batch["status"], batch["mode"], batch["fileCount"], batch["rowCount"]) == (
        "pending_review",
        "list_mode",
        1,
        2,
    )
    assert [c["normalizedKey"] for c in batch["columnMetadata"]] == ["nome", "idade", "cidade"]
    rows = (await client.get(response.headers["location"] + "/rows", headers=auth())).json()
    assert [r["data"] for r in rows["items"]] == [
        {"nome": "Ana", "idade": "30", "cidade": "São Paulo"},
        {"nome": "Bia", "idade": "41", "cidade": "Lisboa"},
    ]
    assert {r["sourceFileName"] for r in rows["items"]} == {"Relatório ç.csv"}
    assert [r["sourceRowIndex"] for r in rows["items"]] == [2, 3]


async def test_profile_mode_takes_many_files_one_row_each(client, auth, project):
    files = [
        (f"ficha{i}.xlsx", xlsx([["Nome", f"P{i}"]]), "application/octet-stream") for i in range(3)
    ]
    response = await upload(client, auth, project, files, mode="profile_mode")
    assert response.status_code == 201, response.text
    assert (response.json()["fileCount"], response.json()["rowCount"]) == (3, 3)


async def test_bad_forms_are_400_and_store_nothing(client, auth, project, pool):
    two = [("a.csv", CSV, "text/csv"), ("b.csv", CSV, "text/csv")]
    assert (await upload(client, auth, project, two)).status_code == 400
    assert (
        await upload(client, auth, project, [("a.csv", CSV, "text/csv")], mode="x")
    ).status_code == 400
    no_files = await client.post(
        f"/projects/{project['id']}/batches", data={"mode": "list_mode"}, headers=auth()
    )
    assert no_files.status_code == 400
    text_part = await client.post(
        f"/projects/{project['id']}/batches",
        files={"mode": (None, "list_mode"), "files": (None, "not a file")},
        headers=auth(),
    )
    assert text_part.status_code == 400
    binary_part = await client.post(
        f"/projects/{project['id']}/batches",
        files={"mode": (None, "list_mode"), "files": (None, b"\x89PNG\r\n\x1a\n\xff\xfe")},
        headers=auth(),
    )
    assert binary_part.status_code == 400
    assert "filename" in binary_part.json()["detail"]
    assert await counts(pool) == (0, 0)


async def test_unsupported_content_is_415_naming_the_file(client, auth, project, pool):
    response = await upload(
        client, auth, project, [("photo.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")]
    )
    assert response.status_code == 415
    assert response.json()["file"] == "photo.xlsx"
    assert "photo.xlsx" in response.json()["detail"]
    assert await counts(pool) == (0, 0)


async def test_a_missing_sheet_is_422_naming_it(client, auth, project):
    response = await upload(
        client, auth, project, [("p.xlsx", xlsx([["a"], [1]]), "x")], sheet="Nope"
    )
    assert response.status_code == 422
    assert "Nope" in response.json()["detail"]


@pytest.fixture
def small_settings(tmp_path):
    return Settings(data_dir=tmp_path, jwt_secret=SECRET, max_file_bytes=1000, max_files=2)


async def test_size_limits_are_413_with_the_limit(database_url, small_settings, token_for):
    from service.api.app import create_app
    from tests.api.conftest import running

    headers = {"Authorization": f"Bearer {token_for('owner')}"}
    async with running(create_app(small_settings, database_url)) as client:
        project = (await client.post("/projects", json={"name": "p"}, headers=headers)).json()
        url = f"/projects/{project['id']}/batches"
        big = b"a,b\n" + b"1,2\n" * 400
        response = await client.post(
            url,
            data={"mode": "list_mode"},
            files=[("files", ("big.csv", big, "text/csv"))],
            headers=headers,
        )
        assert response.status_code == 413
        body = response.json()
        assert (body["file"], body["limit"], body["limitValue"]) == (
            "big.csv",
            "max_file_bytes",
            1000,
        )

        three = [("files", (f"{i}.csv", b"a\n1\n", "text/csv")) for i in range(3)]
        response = await client.post(
            url, data={"mode": "profile_mode"}, files=three, headers=headers
        )
        assert response.status_code == 413
        assert response.json()["limit"] == "max_files"

        # A declared length over what the route accepts is refused before the body is read.
        response = await client.post(
            url,
            content=b"x" * 10,
            headers={
                **headers,
                "Content-Type": "multipart/form-data; boundary=b",
                "Content-Length": str(10**9),
            },
        )
        assert response.status_code == 413


# Litestar's multipart parser leaves the part it was writing to the garbage collector when the
# stream is cut off (it closes parts only on parse errors); the collector closes it, with a
# ResourceWarning that this test must tolerate to check the cut-off itself.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_body_that_outgrows_the_limit_is_cut_off(database_url, small_settings, token_for):
    from service.api.app import create_app
    from tests.api.conftest import running

    headers = {"Authorization": f"Bearer {token_for('owner')}"}
    async with running(create_app(small_settings, database_url)) as client:
        project = (await client.post("/projects", json={"name": "p"}, headers=headers)).json()
        url = f"/projects/{project['id']}/batches"

        # A body without a declared length is cut off once it outgrows the route's limit.
        async def endless():
            yield b"--b\r\nContent-Disposition: form-data; name=files; filename=x.csv\r\n\r\n"
            for _ in range(64):
                yield b"a" * 65536

        response = await client.post(
            url,
            content=endless(),
            headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 413
    # Collect the abandoned part now, inside this test's warning filter, not in a later test.
    gc.collect()


async def test_a_pooled_connection_killed_a_moment_before_is_503_never_500(
    database_url, tmp_path, token_for
):
    """A backend killed while its connection idles in the pool sends its FATAL at once. For
    a turn or two of the event loop asyncpg has read it but not yet noticed the closed socket,
    and a request handed that connection fails its first statement (here the lookup of the
    uploader) with asyncpg's `InternalClientError`. However soon after the kill the upload
    comes, it is a 201, or a 503 that a retry turns into a 201."""
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, pool_size=1)
    headers = {"Authorization": f"Bearer {token_for('owner')}"}
    files = [("files", ("a.csv", b"a\r\n1\r\n", "text/csv"))]
    app = create_app(settings, database_url)
    answers = []
    async with running(app) as client, Terminator(database_url) as killer:
        project = (await client.post("/projects", json={"name": "p"}, headers=headers)).json()
        url = f"/projects/{project['id']}/batches"
        for turns in range(6):
            killer.kill(await app.state.pool.fetchval("SELECT pg_backend_pid()"))
            for _ in range(turns):
                await asyncio.sleep(0)
            response = await client.post(
                url, data={"mode": "list_mode"}, files=files, headers=headers
            )
            answers.append(response.status_code)
            if response.status_code == 503:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"] == "5"
                retried = await client.post(
                    url, data={"mode": "list_mode"}, files=files, headers=headers
                )
                assert retried.status_code == 201, retried.text
    assert set(answers) <= {201, 503}, answers


TABLIB = Path(__file__).parent.parent / "data" / "tablib"


async def test_opendocument_files_of_tablib_are_read_not_refused_as_another_format(
    client, auth, project
):
    """Their `mimetype` member is not the first of the archive (issue 13: 415 before).
    book.ods's sheets hold a header each and no row; unknown_value_type.ods holds one cell
    of a value type calamine does not know (LibreOffice shows it as text): no data, or a
    header alone."""
    book = await upload(
        client, auth, project, [("book.ods", (TABLIB / "book.ods").read_bytes(), "x")]
    )
    assert book.status_code == 201, book.text
    assert book.json()["rowCount"] == 0
    headers = [column["originalHeader"] for column in book.json()["columnMetadata"]]
    assert headers[2:] == ["124", "16:45:00", "09:55:33", "This", "is", "a", "second", "sheet"]

    unknown = await upload(
        client,
        auth,
        project,
        [("unknown_value_type.ods", (TABLIB / "unknown_value_type.ods").read_bytes(), "x")],
    )
    if unknown.status_code != 201:
        assert unknown.status_code == 422, unknown.text
        assert "no data" in unknown.json()["detail"]


async def test_an_ods_without_its_mimetype_member_is_read(client, auth, project):
    with zipfile.ZipFile(TABLIB / "book.ods") as original, io.BytesIO() as buffer:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as copy:
            for member in reversed(original.infolist()):
                if member.filename != "mimetype":
                    copy.writestr(member.filename, original.read(member))
        data = buffer.getvalue()
    with_mimetype = await upload(
        client, auth, project, [("book.ods", (TABLIB / "book.ods").read_bytes(), "x")]
    )
    without = await upload(client, auth, project, [("bare.ods", data, "x")])
    assert without.status_code == 201, without.text
    assert without.json()["rowCount"] == with_mimetype.json()["rowCount"]
    assert without.json()["columnMetadata"] == with_mimetype.json()["columnMetadata"]


XLRD = Path(__file__).parent.parent / "data" / "xlrd"


async def test_files_libreoffice_reads_and_calamine_did_not_are_read(
    client, auth, project, tmp_path
):
    """Issue 13: an Excel 4.0 worksheet (415 before), an ods indented as KSpread writes it
    (422), an xlsx with numbers written `<v> 41</v>` as R's openxlsx writes them, among other
    sheets (422, which refused the whole list-mode upload)."""
    excel4 = (XLRD / "biff4_no_format_no_window2.xls").read_bytes()
    response = await upload(client, auth, project, [("biff4.xls", excel4, "x")])
    assert response.status_code == 201, response.text
    assert response.json()["rowCount"] == 26

    kspread = indented_ods(tmp_path).read_bytes()
    response = await upload(client, auth, project, [("pythagoras-kspread.ods", kspread, "x")])
    assert response.status_code == 201, response.text
    rows = await client.get(response.headers["location"] + "/rows", headers=auth())
    assert [row["data"] for row in rows.json()["items"]] == [
        {"cidade": "New York", "hab": 8.3},
        {"cidade": "Rio\nde Janeiro", "hab": 6},
    ]

    datasets = padded(two_sheets(tmp_path), "datasets.xlsx").path.read_bytes()
    response = await upload(client, auth, project, [("datasets.xlsx", datasets, "x")])
    assert response.status_code == 201, response.text
    rows = await client.get(response.headers["location"] + "/rows", headers=auth())
    assert [row["data"]["stations"] for row in rows.json()["items"]] == [None, 41, 15]


async def test_a_damaged_ods_is_refused_saying_what_calamine_found(client, auth, project):
    """Not "Cannot detect file format": the spooled upload is named with its extension."""
    content = ods_content(
        b'<table:table table:name="S"><table:table-row>'
        b'<table:table-cell office:value-type="float" office:value="x1"><text:p>1</text:p>'
        b"</table:table-cell></table:table-row></table:table>"
    )
    response = await upload(client, auth, project, [("broken.ods", ods_archive(content), "x")])
    assert response.status_code == 422, response.text
    assert "Parse float error" in response.json()["detail"]
    assert "Cannot detect" not in response.json()["detail"]


async def test_an_excel_4_workbook_is_refused_saying_so(client, auth, project):
    bof = struct.pack("<HHHHH", 0x0409, 6, 0, 0x0100, 0)
    response = await upload(client, auth, project, [("w4.xls", bof + b"\x0a\x00\x00\x00", "x")])
    assert response.status_code == 415, response.text
    assert "is an Excel 4.0 file (a workbook" in response.json()["detail"]
