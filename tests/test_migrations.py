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
