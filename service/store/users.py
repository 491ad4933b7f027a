"""Users: known by the `sub` of their token (external_id)."""

from __future__ import annotations

from service import queries
from service.db import Executor
from service.entities import User


async def upsert_by_external_id(
    db: Executor, external_id: str, *, email: str | None, name: str | None
) -> User:
    """The user for this subject, created on first sight and updated when email or name
    changed. The common case (known, unchanged) is a single read with no write."""
    user = await queries.one(db, "get_user_by_external_id", external_id, into=User)
    if user is not None and user.email == email and user.name == name:
        return user
    upserted = await queries.one(db, "upsert_user", external_id, email, name, into=User)
    assert upserted is not None
    return upserted
