"""A small file that becomes huge rows, over HTTP (issue 14, item 5): the batch limit is a 422
naming file, sheet, row and limit, and a page of rows is bounded by bytes as well as by count,
with a `next` to follow to the end."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest
import xlsxwriter

from service.settings import Settings
from tests.api.conftest import SECRET, counts

FULL = "x" * 32_767
ROW_BYTES = 32_767 + 400
"""About what one row of `repeated` weighs as JSON (its text, its other members)."""
PAGE_BYTES = 20 * ROW_BYTES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        jwt_secret=SECRET,
        max_batch_chars=1_000 * 32_767,
        max_page_bytes=PAGE_BYTES,
    )


def repeated(rows: int, sheet: str = "Data") -> bytes:
    """The issue's shape: one 32,767-character shared string in `rows` cells, a tiny xlsx.
    Every 50th row leaves its second column empty (a warning: it is filled in 98 % of rows)."""
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        page = book.add_worksheet(sheet)
        page.write_row(0, 0, ["texto", "n"])
        for row in range(1, rows + 1):
            page.write_string(row, 0, FULL)
            if row % 50:
                page.write_number(row, 1, row)
    return buffer.getvalue()


async def upload(client, auth, content, name="small.xlsx"):
    project = (await client.post("/projects", json={"name": name}, headers=auth())).json()
    return await client.post(
        f"/projects/{project['id']}/batches",
        data={"mode": "list_mode"},
        files=[("files", (name, content, "application/octet-stream"))],
        headers=auth(),
    )


async def test_a_small_file_past_the_batch_limit_is_422_and_stores_nothing(client, auth, pool):
    content = repeated(3_000)
    assert len(content) < 100_000

    response = await upload(client, auth, content)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert (
        problem["file"],
        problem["sheet"],
        problem["limit"],
        problem["limitValue"],
    ) == ("small.xlsx", "Data", "max_batch_chars", 1_000 * 32_767)
    # Each row holds 32,767 + 6 characters (text, and the keys `texto` and `n`).
    assert problem["row"] == 1 + 1 + 1_000 * 32_767 // (32_767 + 6)
    assert await counts(pool) == (0, 0)


async def follow(client, auth, url, **params):
    """Every page from `url` on, following `next`; the pages' items and their sizes."""
    pages = []
    response = await client.get(url, params=params, headers=auth())
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append((page, len(response.content)))
        if page["next"] is None:
            return pages
        response = await client.get(page["next"], headers=auth())


@pytest.mark.parametrize("status", [None, "valid"])
async def test_a_page_cut_by_bytes_leads_on_to_every_row_exactly_once(client, auth, status):
    created = await upload(client, auth, repeated(250))
    assert created.status_code == 201, created.text
    url = created.headers["location"] + "/rows"
    params = {"limit": 100} if status is None else {"limit": 100, "status": status}

    pages = await follow(client, auth, url, **params)

    first, size = pages[0]
    assert 1 <= len(first["items"]) < 100  # cut short by bytes, not by count
    assert size <= PAGE_BYTES + 1_000
    assert first["next"].startswith(f"{url}?")
    rows = [row for page, _ in pages for row in page["items"]]
    expected = [number for number in range(2, 252) if status is None or (number - 1) % 50]
    assert [row["sourceRowIndex"] for row in rows] == expected
    assert len({row["id"] for row in rows}) == len(expected) == first["total"]
    assert all(len(page["items"]) < 100 for page, _ in pages)
    assert all(page["limit"] == 100 for page, _ in pages)


async def test_a_page_not_cut_has_a_null_next_and_a_full_page_leads_on(client, auth):
    created = await upload(client, auth, repeated(3))
    url = created.headers["location"] + "/rows"

    last = (await client.get(url, params={"limit": 3}, headers=auth())).json()
    full = (await client.get(url, params={"limit": 2}, headers=auth())).json()
    beyond = (await client.get(url, params={"offset": 5}, headers=auth())).json()

    assert (len(last["items"]), last["next"]) == (3, None)
    assert (len(full["items"]), full["next"]) == (2, f"{url}?limit=2&offset=2")
    assert (beyond["items"], beyond["next"]) == ([], None)


async def test_one_row_larger_than_the_page_bound_still_comes_alone(client, auth, app):
    created = await upload(client, auth, repeated(3))
    url = created.headers["location"] + "/rows"
    app.state.settings = msgspec.structs.replace(app.state.settings, max_page_bytes=1)

    pages = await follow(client, auth, url)

    assert [len(page["items"]) for page, _ in pages] == [1, 1, 1]
    assert pages[0][0]["next"] == f"{url}?limit=50&offset=1"
