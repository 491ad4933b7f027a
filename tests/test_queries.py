"""The query module: every query parses, runs against the schema, and is used exactly once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from service import queries
from service.entities import RowRecord
from service.queries import QueryError, parse

STORE = Path(queries.__file__).parent / "store"


def store_usage() -> dict[str, list[str]]:
    """query name -> the store functions whose code names it."""
    usage: dict[str, list[str]] = {name: [] for name in queries.QUERIES}
    for path in STORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            for node in ast.walk(function):
                user = f"{path.stem}.{function.name}"
                if (
                    isinstance(node, ast.Constant)
                    and node.value in usage
                    and user not in usage[node.value]
                ):
                    usage[node.value].append(user)
    return usage


def test_every_query_is_used_by_exactly_one_store_function():
    usage = store_usage()
    assert {name: users for name, users in usage.items() if len(users) != 1} == {}


async def test_every_query_is_valid_sql_against_the_schema(pool):
    """PREPARE each statement: catches typos, wrong columns and wrong casts without running it."""
    async with pool.acquire() as conn:
        for query in queries.QUERIES.values():
            if query.kind == "copy":
                columns = ", ".join(query.copy_columns)
                await conn.prepare(f"SELECT {columns} FROM {query.copy_table} LIMIT 0")
            else:
                await conn.prepare(query.sql)


def test_header_is_kept_in_the_sent_text():
    query = queries.QUERIES["get_batch"]
    assert query.sql.startswith("-- name: get_batch :one\nSELECT ")
    assert query.description == "One live batch by id."


def test_copy_queries_declare_table_and_columns():
    query = queries.QUERIES["copy_rows"]
    assert query.copy_table == "ingestion_rows"
    assert query.copy_columns[:2] == ("batch_id", "position")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "-- name: a :one\n-- d\nSELECT 1;\n-- name: b :lots\n-- d\nSELECT 2;",
            "unknown kind :lots",
        ),
        ("-- name: a :one\n-- d\n\n", "empty body"),
        ("-- name: a :one\nSELECT 1;", "one-line `-- description`"),
        ("-- name: a :copy\n-- d\nINSERT INTO t VALUES (1);", "must be `COPY"),
    ],
)
def test_malformed_files_fail_fast(text, message):
    with pytest.raises(QueryError, match=message):
        parse(text, "bad.sql")


def test_duplicate_names_fail_fast(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: same :one\n-- d\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: same :scalar\n-- d\nSELECT 2;\n")
    with pytest.raises(QueryError, match=r"duplicate query name 'same' in b\.sql and a\.sql"):
        queries.load(tmp_path)


async def test_running_a_query_as_another_kind_is_refused(pool):
    with pytest.raises(QueryError, match="is :one, not :many"):
        await queries.many(pool, "get_batch", None, into=dict)


def test_the_copy_of_rows_takes_the_batch_id_then_the_fields_of_the_row_record():
    assert queries.QUERIES["copy_rows"].copy_columns == ("batch_id", *RowRecord._fields)
