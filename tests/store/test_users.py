"""Users store: created on first sight, updated on change, one user under concurrency."""

from __future__ import annotations

import asyncio

from service.store import users


async def test_upsert_creates_then_updates_only_on_change(pool):
    created = await users.upsert_by_external_id(pool, "auth0|1", email="a@x.io", name="Ana")
    same = await users.upsert_by_external_id(pool, "auth0|1", email="a@x.io", name="Ana")
    assert same == created

    changed = await users.upsert_by_external_id(pool, "auth0|1", email="ana@x.io", name="Ana")
    assert changed.id == created.id
    assert changed.email == "ana@x.io"
    assert changed.updated_at > created.updated_at


async def test_concurrent_first_sight_creates_one_user(pool):
    results = await asyncio.gather(
        *(users.upsert_by_external_id(pool, "new-sub", email=None, name="N") for _ in range(20))
    )
    assert len({user.id for user in results}) == 1
    assert await pool.fetchval("SELECT count(*) FROM users WHERE external_id = 'new-sub'") == 1
