"""Users over HTTP: who the bearer token says you are."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.datastructures import State

from service.api.auth import Claims
from service.api.problems import documented
from service.api.wire import Wire, to_wire
from service.entities import User


class UserOut(Wire, frozen=True):
    id: UUID
    external_id: str
    email: str | None
    name: str | None
    created_at: datetime
    updated_at: datetime


@get("/users/me", tags=["users"], responses=documented(401, 503))
async def get_me(request: Request[User, Claims, State]) -> UserOut:
    """The user behind the token (created on first sight, kept in step with its claims)."""
    return to_wire(request.user, UserOut)


HANDLERS: list[Any] = [get_me]
