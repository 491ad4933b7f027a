"""Idempotency keys: a user's key, the hash of the request that used it and the id of what
that request created, written in the transaction that creates the resource.

Whoever creates with a key first takes it with `lock` (a transaction-scoped advisory lock, so
it is held until that transaction commits or rolls back, on any connection of any process),
then reads it with `get`, and only then writes it with `create`. `get` also serves as a cheap
check before any work, without the lock: a stale answer there is corrected under the lock.
"""

from __future__ import annotations

from uuid import UUID

from service import queries
from service.db import Connection, Executor
from service.entities import IdempotencyRecord

PURGE_BATCH = 100
"""Expired keys deleted by one creation: more than the one it adds, so no backlog grows."""


async def lock(conn: Connection, user_id: UUID, key: str) -> bool:
    """Take the user's key for the rest of this transaction; False while another transaction
    holds it (a request with that key is being created right now)."""
    return bool(await queries.scalar(conn, "lock_idempotency_key", user_id, key))


async def get(db: Executor, user_id: UUID, key: str) -> IdempotencyRecord | None:
    """The user's unexpired record of `key`, if any."""
    return await queries.one(db, "get_idempotency_key", user_id, key, into=IdempotencyRecord)


async def create(
    conn: Connection,
    user_id: UUID,
    key: str,
    *,
    request_hash: bytes,
    resource_id: UUID,
    ttl_seconds: int,
) -> bool:
    """Record that `key` created `resource_id`, for `ttl_seconds`, replacing an expired record
    of the key; False (and nothing written) if a live record exists. Call it holding `lock`,
    in the transaction that creates the resource."""
    created = await queries.scalar(
        conn, "create_idempotency_key", user_id, key, request_hash, resource_id, ttl_seconds
    )
    return created is not None


async def purge_expired(db: Executor) -> None:
    """Delete a few expired keys for good (expired keys already read as absent). Rows that
    another transaction has locked are skipped, never waited for."""
    await queries.execute(db, "purge_expired_idempotency_keys", PURGE_BATCH)
