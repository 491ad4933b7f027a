"""Schemathesis, a client nobody here wrote, against the app's own OpenAPI document: for
generated requests with a valid token, no 5xx and every response as documented.

The service runs as a real process on loopback (as `sheetflow serve` would), on its own
fresh database; the number of examples per operation is bounded to keep the suite quick."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from service.api.auth import issue_token
from service.settings import Settings
from tests.api.conftest import SECRET
from tests.conftest import TEMPLATE, with_database

EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def service_url(server_url: str, template_url: str) -> Iterator[str]:
    name = f"schemathesis_{os.getpid()}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        finally:
            await conn.close()

    asyncio.run(create())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": with_database(server_url, name),
        "SHEETFLOW_JWT_SECRET": SECRET,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)


TOKEN = issue_token(Settings(jwt_secret=SECRET), "schemathesis", ttl_seconds=3600)


def test_api_conforms_to_its_schema(service_url):
    """One hypothesis run per operation (schemathesis's pytest plugin does not support this
    pytest yet, so the operations are walked by hand)."""
    api = schemathesis.openapi.from_url(f"{service_url}/schema/openapi.json")
    failures = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:  # report every operation's failures
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
