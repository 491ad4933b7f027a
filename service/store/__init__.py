"""The store: one module per aggregate, typed functions over the named queries of `sql/`.

Every function takes anything that runs SQL (a pool or a connection) first, so it works
inside a caller's transaction too, and returns entities, never asyncpg records. Integrity
errors are translated here, by constraint name, into the domain errors of `service.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from service.errors import Conflict

CONSTRAINT_MESSAGES = {
    "uq_projects_user_name": "you already have a live project with this name; pick another name",
    "uq_users_external_id": "this user already exists",
    "fk_ingestion_batches_project_id": "the project still has batches",
    "fk_ingestion_rows_batch_id": "the batch still has rows",
    "fk_projects_user_id": "the user still owns projects",
}


@contextmanager
def constraint_errors() -> Iterator[None]:
    """Turn a violated, named constraint into `Conflict`; anything else propagates."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as error:
        message = CONSTRAINT_MESSAGES.get(error.constraint_name or "")
        if message is None:
            raise
        raise Conflict(message) from error
