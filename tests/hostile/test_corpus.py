"""The hostile corpus over HTTP (issue #5): every file gets the answer its case prescribes,
never a 5xx and never an error in the log; a refused file leaves no batch and no row
behind; and the service goes on ingesting ordinary files afterwards."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import Service
from tests.hostile.corpus import CASES, Accepted, Case, Refused, Row


def status_of(row: Row) -> str:
    """Spec §4.5: `error` if any message is an error, else `warning` if any, else `valid`."""
    if any(kind == "cell_error" for _, kind, _ in row.messages):
        return "error"
    return "warning" if row.messages else "valid"


def check_refused(response: httpx.Response, case: Case, expect: Refused) -> None:
    assert response.status_code == expect.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == expect.status
    assert problem["file"] == case.name
    assert case.name in problem["detail"]
    for phrase in expect.says:
        assert phrase in problem["detail"]
    assert {key: problem.get(key) for key in expect.where} == expect.where


async def check_accepted(
    service: Service, response: httpx.Response, case: Case, expect: Accepted
) -> None:
    assert response.status_code == 201, response.text
    batch = response.json()
    columns = [
        (column["normalizedKey"], column["originalHeader"], column["inferredType"])
        for column in batch["columnMetadata"]
    ]
    assert columns == list(expect.columns)
    assert batch["rowCount"] == len(expect.rows)
    assert batch["statusCounts"] == {
        "valid": 0,
        "warning": 0,
        "error": 0,
        **Counter(map(status_of, expect.rows)),
    }
    rows = await service.get(response.headers["location"] + "/rows", limit=100)
    assert [
        (
            row["sourceFileName"],
            row["sourceSheetName"],
            row["sourceRowIndex"],
            row["data"],
            [(m["field"], m["type"], m["message"]) for m in row["validationMessages"]],
            row["status"],
        )
        for row in rows["items"]
    ] == [
        (case.name, expect.sheet, row.index, row.data, list(row.messages), status_of(row))
        for row in expect.rows
    ]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=case.bug)])
        if case.bug
        else pytest.param(case, id=case.id)
        for case in CASES
    ],
)
async def test_hostile_file(
    service: Service, case: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = [(name, build(tmp_path)) for name, build in case.before]
    files.append((case.name, case.build(tmp_path)))
    before = await service.stored()

    with caplog.at_level(logging.ERROR):
        response = await service.upload(files, mode=case.mode, sheet=case.sheet, limits=case.limits)

    assert response.status_code < 500, response.text
    assert not caplog.records, "a client's bad file is answered, not logged as an error"
    if isinstance(case.expect, Refused):
        check_refused(response, case, case.expect)
        assert await service.stored() == before
    else:
        await check_accepted(service, response, case, case.expect)
    assert (await service.get("/ready"))["status"] == "ready"


def test_the_corpus_is_large_and_its_cases_distinct() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


async def test_a_file_name_holding_a_nul_character_is_refused(service: Service) -> None:
    """httpx cannot send such a name, so the multipart body is written by hand."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="mode"\r\n\r\nlist_mode\r\n'
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="a\x00b.csv"\r\n\r\n'
        b"a,b\n1,2\n\r\n--b--\r\n"
    )
    before = await service.stored()
    response = await (await service.client()).post(
        f"/projects/{service.project}/batches",
        content=body,
        headers={**service.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400, response.text
    assert "contains a NUL character" in response.json()["detail"]
    assert await service.stored() == before


async def test_an_ordinary_upload_still_works_after_the_corpus(service: Service) -> None:
    response = await service.upload([("ok.csv", b"a,b\n1,2\n")])
    assert response.status_code == 201, response.text
    rows = await service.get(response.headers["location"] + "/rows")
    assert [row["data"] for row in rows["items"]] == [{"a": "1", "b": "2"}]
