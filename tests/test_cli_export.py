"""`sheetflow export`: the same file as GET …/export, written by the command line as the
project's owner."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from service import cli
from service.store import batches as batch_store
from tests.factories import make_batch, make_project, make_user


async def test_export_writes_the_batch_and_the_project(pool, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner, name="Clientes")
    records = [{"nome": "Ana", "formula": "=1+2"}, {"nome": "Bia", "formula": None}]
    batch = await make_batch(pool, project=project, records=records)
    target = tmp_path / "out.csv"
    argv = ["export", "--project", str(project.id), "--batch", str(batch.id), "-o", str(target)]
    assert await asyncio.to_thread(cli.main, [*argv, "--delimiter", ";"]) == 0
    assert list(csv.reader(io.StringIO(target.read_text(), newline=""), delimiter=";")) == [
        ["Nome", "Formula"],
        ["Ana", "'=1+2"],
        ["Bia", ""],
    ]
    await batch_store.review(pool, batch.id, "completed")
    whole = tmp_path / "project.ndjson"
    argv = ["export", "--project", str(project.id), "--format", "ndjson", "-o", str(whole)]
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert [json.loads(line) for line in whole.read_text().splitlines()] == [
        {"batchId": str(batch.id), "data": record} for record in records
    ]


async def test_export_of_a_missing_project_says_so(pool, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    argv = ["export", "--project", "00000000-0000-0000-0000-000000000000"]
    assert await asyncio.to_thread(cli.main, argv) == 1
    assert "no live project" in capsys.readouterr().err
