"""What an operator sees of each request: its id and its metrics, and `/metrics` itself.

Each request's id is taken from `X-Request-ID` (or made, `service.logs`), kept in the context
for every log line written for it (`Observed`, the outermost route middleware) and returned in
the response's `X-Request-ID` (`before_send`, which sees every answer, errors included). Once
answered, the request is counted by method, route template and status, timed from its
arrival, the bytes of its body counted, and for an upload its outcome.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from service import logs, metrics

UPLOAD_ROUTE = ("POST", "/projects/{project_id}/batches")
_KEY = "sheetflow.observation"


class Observation:
    """One request as it goes: its id, when it arrived, the bytes of its body so far, and
    once answered, its status."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.started = time.perf_counter()
        self.received = 0
        self.status = 500
        self.replayed = False


def observation(scope: Scope) -> Observation:
    """The request's observation, made on first use (by `Observed`, or for a request that
    matched no route by `before_send`)."""
    state = scope.setdefault("state", {})
    found = state.get(_KEY)
    if found is None:
        header = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        found = state[_KEY] = Observation(
            logs.request_id_from(header.decode("latin-1") if header else None)
        )
    return found


class Observed:
    """Route middleware, outermost: the request's id goes into the context (for every log
    line written for the request: the request runs in a task of its own, so it is not reset),
    and its body's bytes are counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = observation(scope)
        logs.REQUEST_ID.set(seen.request_id)

        async def counted() -> ReceiveMessage:
            message = await receive()
            if message["type"] == "http.request":
                seen.received += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


async def before_send(message: Message, scope: Scope) -> None:
    """Every answer, an error's included (Litestar sends those from outside the route
    middleware): `X-Request-ID` added, and once the last byte is sent, the metrics."""
    if message["type"] == "http.response.start":
        seen = observation(scope)
        seen.status = message["status"]
        headers = list(message.get("headers") or [])
        seen.replayed = any(k.lower() == b"idempotent-replayed" for k, _ in headers)
        message["headers"] = [*headers, (b"x-request-id", seen.request_id.encode())]
    elif message["type"] == "http.response.body" and not message.get("more_body", False):
        _record(scope, observation(scope))


def _record(scope: Scope, seen: Observation) -> None:
    method = str(scope.get("method", ""))
    route = scope.get("path_template") or "(no route)"
    metrics.REQUESTS.labels(method, route, str(seen.status)).inc()
    metrics.REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - seen.started)
    if seen.received:
        metrics.REQUEST_BYTES.labels(method, route).inc(seen.received)
    if (method, route) == UPLOAD_ROUTE:
        metrics.UPLOADS.labels(_upload_outcome(seen.status, seen.replayed)).inc()
    pool = getattr(scope["app"].state, "pool", None)
    if pool is not None:
        metrics.observe_pool(pool)


def _upload_outcome(status: int, replayed: bool) -> str:
    if status < 400:
        return "replayed" if replayed else "created"
    return "refused" if status < 500 else "failed"


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics_text(state: State) -> Response[Any]:
    """Prometheus' text format, every web process's figures summed (multiprocess mode)."""
    metrics.observe_pool(state.pool)
    body, content_type = metrics.exposition()
    return Response(content=body, media_type=content_type)
