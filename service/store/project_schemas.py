"""Project schemas: immutable, numbered versions (`sql/project_schemas.sql`).

Ownership is the caller's (`service.ownership`), except for `create_version`, which locks
the owner's project itself so that concurrent PUTs get consecutive versions."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from service import errors, queries
from service.db import Executor
from service.schemas import ProjectSchema, SchemaField


async def get_current_schema(db: Executor, project_id: UUID) -> ProjectSchema | None:
    """The schema later uploads of the project follow; None when it has none (or they are
    turned off)."""
    return await queries.one(db, "get_current_schema", project_id, into=ProjectSchema)


async def get_schema_by_version(
    db: Executor, project_id: UUID, version: int
) -> ProjectSchema | None:
    """One version of the project's schema, current, older or retired."""
    return await queries.one(db, "get_schema_by_version", project_id, version, into=ProjectSchema)


async def create_version(
    db: Executor, owner_id: UUID, project_id: UUID, fields: Sequence[SchemaField]
) -> ProjectSchema:
    """A new current version of the schema; run it in a transaction (the project row stays
    locked until its end). `NotFound` when the project is not the owner's live one."""
    if await queries.scalar(db, "lock_project_for_schema", project_id, owner_id) is None:
        raise errors.NotFound(f"project {project_id} not found")
    schema = await queries.one(
        db, "create_schema_version", project_id, list(fields), owner_id, into=ProjectSchema
    )
    assert schema is not None
    return schema


async def retire(db: Executor, project_id: UUID) -> int:
    """Turn schemas off for later uploads; how many versions were retired (0: already off)."""
    return int(await queries.scalar(db, "retire_schemas", project_id))
