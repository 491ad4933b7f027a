"""Projects: always read and written through their owner, so another user's project looks
exactly like a missing one."""

from __future__ import annotations

from uuid import UUID

import msgspec

from service import errors, queries
from service.db import Executor, Pool, transaction
from service.entities import ErrorBudget, EventKind, Project, ProjectStatus
from service.store import constraint_errors


async def create(db: Executor, owner_id: UUID, *, name: str, description: str | None) -> Project:
    with constraint_errors():
        project = await queries.one(db, "create_project", owner_id, name, description, into=Project)
    assert project is not None
    return project


async def get(db: Executor, owner_id: UUID, project_id: UUID) -> Project | None:
    return await queries.one(db, "get_project", project_id, owner_id, into=Project)


async def list_for_owner(
    db: Executor, owner_id: UUID, *, limit: int, offset: int
) -> tuple[list[Project], int]:
    """A page of the owner's live projects, newest first, and how many there are in all."""
    items = await queries.many(db, "list_projects_for_owner", owner_id, limit, offset, into=Project)
    total = await queries.scalar(db, "count_projects_for_owner", owner_id)
    return items, int(total)


async def update(
    db: Executor,
    owner_id: UUID,
    project_id: UUID,
    *,
    name: str | msgspec.UnsetType = msgspec.UNSET,
    description: str | msgspec.UnsetType | None = msgspec.UNSET,
    status: ProjectStatus | msgspec.UnsetType = msgspec.UNSET,
    error_budget: ErrorBudget | msgspec.UnsetType | None = msgspec.UNSET,
) -> Project | None:
    """Change only the fields given (UNSET = leave alone; `description=None` clears it,
    `error_budget=None` too)."""
    with constraint_errors():
        return await queries.one(
            db,
            "update_project",
            project_id,
            owner_id,
            name is not msgspec.UNSET,
            None if name is msgspec.UNSET else name,
            description is not msgspec.UNSET,
            None if description is msgspec.UNSET else description,
            status is not msgspec.UNSET,
            None if status is msgspec.UNSET else status,
            error_budget is not msgspec.UNSET,
            None if not isinstance(error_budget, ErrorBudget) else error_budget.max_error_rows,
            None if not isinstance(error_budget, ErrorBudget) else error_budget.max_error_ratio,
            into=Project,
        )


async def soft_delete(pool: Pool, owner_id: UUID, project_id: UUID) -> bool:
    """Hide the project and its live batches in one transaction; False if it was not the
    owner's live project (then nothing changes)."""
    async with transaction(pool) as conn:
        deleted = await queries.scalar(conn, "soft_delete_project", project_id, owner_id)
        if deleted is None:
            return False
        await queries.execute(
            conn, "soft_delete_batches_for_project", project_id, owner_id, EventKind.BATCH_DELETED
        )
        return True


async def restore(db: Executor, owner_id: UUID, project_id: UUID) -> Project | None:
    """Bring back the owner's soft-deleted project and exactly the batches its deletion
    hid (the same `deleted_at`), each with a `batch.restored` event; None if there is no
    such deleted project. Run it in a transaction. `Conflict` when the owner has a live
    project of the same name now."""
    deleted_at = await queries.scalar(db, "lock_deleted_project", project_id, owner_id)
    if deleted_at is None:
        return None
    with constraint_errors():
        project = await queries.one(db, "restore_project", project_id, owner_id, into=Project)
    await queries.execute(
        db,
        "restore_batches_for_project",
        project_id,
        deleted_at,
        owner_id,
        EventKind.BATCH_RESTORED,
    )
    return project


async def get_any_owner(db: Executor, project_id: UUID) -> Project | None:
    """A live project whoever owns it. Only for operator tools run on the server (the
    `sheetflow ingest` command acts as the project's owner); HTTP handlers use `get`."""
    return await queries.one(db, "get_project_any_owner", project_id, into=Project)


async def hold_open_for_upload(db: Executor, project_id: UUID) -> None:
    """Inside an upload's transaction, right before it commits: lock the project `FOR SHARE`
    until the COMMIT, and raise `NotFound` when it has been deleted meanwhile (or
    `ProjectArchived` when archived), so that the upload rolls back.

    Either the delete (or the archiving) commits first, and the upload finds it here and
    stores nothing; or this lock comes first, and the delete waits only for the COMMIT,
    then cascades to the new batch like to any other (its next statement sees it). The
    batch's foreign key holds only a KEY SHARE lock, which a delete does not wait for, so
    a delete never waits for a whole upload. See README, "Uploads and deleted projects"."""
    status = await queries.scalar(db, "lock_project_for_upload", project_id)
    if status is None:
        raise errors.NotFound(f"project {project_id} not found (it was deleted during the upload)")
    if status == ProjectStatus.ARCHIVED:
        raise archived(project_id)


def archived(project_id: UUID) -> errors.ProjectArchived:
    return errors.ProjectArchived(
        f"project {project_id} is archived and takes no uploads; set its status to active first"
    )
