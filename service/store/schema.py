"""The database schema itself: which migration is applied (for readiness)."""

from __future__ import annotations

from service import queries
from service.db import Executor


async def applied_version(db: Executor) -> str | None:
    """The newest migration version dbmate recorded, or None on an empty table."""
    version = await queries.scalar(db, "get_schema_version")
    return None if version is None else str(version)
