"""The fix loop: the issues report, edited with openpyxl as a sender would in a spreadsheet
program, sent back to …/corrections: its changed cells become audited edits of the same
rows; the same file unchanged changes nothing; a file that is not the report changes
nothing and says which row or column is wrong."""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from pathlib import Path

import asyncpg
import msgspec
import openpyxl
import pytest

from service.entities import BatchMode, InferredType, RowStatus
from service.ingestion import child, protocol
from service.settings import Settings
from service.store import slots, users
from tests.api.conftest import SECRET
from tests.factories import make_batch, make_project
from tests.hostile.builders import lying_member

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 1 << 20


@pytest.fixture
def settings(tmp_path):
    """The app's settings, with a file limit that a test can pass cheaply."""
    return Settings(data_dir=tmp_path, jwt_secret=SECRET, max_file_bytes=MAX_FILE_BYTES)


@pytest.fixture
async def reported(client, auth, pool):
    """A batch with an error row and a warning row, and its issues report."""
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    records = [
        {"nome": "Ana", "idade": 30, "cidade": "Lisboa"},
        {"nome": "Bia", "idade": "quarenta", "cidade": "Porto"},
        {"nome": "Caio", "idade": 7, "cidade": None},
    ]
    batch = await make_batch(
        pool,
        project=project,
        records=records,
        statuses=[RowStatus.VALID, RowStatus.ERROR, RowStatus.WARNING],
    )
    base = f"/projects/{project.id}/batches/{batch.id}"
    report = await client.get(f"{base}/export?format=xlsx&report=issues", headers=auth("owner"))
    assert report.status_code == 200
    return base, report.content, project, batch


def edited(content: bytes, *changes: tuple[str, object]) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(content))
    for cell, value in changes:
        book.active[cell] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def send(client, auth, base, content):
    return await client.post(
        f"{base}/corrections", files={"file": ("fixed.xlsx", content, XLSX)}, headers=auth("owner")
    )


async def data_of(client, auth, base):
    page = (await client.get(f"{base}/rows", headers=auth("owner"))).json()
    return [row["data"] for row in page["items"]]


async def test_changed_cells_become_edits_of_the_same_rows(client, auth, reported, pool):
    base, content, _, batch = reported
    # Row 2 of the sheet is the error row (Bia), row 3 the warning row (Caio).
    fixed = edited(content, ("C2", 40), ("D3", "Recife"))
    response = await send(client, auth, base, fixed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rowsChanged"] == 2
    assert body["cellsChanged"] == 2
    assert body["before"] == {"valid": 1, "warning": 1, "error": 1}
    assert set(body["after"]) == {"valid", "warning", "error"}
    assert await data_of(client, auth, base) == [
        {"nome": "Ana", "idade": 30, "cidade": "Lisboa"},
        {"nome": "Bia", "idade": "40", "cidade": "Porto"},  # it held text: text still
        {"nome": "Caio", "idade": 7, "cidade": "Recife"},
    ]
    edits = await pool.fetch(
        "SELECT before, after FROM ingestion_events WHERE batch_id = $1 AND kind = 'row.edited'"
        " ORDER BY id",
        batch.id,
    )
    assert len(edits) == 2  # audited, one event per row changed
    # Sending the same file again changes nothing more.
    again = await send(client, auth, base, fixed)
    assert again.status_code == 200
    assert (again.json()["rowsChanged"], again.json()["cellsChanged"]) == (0, 0)


async def test_the_report_sent_back_unchanged_changes_nothing(client, auth, reported, pool):
    base, content, _, _ = reported
    before = await data_of(client, auth, base)
    for sent in (content, edited(content)):  # as written, and as saved by openpyxl
        response = await send(client, auth, base, sent)
        assert response.status_code == 200, response.text
        assert (response.json()["rowsChanged"], response.json()["cellsChanged"]) == (0, 0)
    assert await data_of(client, auth, base) == before


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ((("C1", "Age"), ("C2", 40)), "column C of the header row is 'Age', not 'Idade'"),
        ((("A2", "not an id"), ("C2", 40)), "row 2 has no row id"),
        ((("A3", "00000000-0000-0000-0000-000000000000"), ("C2", 40)), "row 3 has row id"),
        ((("A3", "=A2"), ("C2", 40)), "row 3 has no row id"),
        ((("F1", "Extra"), ("C2", 40)), "column F of the header row"),
    ],
)
async def test_a_file_that_is_not_the_report_changes_nothing(
    client, auth, reported, changes, words
):
    base, content, _, _ = reported
    before = await data_of(client, auth, base)
    response = await send(client, auth, base, edited(content, *changes))
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert await data_of(client, auth, base) == before


async def test_a_row_of_another_batch_is_refused(client, auth, reported, pool):
    base, content, project, _ = reported
    other = await make_batch(pool, project=project, records=[{"nome": "Zé"}])
    foreign = await pool.fetchval("SELECT id FROM ingestion_rows WHERE batch_id = $1", other.id)
    response = await send(client, auth, base, edited(content, ("A2", str(foreign))))
    assert response.status_code == 422
    assert f"row 2 has row id {foreign}" in response.json()["detail"]


async def test_a_repeated_row_id_is_refused(client, auth, reported):
    base, content, _, _ = reported
    book = openpyxl.load_workbook(io.BytesIO(content))
    response = await send(
        client, auth, base, edited(content, ("A3", book.active["A2"].value), ("C2", 40))
    )
    assert response.status_code == 422
    assert "row 3 repeats the row id of row 2" in response.json()["detail"]


async def test_a_batch_no_longer_pending_review_is_a_409(client, auth, reported):
    base, content, _, _ = reported
    reviewed = await client.patch(base, json={"status": "completed"}, headers=auth("owner"))
    assert reviewed.status_code == 200
    response = await send(client, auth, base, edited(content, ("C2", 40)))
    assert response.status_code == 409


async def test_not_a_workbook_is_a_422(client, auth, reported):
    base, _, _, _ = reported
    response = await send(client, auth, base, b"nome,idade\n")
    assert response.status_code == 422
    assert "not a readable XLSX" in response.json()["detail"]


def with_member(
    content: bytes, name: str, data: bytes, method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """The workbook `content` with one more archive member."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as original, zipfile.ZipFile(out, "w") as copy:
        for member in original.infolist():
            copy.writestr(member, original.read(member))
        copy.writestr(name, data, method)
    return out.getvalue()


def zip_bomb(content: bytes) -> bytes:
    return with_member(edited(content, ("C2", 40)), "xl/media/zeros.bin", bytes(65 << 20))


def lying_bomb(content: bytes) -> bytes:
    """A member that inflates to 8 MiB while its header says 1,000 bytes."""
    bomb = with_member(edited(content, ("C2", 40)), "xl/media/zeros.bin", bytes(8 << 20))
    return lying_member(lambda tmp: bomb, "xl/media/zeros.bin", 1000)(Path())


def far_cell(content: bytes) -> bytes:
    return edited(content, ("C2", 40), ("XFD1048576", "far away"))


def too_big(content: bytes) -> bytes:
    """Over `max_file_bytes` (but within the route's body limit): incompressible padding."""
    padding = os.urandom(MAX_FILE_BYTES)
    return with_member(
        edited(content, ("C2", 40)), "xl/media/noise.bin", padding, zipfile.ZIP_STORED
    )


@pytest.mark.parametrize(
    ("build", "status", "words", "limit"),
    [
        (zip_bomb, 422, "refused as a likely zip bomb", None),
        (lying_bomb, 422, "not the 1,000 it declares", None),
        (far_cell, 422, "has a value in column XFD (column 16,384)", "max_columns"),
        (too_big, 413, f"is larger than {MAX_FILE_BYTES:,} bytes", "max_file_bytes"),
    ],
    ids=["zip-bomb", "lying-member", "far-cell", "over-max-file-bytes"],
)
async def test_a_hostile_file_gets_the_uploads_answer_and_changes_nothing(
    client, auth, reported, build, status, words, limit
):
    """The file is read by the sandboxed worker after the upload's pre-checks: refused as an
    upload would be, nothing applied, and the service goes on answering corrections."""
    base, content, _, _ = reported
    before = await data_of(client, auth, base)
    response = await send(client, auth, base, build(content))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert words in problem["detail"]
    assert problem["file"] == "fixed.xlsx"
    assert problem.get("limit") == limit
    assert await data_of(client, auth, base) == before
    fine = await send(client, auth, base, edited(content, ("C2", 40)))
    assert fine.status_code == 200, fine.text
    assert (fine.json()["rowsChanged"], fine.json()["cellsChanged"]) == (1, 1)


@pytest.fixture
async def long_report(client, auth, pool):
    """A batch of 4,500 error rows (the worker sends 2,000 rows a chunk) and its report."""
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    records = [{"nome": f"n{n}", "cidade": "Lisboa"} for n in range(4_500)]
    batch = await make_batch(
        pool, project=project, records=records, statuses=[RowStatus.ERROR] * len(records)
    )
    base = f"/projects/{project.id}/batches/{batch.id}"
    report = await client.get(f"{base}/export?format=xlsx&report=issues", headers=auth("owner"))
    assert report.status_code == 200
    return base, report.content


async def test_a_long_file_is_compared_chunk_by_chunk(client, auth, long_report):
    base, content = long_report
    # Rows 2 (first chunk), 2,500 (second) and 4,501 (third, the last row).
    fixed = edited(content, ("B2", "m0"), ("C2500", "Porto"), ("C4501", ""))
    response = await send(client, auth, base, fixed)
    assert response.status_code == 200, response.text
    assert (response.json()["rowsChanged"], response.json()["cellsChanged"]) == (3, 3)
    rows = await data_of(client, auth, base)  # the first page: row 2 of the sheet
    assert rows[0] == {"nome": "m0", "cidade": "Lisboa"}
    again = await send(client, auth, base, fixed)
    assert (again.json()["rowsChanged"], again.json()["cellsChanged"]) == (0, 0)


async def test_an_error_in_a_later_chunk_applies_nothing_of_the_earlier(client, auth, long_report):
    base, content = long_report
    book = openpyxl.load_workbook(io.BytesIO(content))
    first_id = book.active["A2"].value
    fixed = edited(content, ("B2", "m0"), ("A4400", first_id))
    response = await send(client, auth, base, fixed)
    assert response.status_code == 422
    assert "row 4400 repeats the row id of row 2" in response.json()["detail"]
    assert (await data_of(client, auth, base))[0] == {"nome": "n0", "cidade": "Lisboa"}


async def test_corrections_count_among_the_uploads_running_at_once(
    client, auth, reported, database_url, settings
):
    """Reading a corrections file takes a parsing worker, as an upload does: with the user's
    upload slots all held (here by a bare session, as another host's uploads would), it is a
    429 answered before anything is read, and nothing is applied."""
    base, content, project, _ = reported
    other_host = await asyncpg.connect(database_url)
    try:
        for slot in range(settings.max_ingestions_per_user):
            assert await slots.take_user_slot(other_host, project.user_id, slot)
        before = await data_of(client, auth, base)
        refused = await send(client, auth, base, edited(content, ("C2", 40)))
        assert refused.status_code == 429, refused.text
        assert refused.json()["limit"] == "max_ingestions_per_user"
        assert await data_of(client, auth, base) == before
    finally:
        await other_host.close()
    accepted = await send(client, auth, base, edited(content, ("C2", 40)))
    assert accepted.status_code == 200, accepted.text


def test_cells_cross_the_workers_pipe_as_read():
    """Dates, date-times, times and durations keep their types across the JSON frames (and
    text its NULs removed, as PostgreSQL cannot store them)."""
    cells = [
        "Ana",
        "a\x00b",
        "",
        1.5,
        7,
        True,
        dt.date(2024, 3, 15),
        dt.datetime(2024, 3, 15, 8, 30, 5),
        dt.time(8, 30),
        dt.timedelta(hours=26, seconds=3),
    ]
    frame = protocol.CellsFrame(rows=[(2, [protocol.wire_cell(cell) for cell in cells])])
    decoded = protocol.frame_decoder.decode(msgspec.json.encode(frame))
    assert isinstance(decoded, protocol.CellsFrame)
    ((number, read),) = decoded.rows
    assert number == 2
    assert [protocol.cell_from_wire(cell) for cell in read] == [
        "Ana",
        "ab",
        "",
        1.5,
        7,
        True,
        *cells[6:],
    ]
    assert [type(protocol.cell_from_wire(cell)) for cell in read][6:] == [
        dt.date,
        dt.datetime,
        dt.time,
        dt.timedelta,
    ]


async def test_typed_cells_read_back_unchanged_change_nothing(client, auth, pool):
    """Dates, date-times, times, numbers and booleans, written typed by the report and read
    back by the worker, compare equal to the stored values; a changed date is stored as the
    ingestion stores one (ISO text)."""
    await client.get("/users/me", headers=auth("owner"))
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    record = {
        "dia": "2024-03-15",
        "momento": "2024-03-15T08:30:05",
        "hora": "08:30:00",
        "preco": 12.5,
        "ativo": True,
    }
    types = {
        "dia": InferredType.DATE,
        "momento": InferredType.DATETIME,
        "hora": InferredType.TIME,
        "preco": InferredType.NUMBER,
        "ativo": InferredType.BOOLEAN,
    }
    batch = await make_batch(
        pool, project=project, records=[record], statuses=[RowStatus.ERROR], types=types
    )
    base = f"/projects/{project.id}/batches/{batch.id}"
    report = await client.get(f"{base}/export?format=xlsx&report=issues", headers=auth("owner"))
    assert report.status_code == 200
    for sent in (report.content, edited(report.content)):
        response = await send(client, auth, base, sent)
        assert response.status_code == 200, response.text
        assert (response.json()["rowsChanged"], response.json()["cellsChanged"]) == (0, 0)
    response = await send(client, auth, base, edited(report.content, ("B2", dt.date(2025, 1, 2))))
    assert response.status_code == 200, response.text
    assert (response.json()["rowsChanged"], response.json()["cellsChanged"]) == (1, 1)
    assert (await data_of(client, auth, base))[0] == {**record, "dia": "2025-01-02"}


def worker_frames(tmp_path, rows, **limits) -> list[protocol.Frame]:
    """The frames the worker's side writes for a `sheet_cells` read of an xlsx of `rows`
    (run here, in this process: the file is a plain one)."""
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / "0000.xlsx"
    book.save(path)
    request = protocol.Request(
        sources=[(str(path), "fixed.xlsx")],
        mode=BatchMode.LIST_MODE,
        sheet=None,
        settings=Settings(data_dir=tmp_path, **limits),
        sheet_cells=True,
    )
    channel = io.BytesIO()
    child.run(request, channel)
    data, frames = channel.getvalue(), []
    while data:
        length = int.from_bytes(data[:4], "big")
        frames.append(protocol.frame_decoder.decode(data[4 : 4 + length]))
        data = data[4 + length :]
    return frames


def test_the_worker_sends_the_non_blank_rows_with_their_numbers(tmp_path):
    frames = worker_frames(tmp_path, [["Row id", "Nome"], [None, None], ["x", "Ana"]])
    assert [type(frame) for frame in frames] == [protocol.CellsFrame, protocol.DoneFrame]
    assert frames[0].rows == [(1, ["Row id", "Nome"]), (3, ["x", "Ana"])]


def test_the_worker_refuses_more_rows_than_max_rows(tmp_path):
    frames = worker_frames(tmp_path, [["Row id"], ["a"], ["b"], ["c"]], max_rows=2)
    assert len(frames) == 1
    assert isinstance(frames[0], protocol.ErrorFrame)
    assert (frames[0].kind, frames[0].limit) == ("LimitExceeded", "max_rows")
    assert "more than 2 rows below its header" in frames[0].detail
