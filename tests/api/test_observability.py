"""What an operator sees: the request id, `/metrics`, and log lines that carry the id and
nothing secret."""

from __future__ import annotations

import json
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.logs import JsonFormatter, TextFormatter, WorkerLines, request_id_from

CELL = "ValorSecretoDaCelula"
CSV = f"nome;idade\r\n{CELL};30\r\nBia;41\r\n".encode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def make_project(client, auth) -> str:
    response = await client.post("/projects", json={"name": "observed"}, headers=auth())
    return str(response.json()["id"])


def upload(client, auth, project, *, request_id=None, key=None):
    headers = auth()
    if request_id:
        headers["X-Request-ID"] = request_id
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/projects/{project}/batches",
        data={"mode": "list_mode"},
        files={"files": ("pessoas.csv", CSV, "text/csv")},
        headers=headers,
    )


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("two words", False), ("", False)],
)
async def test_the_request_id_is_the_clients_when_sane_else_made(client, sent, kept):
    response = await client.get("/health", headers={"X-Request-ID": sent})
    returned = response.headers["x-request-id"]
    if kept:
        assert returned == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", returned)


async def test_every_answer_carries_a_request_id_even_a_refusal(client):
    for path, status in (("/projects", 401), ("/nowhere", 404)):
        response = await client.get(path, headers={"X-Request-ID": f"id-{status}"})
        assert response.status_code == status
        assert response.headers["x-request-id"] == f"id-{status}"
    assert request_id_from(None) != request_id_from(None)


async def test_metrics_count_requests_by_route_template_uploads_rows_and_bytes(client, auth):
    """Deltas: the figures belong to the process, which earlier tests have used too."""
    before = await scrape(client)
    project = await make_project(client, auth)
    created = await upload(client, auth, project, key="k")
    replayed = await upload(client, auth, project, key="k")
    refused = await client.post(
        f"/projects/{project}/batches", data={"mode": "list_mode"}, headers=auth()
    )
    assert (created.status_code, replayed.status_code, refused.status_code) == (201, 201, 400)
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    route = "/projects/{project_id}/batches"
    assert grew("sheetflow_http_requests_total", method="POST", route="/projects", status="201")
    assert grew("sheetflow_http_requests_total", method="POST", route=route, status="201") == 2
    assert grew("sheetflow_http_requests_total", method="POST", route=route, status="400") == 1
    assert grew("sheetflow_http_request_duration_seconds_count", method="POST", route=route) == 3
    assert grew("sheetflow_uploads_total", outcome="created") == 1
    assert grew("sheetflow_uploads_total", outcome="replayed") == 1
    assert grew("sheetflow_uploads_total", outcome="refused") == 1
    assert grew("sheetflow_rows_ingested_total") == 2
    assert grew("sheetflow_ingestion_duration_seconds_count") == 1
    assert grew("sheetflow_http_request_body_bytes_total", method="POST", route=route) > 2 * len(
        CSV
    )
    assert after[("sheetflow_web_workers", ())] == 1
    assert after[("sheetflow_db_pool_size", ())] >= 1
    assert ("sheetflow_db_pool_in_use", ()) in after
    assert ("sheetflow_database_errors_total", (("reason", "timeout"),)) in after
    # Route templates only: no id of a project (nor anything of a tenant) in a label.
    assert project not in (await client.get("/metrics")).text


async def test_metrics_need_no_token_and_are_not_in_the_api_document(client):
    assert (await client.get("/metrics")).status_code == 200
    assert "/metrics" not in (await client.get("/schema/openapi.json")).json()["paths"]


async def test_log_lines_of_an_upload_carry_its_request_id_and_no_secret(
    client, auth, caplog, capsys
):
    project = await make_project(client, auth)
    token = auth()["Authorization"].split()[1]
    with caplog.at_level(logging.INFO):
        response = await upload(client, auth, project, request_id="upload-42")
    assert response.status_code == 201
    stored = [r for r in caplog.records if r.name == "sheetflow.ingestion"]
    assert [r.request_id for r in stored] == ["upload-42"]  # type: ignore[attr-defined]
    assert "2 rows" in stored[0].getMessage()
    # The parsing worker's line, relayed to the service's stderr, in the same format.
    worker = [line for line in capsys.readouterr().err.splitlines() if "parsing worker" in line]
    assert worker == [worker[0]]
    assert worker[0].endswith("[request upload-42]")
    for record in caplog.records:
        for line in (JsonFormatter().format(record), TextFormatter().format(record)):
            assert token not in line
            assert CELL not in line
            assert "pessoas" not in line


def test_json_lines_are_one_object_each_with_the_trace_of_an_exception():
    record = logging.LogRecord("sheetflow.x", logging.ERROR, __file__, 1, "a\nb %s", ("c",), None)
    record.request_id = "r-1"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "sheetflow.x", "a\nb c")
    assert entry["request_id"] == "r-1"
    assert "ValueError: boom" in entry["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_the_worker_output_is_split_into_log_lines_and_the_rest(capsys):
    lines = WorkerLines()
    rest = lines.feed(b'\x1e{"a": 1}\nTraceback (most\x1e') + lines.feed(b" recent)\n\x1elast")
    rest += lines.rest()
    assert rest == b"Traceback (most\x1e recent)\n"
    assert capsys.readouterr().err == '{"a": 1}\nlast'


def test_access_lines_lose_their_query_string():
    """A search over a field's values is row data: `…/values?search=Ana` is logged without it."""
    from service.logs import PathWithoutQuery

    args = ("127.0.0.1:5", "GET", "/projects/p/batches/b/fields/nome/values?search=Ana", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s %s %s %s %d", args, None
    )
    assert PathWithoutQuery().filter(record)
    assert record.getMessage() == "127.0.0.1:5 GET /projects/p/batches/b/fields/nome/values 1.1 200"
