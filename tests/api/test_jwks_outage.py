"""Adversarial: the JWKS under outage, and floods of made-up key ids (issue 14, item 9).

A key server on loopback that fails, or that accepts and never answers, stands in for
the identity provider. Fetches are counted there: a failed fetch starts the cooldown as a
successful one does, and however many requests need a fetch at once, one fetch is made
and each request waits for that one alone (bounded by `jwks_timeout_seconds`), never for
a queue of them.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from service.api.app import create_app
from service.settings import Settings
from tests.api.conftest import running

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HOLD_SECONDS = 60
"""How long a hanging key server holds a request at most (it is released at teardown)."""


class KeyServer:
    """Serves `keys`, or fails with 500 (`mode = "fail"`), or holds each request until
    released (`mode = "hang"`); counts the requests it got."""

    def __init__(self) -> None:
        self.mode = "serve"
        self.requests = 0
        self.release = threading.Event()
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
        self.body = json.dumps({"keys": [{**public, "kid": "known", "alg": "RS256", "use": "sig"}]})
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                if owner.mode == "hang":
                    owner.release.wait(HOLD_SECONDS)
                if owner.mode != "serve":
                    self.send_error(500)
                    return
                body = owner.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()


def token(kid: str) -> str:
    now = int(time.time())
    claims = {"sub": "jwks-user", "iat": now, "exp": now + 600}
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": kid})


async def status(client: Any, kid: str) -> int:
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token(kid)}"})
    return int(response.status_code)


def settings(tmp_path: Any, server: KeyServer, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, jwks_url=server.url, **overrides)


async def test_a_failed_fetch_starts_the_cooldown_too(tmp_path, database_url, key_server):
    key_server.mode = "fail"
    app = create_app(settings(tmp_path, key_server, jwks_refresh_seconds=3600), database_url)
    async with running(app) as client:
        statuses = [await status(client, f"made-up-{n}") for n in range(5)]
    assert statuses == [401] * 5
    assert key_server.requests == 1


async def test_known_keys_keep_working_while_the_key_server_fails(
    tmp_path, database_url, key_server
):
    app = create_app(settings(tmp_path, key_server, jwks_refresh_seconds=0), database_url)
    async with running(app) as client:
        assert await status(client, "known") == 200
        key_server.mode = "fail"
        assert await status(client, "rotated") == 401  # a fetch, which fails
        assert await status(client, "known") == 200
    assert key_server.requests == 2


async def test_a_hanging_key_server_holds_each_request_for_one_fetch_at_most(
    tmp_path, database_url, key_server
):
    """Twelve requests with made-up kids at once: one fetch, which hangs; each request is
    answered 401 once that fetch's deadline has passed (more than the default thread pool's
    workers, which a fetch per request would all tie up). Later ones, within the cooldown,
    fetch nothing."""
    key_server.mode = "hang"
    overrides = {"jwks_refresh_seconds": 3600, "jwks_timeout_seconds": 0.5}
    app = create_app(settings(tmp_path, key_server, **overrides), database_url)
    async with running(app) as client:
        statuses = await asyncio.gather(*(status(client, f"flood-{n}") for n in range(12)))
        assert statuses == [401] * 12
        assert [await status(client, f"later-{n}") for n in range(3)] == [401] * 3
    assert key_server.requests == 1
