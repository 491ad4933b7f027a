"""Liveness and readiness: `/health` says the process is up, `/ready` that PostgreSQL
answers and has every migration of this build applied."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Response, get
from litestar.datastructures import State

from service.api.problems import documented, problem_response
from service.db import newest_migration_version
from service.store import schema

READY_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/health", sync_to_thread=False, tags=["health"])
def health() -> Health:
    return Health(status="ok")


@get("/ready", tags=["health"], responses=documented(503))
async def ready(state: State) -> Response[Any]:
    expected = newest_migration_version()
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            applied = await schema.applied_version(state.pool)
    except Exception as error:  # whatever the failure, the answer is "not ready"
        return problem_response(503, f"database not reachable: {type(error).__name__}")
    if applied != expected:
        return problem_response(
            503,
            f"database schema is at {applied or 'no migration'}, this build needs {expected}",
        )
    return Response(Health(status="ready"))
