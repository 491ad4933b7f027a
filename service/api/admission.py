"""The upload route's door: an upload takes its slots (`service.admission`) before a byte of
its body is read, or is answered 429 with `Retry-After` at once.

`Admission` is ASGI middleware on the upload route, inside the authentication (it needs the
user) and outside the body's readers, so that a refused upload spools nothing. It holds the
slots, and the connection they live on, until the handler is done; the handler runs its
queries and the ingestion's transaction on that connection (`connection`). They are given back
just before the answer starts, so that a client's next upload, sent as soon as it has the
answer, finds them free.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.admission import Slots
from service.db import Connection
from service.entities import User

CONNECTION_KEY = "sheetflow.upload_connection"


class Admission:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slots: Slots = scope["litestar_app"].state.slots
        user: User = scope["user"]
        async with slots.hold(user.id) as held:

            async def send_released(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await held.release()  # the handler is done with it: free before the answer
                await send(message)

            scope.setdefault("state", {})[CONNECTION_KEY] = held.conn
            try:
                await self.app(scope, receive, send_released)
            finally:
                del scope["state"][CONNECTION_KEY]


def connection(request: Request[Any, Any, Any]) -> Connection:
    """The connection that holds the upload's slots: the upload's own, for all its queries."""
    conn: Connection = request.scope["state"][CONNECTION_KEY]
    return conn
