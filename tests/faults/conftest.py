"""The fault harness for this directory: its own PostgreSQL and `sheetflow serve` process,
started once for all the fault tests (about ten seconds)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.harness import Harness


@pytest.fixture(scope="session")
async def harness() -> AsyncIterator[Harness]:
    async with Harness() as harness:
        yield harness
