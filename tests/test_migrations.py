"""Migrations: up from empty, down to empty, up again, and the result is db/schema.sql."""

from __future__ import annotations

import uuid

import asyncpg

from service import db
from tests.conftest import with_database


async def _objects(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public'
            UNION ALL
            SELECT 'type ' || typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = 'public' AND t.typtype = 'e'
            UNION ALL
            SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public'
            """
        )
    finally:
        await conn.close()
    return {row[0] for row in rows}


async def test_up_down_up_matches_the_committed_schema(server_url, tmp_path):
    url = with_database(server_url, f"migrations_{uuid.uuid4().hex}")
    migrations = sorted(db.MIGRATIONS_DIR.glob("*.sql"))
    try:
        db.migrate(url)
        objects = await _objects(url)
        assert {
            "table users",
            "table projects",
            "table ingestion_batches",
            "table ingestion_rows",
            "type batch_status",
            "type batch_mode",
            "type row_status",
            "type project_status",
            "index idx_ingestion_batches_project_id",
            "index idx_ingestion_batches_user_id",
            "index idx_ingestion_rows_batch_id",
            "index uq_projects_user_name",
        } <= objects

        for _ in migrations:
            db.dbmate(url, "rollback")
        assert await _objects(url) == {"table schema_migrations", "index schema_migrations_pkey"}

        db.migrate(url)
        dump = tmp_path / "schema.sql"
        db.dbmate(url, "dump", schema_file=dump)
        assert dump.read_text() == db.SCHEMA_FILE.read_text(), (
            "db/schema.sql is stale: run `uv run sheetflow migrate --dump-schema` and commit it"
        )
    finally:
        db.dbmate(url, "drop")


async def test_enum_values_are_lowercase_snake_case(pool):
    labels = await pool.fetch(
        "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
        " ORDER BY t.typname, e.enumsortorder"
    )
    values = {}
    for row in labels:
        values.setdefault(row["typname"], []).append(row["enumlabel"])
    assert values == {
        "project_status": ["active", "archived"],
        "batch_mode": ["list_mode", "profile_mode"],
        "batch_status": ["pending_review", "completed", "failed"],
        "row_status": ["valid", "warning", "error"],
        "delivery_status": ["pending", "in_progress", "done", "error"],
    }


async def test_new_row_keys_are_uuidv7_where_the_server_has_it(pool):
    """Rows are keyed in time order (bench/upload.py: ~8 % less per row copied) on PostgreSQL
    18 and newer; older servers keep random keys."""
    has_uuidv7 = await pool.fetchval("SELECT to_regprocedure('pg_catalog.uuidv7()') IS NOT NULL")
    default = await pool.fetchval(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d"
        " JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
        " WHERE d.adrelid = 'ingestion_rows'::regclass AND a.attname = 'id'"
    )
    assert default == ("uuidv7()" if has_uuidv7 else "gen_random_uuid()")


async def test_batch_names_and_delivery_counts_survive_down_and_up(server_url):
    """20261203123100 names existing batches after the file of their first row, and
    20261203123200 moves the delivery counts to their slots and back, losing nothing."""
    url = with_database(server_url, f"migrations_{uuid.uuid4().hex}")
    try:
        db.migrate(url)
        conn = await asyncpg.connect(url)
        try:
            owner = await conn.fetchval("INSERT INTO users (external_id) VALUES ('m') RETURNING id")
            project = await conn.fetchval(
                "INSERT INTO projects (user_id, name) VALUES ($1, 'p') RETURNING id", owner
            )
            batch = await conn.fetchval(
                "INSERT INTO ingestion_batches (project_id, user_id, mode, status, file_count,"
                " row_count, name) VALUES ($1, $2, 'list_mode', 'completed', 2, 1, 'later')"
                " RETURNING id",
                project,
                owner,
            )
            await conn.execute(
                "INSERT INTO ingestion_rows (batch_id, position, data, source_file_name,"
                " source_sheet_name, source_row_index) VALUES ($1, 0, '{}', 'março.csv', 's', 2)",
                batch,
            )
            await conn.execute(
                "INSERT INTO ingestion_batch_delivery_counts (batch_id, slot, done, error)"
                " VALUES ($1, 3, 2, 1), ($1, 9, 5, 0)",
                batch,
            )
            while await conn.fetchval("SELECT max(version) FROM schema_migrations") >= (
                "20261203123100"
            ):
                db.dbmate(url, "rollback")
            assert "name" not in {
                r[0]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = 'ingestion_batches'"
                )
            }
            db.migrate(url)
            assert await conn.fetchval(
                "SELECT name FROM ingestion_batches WHERE id = $1", batch
            ) == ("março.csv")
            counts = await conn.fetch(
                "SELECT slot, in_progress, done, error FROM ingestion_batch_delivery_counts"
            )
            assert [tuple(c) for c in counts] == [(0, 0, 7, 1)]
        finally:
            await conn.close()
    finally:
        db.dbmate(url, "drop")
