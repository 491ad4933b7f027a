"""`sheetflow ingest --mapping FILE`: the upload's explicit mapping, from a JSON file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from service.schemas import SchemaField
from service.store import project_schemas
from tests.factories import make_project, make_user


async def ingest_command(database_url, path, project_id, *extra):
    command = [sys.executable, "-m", "service.cli", "ingest", str(path)]
    command += ["--project", str(project_id), "--mode", "list_mode", *extra]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        check=False,
    )


async def test_the_ingest_command_takes_a_mapping_file(pool, tmp_path, database_url):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    async with pool.acquire() as conn, conn.transaction():
        fields = [SchemaField(key="nome"), SchemaField(key="contato")]
        await project_schemas.create_version(conn, owner.id, project.id, fields)
    source = tmp_path / "pessoas.csv"
    source.write_text("Nome,Fone\nAna,1\n", encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"Fone": "contato"}', encoding="utf-8")

    result = await ingest_command(database_url, source, project.id, "--mapping", str(mapping))
    assert result.returncode == 0, result.stderr
    assert "-> contato (explicit)" in result.stdout
    assert "-> nome (key)" in result.stdout
    data = await pool.fetchval(
        "SELECT data FROM ingestion_rows r JOIN ingestion_batches b ON b.id = r.batch_id "
        "WHERE b.project_id = $1",
        project.id,
    )
    assert data == {"nome": "Ana", "contato": "1"}

    mapping.write_text('{"Fone": "telefone"}', encoding="utf-8")
    unknown = await ingest_command(database_url, source, project.id, "--mapping", str(mapping))
    assert unknown.returncode == 1
    assert "'telefone'" in unknown.stderr
    mapping.write_text("[1]", encoding="utf-8")
    malformed = await ingest_command(database_url, source, project.id, "--mapping", str(mapping))
    assert malformed.returncode == 2
    assert "--mapping" in malformed.stderr
    missing = await ingest_command(
        database_url, source, project.id, "--mapping", str(tmp_path / "nope.json")
    )
    assert missing.returncode == 2
