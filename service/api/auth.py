"""Authentication: bearer JWTs in, a known `User` out.

Three ways to verify, chosen by configuration:

- `SHEETFLOW_JWKS_URL`: RS256/ES256 tokens against that key set. Keys are kept and the set
  is fetched again when a token names an unknown `kid`, one fetch at a time and at most once
  per cooldown, failed fetches included (`service/api/jwks.py`).
- `SHEETFLOW_JWT_SECRET`: HS256 with that shared secret.
- neither (local use): HS256 with a random secret generated once into the data directory
  (`jwt-secret`, mode 0600); `sheetflow token` signs with the same one.

Only the algorithms of the chosen way are accepted, so `alg: none` and HS/RS confusion (an
HS256 token "signed" with the public key) are refused. `exp` and a non-empty `sub` are
required, and `iat` too while a maximum lifetime is in force (`exp - iat` at most
`SHEETFLOW_JWT_MAX_LIFETIME_SECONDS`); times must be JSON numbers; `iss` and `aud` are
checked when configured; clocks may disagree by 30 seconds. The user behind `sub` is
created on first sight and updated when the token's `email`/`name` change.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from service import local_secrets
from service.api.jwks import KeyNotFound, KeySet
from service.api.wire import Text, in_words
from service.entities import User
from service.settings import MIN_JWT_SECRET_BYTES, Settings
from service.store import users

LEEWAY_SECONDS = 30
SECRET_FILE = "jwt-secret"
PUBLIC_PATHS = {"/health", "/ready", "/metrics", "/schema"}


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    sub: Annotated[Text, msgspec.Meta(min_length=1, max_length=255)]
    """Who: never empty (an empty `sub` would be one user shared by every such token); at
    most 255 characters, as OpenID Connect allows."""
    email: Text | None = None
    name: Text | None = None


def local_secret(data_dir: Path) -> str:
    """The data directory's signing secret, created (0600) on first use."""
    path = data_dir / SECRET_FILE
    secret = local_secrets.read_or_create(path)
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise SystemExit(
            f"{path} holds a secret of {len(secret.encode())} bytes; HS256 needs at least "
            f"{MIN_JWT_SECRET_BYTES}: delete the file to have a new one generated"
        )
    return secret


def signing_secret(settings: Settings) -> str:
    """The HS256 secret in force: the configured one, else the local one."""
    return settings.jwt_secret or local_secret(settings.data_dir)


def issue_token(
    settings: Settings,
    subject: str,
    *,
    email: str | None = None,
    name: str | None = None,
    ttl_seconds: float = 3600,
) -> str:
    """A token this service accepts (HS256 only: a JWKS-verified service takes its tokens
    from the identity provider that owns the keys)."""
    if settings.jwks_url:
        raise ValueError("tokens come from the identity provider when SHEETFLOW_JWKS_URL is set")
    if not subject:
        raise ValueError("the subject must not be empty")
    longest = settings.jwt_max_lifetime_seconds
    if longest and ttl_seconds > longest:
        raise ValueError(
            f"--ttl {ttl_seconds:g}: a token may live at most {longest} seconds "
            "(SHEETFLOW_JWT_MAX_LIFETIME_SECONDS)"
        )
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + int(ttl_seconds)}
    if email is not None:
        claims["email"] = email
    if name is not None:
        claims["name"] = name
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, signing_secret(settings), algorithm="HS256")


class Verifier:
    """Checks tokens the way the settings say; built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jwks: KeySet | None = None
        if settings.jwks_url:
            self.jwks = KeySet(
                settings.jwks_url,
                refresh_seconds=settings.jwks_refresh_seconds,
                timeout_seconds=settings.jwks_timeout_seconds,
            )
            self.algorithms = ["RS256", "ES256"]
        else:
            self.secret = signing_secret(settings)
            self.algorithms = ["HS256"]

    @property
    def required(self) -> list[str]:
        if self.settings.jwt_max_lifetime_seconds:
            return ["exp", "iat", "sub"]
        return ["exp", "sub"]

    def check_times(self, payload: dict[str, Any]) -> None:
        """What PyJWT leaves open: it reads `exp`, `iat` and `nbf` with `int()`, so a string
        of digits passes, and any `exp` is accepted however far away. They must be JSON
        numbers here, and a token may live at most `jwt_max_lifetime_seconds` after its
        `iat` (which PyJWT has already refused in the future)."""
        for claim in ("exp", "iat", "nbf"):
            value = payload.get(claim)
            if claim in payload and not (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                raise NotAuthorizedException(f"invalid token: `{claim}` must be a number")
        longest = self.settings.jwt_max_lifetime_seconds
        if longest and payload["exp"] - payload["iat"] > longest:
            raise NotAuthorizedException(
                f"invalid token: it lives longer than the {longest} seconds allowed (exp - iat)"
            )

    async def verify(self, token: str) -> Claims:
        try:
            key: Any
            if self.jwks is not None:
                key = (await self.jwks.key(jwt.get_unverified_header(token).get("kid"))).key
            else:
                key = self.secret
            payload = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                leeway=LEEWAY_SECONDS,
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                options={
                    "require": self.required,
                    "verify_aud": self.settings.jwt_audience is not None,
                },
            )
            self.check_times(payload)
            return msgspec.convert(payload, Claims)
        except KeyNotFound as error:
            raise NotAuthorizedException("the token's signing key could not be found") from error
        except jwt.PyJWTError as error:
            raise NotAuthorizedException(f"invalid token: {error}") from error
        except msgspec.ValidationError as error:
            raise NotAuthorizedException(f"invalid token claims: {in_words(str(error))}") from error


class KnownUsers:
    """The users this process has already seen, by `sub`, with the email and name the row
    has: a request whose token carries the same claims needs no query. Safe within one
    process because a user row only changes through these claims (any difference is a miss
    and an upsert, which also replaces the entry) and users are never deleted. Several
    processes (`serve --workers N`, several hosts) each keep their own entries, and another
    process may have written other claims since: so an entry is trusted for `ttl_seconds`
    only, after which the next request with its claims writes them again if the row differs
    (an upsert that changes nothing writes nothing). Least recently used entries go first past
    `size`."""

    def __init__(
        self,
        size: int = 10_000,
        *,
        ttl_seconds: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.users: OrderedDict[str, tuple[User, float]] = OrderedDict()

    async def resolve(self, pool: Any, claims: Claims) -> User:
        now = self.clock()
        entry = self.users.get(claims.sub)
        if entry is not None:
            user, seen_at = entry
            if (user.email, user.name) == (claims.email, claims.name) and (
                now - seen_at < self.ttl_seconds
            ):
                self.users.move_to_end(claims.sub)
                return user
        user = await users.upsert_by_external_id(
            pool, claims.sub, email=claims.email, name=claims.name
        )
        self.users[claims.sub] = (user, now)
        self.users.move_to_end(claims.sub)
        if len(self.users) > self.size:
            self.users.popitem(last=False)
        return user


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Every route but the public ones needs `Authorization: Bearer <JWT>`."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("send `Authorization: Bearer <token>`")
        state = connection.app.state
        claims = await state.verifier.verify(token.strip())
        user = await state.known_users.resolve(state.pool, claims)
        return AuthenticationResult(user=user, auth=claims)
