"""Requests that end early, as ASGI middleware: an upload's body that does not arrive in
time or whole, and a request still running when the shutdown grace period ends.

- `BodyArrival` (the upload route):
  - A client that has not sent the whole body within `SHEETFLOW_UPLOAD_BODY_TIMEOUT_SECONDS`
    of its headers (a slow drip, a stalled link) gets 408.
  - A client that goes away before the end of its body gets nothing (it is not there to
    read it), and the service logs one line at info level. Litestar would raise "500: client
    disconnected prematurely" and log it as an uncaught error, but nothing went wrong on our
    side.
  In both cases the body is ended rather than failed, so Litestar's form parser finds it cut
  short and closes every part it has spooled so far; the handler never runs, so nothing is
  stored.
- `ClientPresence` (the upload route): a client that goes away after the end of its body,
  while its upload is being spooled, parsed or stored, cancels it: the ingestion rolls back
  and nothing is stored (spec 4.6), as if the body had never ended; the service logs one
  line at info level. Only a disconnect noticed once the COMMIT has answered leaves the batch
  in place (an Idempotency-Key retry then gets it, replayed).
- `AnswerCancelled` (every route): on SIGTERM uvicorn stops accepting, waits
  `SHEETFLOW_SHUTDOWN_GRACE_SECONDS` for the requests in flight, then cancels their tasks. A
  cancelled request has rolled back whatever it was doing; its client gets a 503 problem
  (try again, elsewhere) rather than the plain-text 500 uvicorn would send.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, ReceiveMessage, Scope, Send

from service import timeline
from service.api.problems import send_problem

logger = logging.getLogger("sheetflow.deadlines")

CUT_SHORT = "sheetflow.body_cut_short"


def body_cut_short(scope: Scope) -> bool:
    """Whether `BodyArrival` ended this request's body early (deadline passed, client gone):
    a reader of the raw body, unlike the form parser, cannot tell from the bytes."""
    return bool(cast("dict[str, Any]", scope).get(CUT_SHORT))


class BodyArrival:
    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timeline.mark("headers received")
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds
        expired = gone = whole = False
        end: HTTPRequestEvent = {"type": "http.request", "body": b"", "more_body": False}

        async def receive_in_time() -> ReceiveMessage:
            nonlocal expired, gone, whole
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                expired = True
                cast("dict[str, Any]", scope)[CUT_SHORT] = True
                return end
            if message["type"] == "http.disconnect" and not whole:
                if not gone:
                    gone = True
                    cast("dict[str, Any]", scope)[CUT_SHORT] = True
                    logger.info(
                        "%s %s: the client went away before the end of its body; "
                        "nothing was stored",
                        scope.get("method"),
                        scope["path"],
                    )
                return end
            if message["type"] == "http.request" and not message.get("more_body", False):
                whole = True
                timeline.mark("body received")
            return message

        async def send_unless_ended(message: Message) -> None:
            # Past the deadline, whatever the application answers (the form it was given is
            # cut short) is replaced by the 408; a client that went away gets nothing.
            if not expired and not gone:
                await send(message)
            elif expired and message["type"] == "http.response.start":
                await send_problem(
                    send,
                    408,
                    f"the request body did not arrive within {self.timeout_seconds:g} s of its "
                    "headers; nothing was stored",
                )

        await self.app(scope, receive_in_time, send_unless_ended)


class ClientPresence:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        whole = asyncio.Event()
        gone: asyncio.Future[ReceiveMessage] = asyncio.get_running_loop().create_future()
        started = False

        async def receive_watched() -> ReceiveMessage:
            if whole.is_set():  # only a disconnect comes after the body
                return await asyncio.shield(gone)
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                whole.set()
            return message

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def watch() -> None:
            await whole.wait()
            while (message := await receive())["type"] != "http.disconnect":
                pass
            gone.set_result(message)

        async def handle() -> None:
            await self.app(scope, receive_watched, send_tracked)

        handling = asyncio.create_task(handle())
        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait({handling, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done() and not handling.done() and not started:
                # The client left before its answer began: stop the work done for it.
                handling.cancel()
                await asyncio.wait({handling})
                if handling.cancelled():
                    logger.info(
                        "%s %s: the client went away after sending its body; the upload was "
                        "cancelled and nothing was stored",
                        scope.get("method"),
                        scope["path"],
                    )
                    return
            await handling
        except asyncio.CancelledError:
            # This request's own cancellation (shutdown): the handler's goes with it.
            handling.cancel()
            await asyncio.wait({handling})
            raise
        finally:
            watcher.cancel()
            if watcher.done() and not watcher.cancelled():
                watcher.exception()  # a failed receive: retrieved, nothing to do with it


class AnswerCancelled:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            if started:
                raise
            logger.warning("%s %s cancelled at shutdown", scope.get("method"), scope["path"])
            # The request ends here, answered: its task has nothing left to do.
            await send_problem(
                send, 503, "the service is shutting down and cancelled this request; try again"
            )
