"""Form fields of an upload, watched as they stream in: a part without a filename is refused
past `SHEETFLOW_MAX_FIELD_BYTES` before more of it is read.

Litestar's form parser spools a part with a filename to a temporary file, but collects a part
without one (`mode`, `sheet`, or any made-up name) in memory, whole, up to the route's body
limit (`max_files * max_file_bytes`, gigabytes). `FieldLimit` reads the same stream beside it,
with the same parser (`multipart`, so both agree on which parts are files), and counts the
bytes of every part without a filename. When one grows past the limit, the body is ended
there, as `deadlines.BodyArrival` ends one that comes too late: Litestar's parser finds it cut
short and closes what it has spooled, the handler never runs (no project is looked up), and
whatever the application answers is replaced by a 413 problem. The rest of the body is never
read. Parsing twice costs ~25 ms per 50 MB; memory stays what one chunk needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar._multipart import parse_content_header
from litestar.datastructures import UploadFile
from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, ReceiveMessage, Scope, Send
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from service.api.problems import send_problem
from service.errors import InvalidInput


class FieldLimit:
    def __init__(self, app: ASGIApp, max_field_bytes: int) -> None:
        self.app = app
        self.max_field_bytes = max_field_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parser = _parser(scope)
        if parser is None:  # not a form: Litestar refuses it on its own
            await self.app(scope, receive, send)
            return
        end: HTTPRequestEvent = {"type": "http.request", "body": b"", "more_body": False}
        field: str | None = None
        size = 0
        refused: str | None = None

        def count(chunk: bytes) -> None:
            nonlocal parser, field, size, refused
            if parser is None:
                return
            try:
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        field = None if part.filename else part.name
                        size = 0
                    elif part and field is not None:
                        size += len(part)
                        if size > self.max_field_bytes:
                            refused = field[:100]
                            return
            except (ParserError, ParserLimitReached):
                parser = None  # a malformed form: Litestar's parser refuses it (400)

        async def receive_counted() -> ReceiveMessage:
            if refused is not None:
                return end
            message = await receive()
            if message["type"] == "http.request":
                count(message.get("body", b""))
                if refused is not None:
                    return end
            return message

        async def send_or_refuse(message: Message) -> None:
            if refused is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await send_problem(
                    send,
                    413,
                    f"the form field {refused!r} is larger than {self.max_field_bytes:,} bytes: "
                    "only `mode`, `sheet` and `mapping` are text fields, and files go in parts "
                    "with a filename; nothing was stored",
                    limit="max_field_bytes",
                    limit_value=self.max_field_bytes,
                )

        await self.app(scope, receive_counted, send_or_refuse)


def _parser(scope: Scope) -> PushMultipartParser | None:
    """A parser for the request's multipart body, or None when it is not one."""
    header = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
    media_type, options = parse_content_header(header.decode("latin-1"))
    boundary = options.get("boundary")
    if media_type != "multipart/form-data" or not boundary:
        return None
    try:
        return PushMultipartParser(boundary.encode())  # as Litestar encodes it
    except ParserError:
        return None


@asynccontextmanager
async def file_parts(files: Sequence[UploadFile | str]) -> AsyncIterator[list[UploadFile]]:
    """The form's `files` parts, each a file, closed once the block is done (an UploadFile
    never outlives its request); a part without a filename is refused (400)."""
    parts = [part for part in files if isinstance(part, UploadFile)]
    try:
        if len(parts) != len(files):
            # A part without a filename reaches us as text, whatever the declared type says.
            raise InvalidInput("every `files` part must be a file upload (a part with a filename)")
        yield parts
    finally:
        for part in parts:
            await part.close()
