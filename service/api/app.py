"""The Litestar application factory. The app's lifespan owns the asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from service.api import health
from service.api.problems import EXCEPTION_HANDLERS
from service.db import create_pool
from service.settings import Settings


def create_app(settings: Settings, database_url: str) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.pool = await create_pool(database_url, max_size=settings.pool_size)
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(
        route_handlers=[health.health, health.ready],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="sheetflow", version="0.1.0", path="/schema"),
    )
