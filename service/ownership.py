"""Ownership: a user reaches only the projects, batches and rows of their own live projects.
Another user's looks missing: the same `NotFound`, so the same 404 body, as one that is not
there. Every handler that takes ids from its path, and the upload, asks here."""

from __future__ import annotations

from uuid import UUID

from service.db import Executor
from service.entities import Batch, Project
from service.errors import NotFound
from service.store import batches, projects


def missing_project(project_id: UUID) -> NotFound:
    return NotFound(f"project {project_id} not found")


def missing_batch(project_id: UUID, batch_id: UUID) -> NotFound:
    return NotFound(f"batch {batch_id} not found in project {project_id}")


async def project(db: Executor, user_id: UUID, project_id: UUID) -> Project:
    """The project if `user_id` owns it, else `NotFound`."""
    found = await projects.get(db, user_id, project_id)
    if found is None:
        raise missing_project(project_id)
    return found


async def batch(db: Executor, user_id: UUID, project_id: UUID, batch_id: UUID) -> Batch:
    """The batch if `user_id` owns its project, else `NotFound`."""
    found = await batches.get_for_owner(db, user_id, project_id, batch_id)
    if found is None:
        raise missing_batch(project_id, batch_id)
    return found
