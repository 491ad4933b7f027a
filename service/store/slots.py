"""Upload slots (`sql/admission.sql`): session-level advisory locks that count the uploads
running, across every process on the database (`service.admission` says how they are used).
Each function runs on the connection that holds, or is to hold, the slot."""

from __future__ import annotations

from uuid import UUID

from service import queries
from service.db import Connection


async def take_user_slot(conn: Connection, user_id: UUID, slot: int) -> bool:
    """Take slot `slot` of the user's uploads for this session; False if another holds it."""
    return bool(await queries.scalar(conn, "take_user_slot", user_id, slot))


async def take_service_slot(conn: Connection, slot: int) -> bool:
    """Take slot `slot` of the service's uploads for this session; False if another holds it."""
    return bool(await queries.scalar(conn, "take_service_slot", slot))


async def release_user_slot(conn: Connection, user_id: UUID, slot: int) -> bool:
    """Release a slot this session holds; False if it held none (the lock is elsewhere)."""
    return bool(await queries.scalar(conn, "release_user_slot", user_id, slot))


async def release_service_slot(conn: Connection, slot: int) -> bool:
    """Release a slot this session holds; False if it held none (the lock is elsewhere)."""
    return bool(await queries.scalar(conn, "release_service_slot", slot))
