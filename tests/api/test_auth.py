"""Authentication: what a token must be, and who it makes you."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import http.server
import json
import subprocess
import sys
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.api.app import create_app
from service.api.auth import local_secret
from service.settings import Settings
from tests.api.conftest import SECRET, running

NOW = int(time.time())


def hs256(claims, secret=SECRET, headers=None):
    """Signed claims, issued now (`iat`) unless they say when: a token needs `iat` while
    SHEETFLOW_JWT_MAX_LIFETIME_SECONDS is in force, as it is by default."""
    return jwt.encode(
        {"iat": int(time.time()), **claims}, secret, algorithm="HS256", headers=headers
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims):
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def hmac_signed_with(key: bytes, claims, kid):
    """HS256 signed with `key` by hand: PyJWT itself refuses to sign with a public key."""
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}."
        f"{b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


async def me(client, token):
    return await client.get("/projects", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(hs256({"sub": "a", "exp": NOW - 120}), id="expired"),
        pytest.param(hs256({"sub": "a", "exp": NOW + 600, "nbf": NOW + 300}), id="not-yet-valid"),
        pytest.param(hs256({"sub": "a", "exp": NOW + 600}, secret="x" * 40), id="wrong-signature"),
        pytest.param(unsigned({"sub": "a", "exp": NOW + 600}), id="alg-none"),
        pytest.param(hs256({"exp": NOW + 600}), id="missing-sub"),
        pytest.param(hs256({"sub": "a"}), id="missing-exp"),
        pytest.param(hs256({"sub": 7, "exp": NOW + 600}), id="non-string-sub"),
        pytest.param("not.a.token", id="garbage"),
    ],
)
async def test_bad_tokens_are_401_problems(client, token):
    response = await me(client, token)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_or_non_bearer_header_is_401(client):
    assert (await client.get("/projects")).status_code == 401
    basic = await client.get("/projects", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


async def test_leeway_accepts_a_token_expired_moments_ago(client):
    # The clock now, not NOW (taken when the tests were collected, maybe minutes ago).
    expired = int(time.time()) - 10
    assert (await me(client, hs256({"sub": "a", "exp": expired}))).status_code == 200


async def test_public_endpoints_need_no_token(client):
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/ready")).status_code == 200
    assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_first_sight_creates_then_updates_the_user(client, pool):
    token = hs256({"sub": "auth0|42", "exp": NOW + 600, "email": "a@x.io", "name": "Ana"})
    assert (await me(client, token)).status_code == 200
    token = hs256({"sub": "auth0|42", "exp": NOW + 600, "email": "ana@x.io", "name": "Ana"})
    assert (await me(client, token)).status_code == 200
    rows = await pool.fetch("SELECT email, name FROM users WHERE external_id = 'auth0|42'")
    assert [tuple(r) for r in rows] == [("ana@x.io", "Ana")]


async def test_twenty_concurrent_first_requests_create_one_user(client, pool):
    token = hs256({"sub": "newcomer", "exp": NOW + 600})
    responses = await asyncio.gather(*(me(client, token) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert await pool.fetchval("SELECT count(*) FROM users WHERE external_id = 'newcomer'") == 1


async def test_issuer_and_audience_are_checked_when_configured(tmp_path, database_url):
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, jwt_issuer="idp", jwt_audience="sf")
    async with running(create_app(settings, database_url)) as client:
        good = {"sub": "a", "exp": NOW + 600, "iss": "idp", "aud": "sf"}
        assert (await me(client, hs256(good))).status_code == 200
        assert (await me(client, hs256({**good, "iss": "other"}))).status_code == 401
        assert (await me(client, hs256({**good, "aud": "other"}))).status_code == 401
        assert (await me(client, hs256({"sub": "a", "exp": NOW + 600}))).status_code == 401


def jwk(public_key, kid, alg):
    data = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public_key))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture
def jwks_url(tmp_path):
    """A key set served over HTTP on loopback, from tmp_path/jwks.json."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


async def test_jwks_rs256_and_es256_with_refresh_on_unknown_kid(tmp_path, database_url, jwks_url):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk(rsa_key.public_key(), "r1", "RS256")]}))
    settings = Settings(data_dir=tmp_path, jwks_url=jwks_url, jwks_refresh_seconds=0)
    claims = {"sub": "a", "iat": NOW, "exp": NOW + 600}

    async with running(create_app(settings, database_url)) as client:
        rs = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "r1"})
        assert (await me(client, rs)).status_code == 200

        # A key published after start-up is found by fetching the set again.
        jwks.write_text(
            json.dumps(
                {
                    "keys": [
                        jwk(rsa_key.public_key(), "r1", "RS256"),
                        jwk(ec_key.public_key(), "e1", "ES256"),
                    ]
                }
            )
        )
        es = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "e1"})
        assert (await me(client, es)).status_code == 200

        # HS256 is refused outright when a JWKS is configured, whatever the secret
        # (including the public key's own bytes: algorithm confusion).
        assert (await me(client, hs256(claims, headers={"kid": "r1"}))).status_code == 401
        public_pem = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for key in (public_pem, jwks.read_bytes()):
            assert (await me(client, hmac_signed_with(key, claims, "r1"))).status_code == 401
        unknown = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "nope"})
        assert (await me(client, unknown)).status_code == 401


def test_local_secret_is_created_once_with_mode_0600(tmp_path):
    first = local_secret(tmp_path)
    assert local_secret(tmp_path) == first
    assert len(first) >= 32
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_token_command_prints_only_a_token_signed_with_the_local_secret(tmp_path):
    env = {"SHEETFLOW_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "token", "me", "--email", "m@x.io", "--ttl", "90"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    claims = jwt.decode(lines[0], local_secret(tmp_path), algorithms=["HS256"])
    assert (claims["sub"], claims["email"], claims["exp"] - claims["iat"]) == ("me", "m@x.io", 90)
    bad = subprocess.run(
        [sys.executable, "-m", "service.cli", "token", "me", "--ttl", "0"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""


async def test_users_me_is_the_token_subject(client):
    token = hs256({"sub": "auth0|7", "exp": NOW + 600, "email": "z@x.io", "name": "Zé"})
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert (body["externalId"], body["email"], body["name"]) == ("auth0|7", "z@x.io", "Zé")
    assert set(body) == {"id", "externalId", "email", "name", "createdAt", "updatedAt"}


async def test_known_users_are_resolved_without_a_query_and_evicted_lru(pool):
    from service.api.auth import Claims, KnownUsers

    known = KnownUsers(size=1)
    ana = Claims(sub="ana", email="a@x.io", name="Ana")
    first = await known.resolve(pool, ana)
    # Served from memory: no pool is needed the second time.
    assert await known.resolve(None, ana) is first
    # Changed claims (and changing them back) update the row through the pool.
    renamed = await known.resolve(pool, Claims(sub="ana", email="a@x.io", name="Ana B"))
    assert (renamed.id, renamed.name) == (first.id, "Ana B")
    back = await known.resolve(pool, ana)
    assert back.name == "Ana"
    assert await pool.fetchval("SELECT name FROM users WHERE external_id = 'ana'") == "Ana"
    # size=1: another user evicts ana, who then needs the pool again.
    await known.resolve(pool, Claims(sub="bia"))
    with pytest.raises(AttributeError):
        await known.resolve(None, ana)


async def test_known_users_of_two_processes_catch_up_with_each_other_within_their_ttl(pool):
    """Two processes (`serve --workers 2`): one writes claims that the other has cached as
    different. The other trusts its entry for `ttl_seconds` only, then puts its claims back."""
    from service.api.auth import Claims, KnownUsers

    now = [0.0]
    first, second = (KnownUsers(ttl_seconds=60, clock=lambda: now[0]) for _ in range(2))
    old = Claims(sub="ana", email="old@x.io")
    await first.resolve(pool, old)
    await second.resolve(pool, Claims(sub="ana", email="new@x.io"))
    email = "SELECT email FROM users WHERE external_id = 'ana'"
    assert await pool.fetchval(email) == "new@x.io"
    now[0] = 59.0
    assert (await first.resolve(None, old)).email == "old@x.io"  # still trusted, no query
    now[0] = 60.0
    assert (await first.resolve(pool, old)).email == "old@x.io"
    assert await pool.fetchval(email) == "old@x.io"
