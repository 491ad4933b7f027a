"""Adversarial: tokens (issue 14, item 8).

Whatever a signed token claims, the answer is 2xx or 401, never a 5xx; and only a token
with a non-empty `sub`, numeric times and a bounded lifetime gets in. The signature is
valid in every case here (the shared test secret): these are claims an identity provider
with a bug, or a leaked secret, could sign.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from service.settings import load_settings
from tests.api.conftest import SECRET
from tests.hostile.conftest import Service

DAY = 24 * 3600
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
bounded = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def answer(service: Service, token: str) -> Any:
    client = await service.client()
    return await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(lambda t: {"sub": "", "iat": t, "exp": t + 600}, id="empty-sub"),
        pytest.param(lambda t: {"sub": "s" * 256, "iat": t, "exp": t + 600}, id="sub-too-long"),
        pytest.param(lambda t: {"sub": "a", "iat": t, "exp": str(t + 600)}, id="exp-as-string"),
        pytest.param(lambda t: {"sub": "a", "iat": t, "exp": 1e30}, id="exp-1e30"),
        pytest.param(lambda t: {"sub": "a", "iat": t, "exp": t + DAY + 60}, id="over-a-day"),
        pytest.param(lambda t: {"sub": "a", "exp": t + 600}, id="no-iat"),
        pytest.param(lambda t: {"sub": "a", "iat": str(t), "exp": t + 600}, id="iat-as-string"),
        pytest.param(lambda t: {"sub": "a", "iat": t, "exp": t + 600, "nbf": "0"}, id="nbf-string"),
        pytest.param(lambda t: {"sub": "a", "iat": t + 3600, "exp": t + 600}, id="iat-ahead"),
    ],
)
async def test_loose_claims_are_refused_with_401(service: Service, claims: Any) -> None:
    response = await answer(service, signed(claims(now())))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_day_long_token_with_iat_is_accepted(service: Service) -> None:
    t = now()
    response = await answer(service, signed({"sub": "day", "iat": t, "exp": t + DAY}))
    assert response.status_code == 200, response.text


# Text with what PostgreSQL cannot store mixed in: NUL and lone surrogates (JSON can carry
# both, as escapes, and PyJWT decodes them).
nasty_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff"])), max_size=20
).map("".join)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
# Times are mostly sensible (so that many tokens get past the signature and the clock
# and reach the user lookup), and sometimes anything at all.
times = st.one_of(
    st.integers(min_value=-60, max_value=DAY).map(lambda offset: ("offset", offset)),
    st.integers(min_value=-2 * DAY, max_value=3 * DAY).map(lambda offset: ("offset", offset)),
    json_values.map(lambda value: ("value", value)),
)
names = st.one_of(nasty_text, st.text(max_size=40), json_values)
subjects = st.one_of(
    st.text(min_size=1, max_size=20), nasty_text, st.text(max_size=300), json_values
)


def at(spec: tuple[str, Any], base: int) -> Any:
    kind, value = spec
    return base + value if kind == "offset" else value


@given(
    sub=subjects,
    exp=times,
    iat=st.one_of(st.just(("offset", 0)), st.none(), times),
    nbf=st.none() | times,
    email=st.none() | names,
    name=st.none() | names,
    # Claims of other names: PyJWT refuses to sign a registered claim of the wrong type (an
    # `iss` that is not text), so those are left to the tests of each claim.
    extra=st.dictionaries(
        st.text(max_size=8).filter(lambda key: key not in REGISTERED_CLAIMS),
        json_values,
        max_size=3,
    ),
)
@bounded
async def test_any_signed_claims_are_2xx_or_401(
    service: Service,
    sub: Any,
    exp: tuple[str, Any],
    iat: tuple[str, Any] | None,
    nbf: tuple[str, Any] | None,
    email: Any,
    name: Any,
    extra: dict[str, Any],
) -> None:
    t = now()
    claims: dict[str, Any] = {**extra, "sub": sub, "exp": at(exp, t)}
    for claim, value in (("iat", iat), ("nbf", nbf)):
        if value is not None:
            claims[claim] = at(value, t)
    for claim, value in (("email", email), ("name", name)):
        if value is not None:
            claims[claim] = value
    response = await answer(service, signed(claims))
    event(f"answered {response.status_code}")
    assert response.status_code in (200, 401), (claims, response.text)
    if response.status_code == 200:
        assert isinstance(sub, str)
        assert sub
        assert response.json()["externalId"] == sub


def test_a_short_jwt_secret_refuses_to_start() -> None:
    with pytest.raises(SystemExit) as refusal:
        load_settings({"SHEETFLOW_JWT_SECRET": "abc"})
    assert "SHEETFLOW_JWT_SECRET" in str(refusal.value)
    assert "32" in str(refusal.value)
    assert load_settings({"SHEETFLOW_JWT_SECRET": "k" * 32}).jwt_secret == "k" * 32


def test_the_maximum_lifetime_is_a_setting_and_zero_turns_it_off() -> None:
    assert load_settings({}).jwt_max_lifetime_seconds == DAY
    assert load_settings({"SHEETFLOW_JWT_MAX_LIFETIME_SECONDS": "0"}).jwt_max_lifetime_seconds == 0


def test_the_token_command_keeps_to_the_maximum_lifetime(tmp_path) -> None:
    env = {"SHEETFLOW_DATA_DIR": str(tmp_path), "PATH": ""}

    def token(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "service.cli", "token", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False)

    too_long = token("me", "--ttl", str(DAY + 1))
    assert too_long.returncode == 2
    assert too_long.stdout == ""
    assert "SHEETFLOW_JWT_MAX_LIFETIME_SECONDS" in too_long.stderr
    assert token("", "--ttl", "60").returncode == 2
    assert token("me", "--ttl", str(DAY)).returncode == 0
