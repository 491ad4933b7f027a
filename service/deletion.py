"""Soft deletion and restore of batches and projects, audited.

A deleted batch keeps its rows (and a deleted row stays in its batch), so a restore brings
everything back as it was. A project's deletion hides its live batches in the same
transaction, so they share the project's `deleted_at`: its restore brings back exactly
those, and a batch deleted before the project stays deleted. Each batch deleted or restored
gets an event (`batch.deleted`/`batch.restored`, marked `{"cascade": "project"}` when the
project's deletion or restore carried it).
"""

from __future__ import annotations

from uuid import UUID

from service import ownership
from service.db import Pool, transaction
from service.entities import Batch, EventKind, Project
from service.errors import Conflict
from service.store import batches, events, projects


async def delete_batch(pool: Pool, owner_id: UUID, project_id: UUID, batch_id: UUID) -> None:
    async with transaction(pool) as conn:
        batch = await ownership.batch(conn, owner_id, project_id, batch_id)
        if not await batches.soft_delete(conn, batch.id, owner_id):
            raise ownership.missing_batch(project_id, batch_id)
        await events.append(
            conn, batch_id=batch.id, actor_id=owner_id, kind=EventKind.BATCH_DELETED
        )


async def restore_batch(pool: Pool, owner_id: UUID, project_id: UUID, batch_id: UUID) -> Batch:
    """The batch, live again (its rows as they were); `Conflict` if it is not deleted."""
    async with transaction(pool) as conn:
        restored = await batches.restore(conn, owner_id, project_id, batch_id)
        if restored is None:
            await ownership.batch(conn, owner_id, project_id, batch_id)
            raise Conflict(f"batch {batch_id} is not deleted: there is nothing to restore")
        await events.append(
            conn, batch_id=restored.id, actor_id=owner_id, kind=EventKind.BATCH_RESTORED
        )
        return restored


async def restore_project(pool: Pool, owner_id: UUID, project_id: UUID) -> Project:
    """The project, live again with the batches its deletion hid; `Conflict` if it is not
    deleted, or if another live project of yours has its name now."""
    async with transaction(pool) as conn:
        restored = await projects.restore(conn, owner_id, project_id)
        if restored is None:
            await ownership.project(conn, owner_id, project_id)
            raise Conflict(f"project {project_id} is not deleted: there is nothing to restore")
        return restored
