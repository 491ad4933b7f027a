"""Settings read from the environment, and the ones the pool is built with."""

from __future__ import annotations

import pytest

from service import db
from service.settings import Settings, load_settings

PREPARED = "SELECT count(*) FROM pg_prepared_statements"


def test_statement_cache_size_may_be_zero() -> None:
    assert load_settings({}).db_statement_cache_size == 100
    assert load_settings({"SHEETFLOW_DB_STATEMENT_CACHE_SIZE": "0"}).db_statement_cache_size == 0


@pytest.mark.parametrize("raw", ["-1", "many"])
def test_statement_cache_size_must_be_a_count(raw: str) -> None:
    with pytest.raises(SystemExit, match="SHEETFLOW_DB_STATEMENT_CACHE_SIZE"):
        load_settings({"SHEETFLOW_DB_STATEMENT_CACHE_SIZE": raw})


@pytest.mark.parametrize(("size", "kept"), [(0, False), (100, True)])
async def test_the_pool_keeps_prepared_statements_only_with_a_cache(
    database_url: str, size: int, kept: bool
) -> None:
    """With the cache off no named statement outlives its query, as a transaction-mode
    pooler needs (the next query may reach another server connection)."""
    pool = await db.create_pool(database_url, Settings(db_statement_cache_size=size), max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT $1::int + 1", 1) == 2
            assert (await conn.fetchval(PREPARED) > 0) is kept
    finally:
        await pool.close()


def test_log_format_and_web_concurrency() -> None:
    assert (load_settings({}).log_format, load_settings({}).web_concurrency) == ("text", 1)
    settings = load_settings({"SHEETFLOW_LOG_FORMAT": "json", "WEB_CONCURRENCY": "3"})
    assert (settings.log_format, settings.web_concurrency) == ("json", 3)
    with pytest.raises(SystemExit, match="SHEETFLOW_LOG_FORMAT"):
        load_settings({"SHEETFLOW_LOG_FORMAT": "xml"})
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY"):
        load_settings({"WEB_CONCURRENCY": "0"})
