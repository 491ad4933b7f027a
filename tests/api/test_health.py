"""Readiness when the aggregate behind it has nothing to aggregate (issue 13, item 5)."""

from __future__ import annotations

from service.store import schema


async def test_an_empty_migrations_table_is_not_ready_and_no_500(client, pool):
    """`max(version)` over no row is NULL: no version, so 503 naming it, never a 500."""
    assert (await client.get("/ready")).status_code == 200
    await pool.execute("DELETE FROM schema_migrations")

    assert await schema.applied_version(pool) is None
    response = await client.get("/ready")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "database schema is at no migration, this build needs" in response.json()["detail"]
