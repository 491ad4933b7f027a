"""RFC 9457 problem details: the one place where errors become HTTP answers.

Every 4xx/5xx leaves the service as `application/problem+json` with `type`, `title`,
`status` and `detail`; domain errors map to one status each. Nothing from an unexpected
exception (stack, SQL, values) reaches the client: it is logged and answered with a plain 500.
Every exception is logged; only unexpected ones with their stack trace.

A database that cannot answer (down, restarting, too slow, no free connection in time) is a
503 with `Retry-After`, never a 500: the request may well succeed when retried.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.types import Send

from service import errors, metrics
from service.api.wire import in_words
from service.db import connection_lost

MEDIA_TYPE = "application/problem+json"


class FieldProblem(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | msgspec.UnsetType = msgspec.UNSET
    """Only for validation failures: which field, and what is wrong with it."""
    # Only for upload failures: where in the upload, and which limit (RFC 9457 extensions).
    file: str | msgspec.UnsetType = msgspec.UNSET
    sheet: str | msgspec.UnsetType = msgspec.UNSET
    row: int | msgspec.UnsetType = msgspec.UNSET
    column: str | msgspec.UnsetType = msgspec.UNSET
    limit: str | msgspec.UnsetType = msgspec.UNSET
    limit_value: int | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="limitValue")


STATUS_BY_ERROR: dict[type[errors.SheetflowError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidInput: 400,
    errors.KeyReused: 422,
    errors.InvalidSchema: 422,
    errors.Unprocessable: 422,
    errors.PreconditionFailed: 412,
    errors.Unavailable: 503,
    errors.Busy: 429,
    errors.UnsupportedFormat: 415,
    errors.IngestError: 422,
}
"""Each error class answers with the status of its nearest listed ancestor."""


def documented(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem answers an operation can give."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=HTTPStatus(status).phrase,
            media_type=MEDIA_TYPE,
        )
        for status in statuses
    }


AUTHENTICATED = (400, 401, 503)
"""Every authenticated operation can refuse a malformed request or a bad token, and needs the
database (to know the user), so it answers 503 while the database cannot be reached."""

RETRY_AFTER_SECONDS = 5
"""What a 503 (or a 429) tells the client to wait before trying again."""


def problem_response(
    status: int,
    detail: str,
    *,
    problems: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response[Any]:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=msgspec.UNSET if problems is None else problems,
        **{k: v for k, v in extensions.items() if v is not None},
    )
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="sheetflow"'}
    if status == 408:  # RFC 9110: the server has given up waiting on this connection
        headers = {**(headers or {}), "Connection": "close"}
    if status in (429, 503):
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    return Response(content=body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def send_problem(send: Send, status: int, detail: str, **extensions: Any) -> None:
    """Answer with a problem straight through ASGI, for middleware that answers in place of
    the application."""
    response = problem_response(status, detail, **extensions)
    body = msgspec.json.encode(response.content)
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in response.headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


PAYLOAD_LIMITS = frozenset({"max_file_bytes", "max_files"})
"""Limits on the size of the request itself (413); the others are about its content (422)."""


def _error_tree(root: type[errors.SheetflowError]) -> set[type[errors.SheetflowError]]:
    return {root}.union(*(_error_tree(sub) for sub in root.__subclasses__()))


CLIENT_ERRORS = frozenset(_error_tree(errors.SheetflowError))
"""Every domain error class. Each is answered with a 4xx (`status_for`), so none is logged
with a stack trace; Litestar matches the exact class, hence the whole tree."""


def status_for(error: errors.SheetflowError) -> int:
    if isinstance(error, errors.LimitExceeded) and error.limit in PAYLOAD_LIMITS:
        return 413
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def domain_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, errors.SheetflowError)
    if isinstance(error, errors.Unavailable):
        metrics.record_database_error("unreachable")
    where: dict[str, Any] = {}
    if isinstance(error, errors.IngestError):
        where = {
            "file": error.file,
            "sheet": error.sheet,
            "row": error.row,
            "column": error.column,
        }
    if isinstance(error, errors.LimitExceeded | errors.Busy):
        where |= {"limit": error.limit, "limit_value": error.value}
    if isinstance(error, errors.Unprocessable) and error.field is not None:
        where["problems"] = [FieldProblem(field=error.field, message=error.detail)]
    if isinstance(error, errors.InvalidSchema):
        where["problems"] = [
            FieldProblem(field=field, message=message) for field, message in error.problems
        ]
    return problem_response(status_for(error), error.detail, **where)


def http_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, HTTPException)
    problems = None
    extra = error.extra if isinstance(error.extra, list) else None
    if extra:
        problems = [
            FieldProblem(
                field=str(item.get("key", "")), message=in_words(str(item.get("message", "")))
            )
            for item in extra
            if isinstance(item, dict)
        ]
    return problem_response(
        error.status_code, error.detail, problems=problems, headers=error.headers
    )


def undecodable_form(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # Litestar decodes every multipart part without a filename as UTF-8 text before any
    # handler runs: a binary part sent without a filename ends here, not in a 500.
    return problem_response(
        400, "a form field is not valid UTF-8 text; send files as parts with a filename"
    )


JSON_DECODERS = frozenset({"decode_json", "decode_msgpack"})
"""Litestar's body decoders (`litestar.serialization`): a `RecursionError` raised under one of
them is the body's nesting, not a bug of ours."""


def too_deep(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # msgspec decodes nested arrays and objects recursively and gives up (RecursionError)
    # about a thousand levels down: a few kilobytes of `[[[[` are the client's mistake.
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name in JSON_DECODERS:
            return problem_response(
                400,
                "the JSON body is nested too deeply (arrays or objects hundreds of levels down)",
            )
        frame = frame.tb_next
    return unexpected_error(request, error)


def unexpected_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # Litestar has already logged it with its stack trace (log_exceptions="always").
    return problem_response(500, "an unexpected error occurred; it has been logged")


DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: the connection broke mid-operation
    asyncpg.OperatorInterventionError,  # class 57: statement timeout, shutting down, starting up
    asyncpg.InterfaceError,  # only a closed connection or pool (any other use is a bug)
    asyncpg.InternalClientError,  # asyncpg lost track of a connection it then aborts
    TimeoutError,  # no answer within the client-side guard (no free connection: `Unavailable`)
)
"""Driver failures that mean "the database cannot answer now", whichever query hit them
(a failed connection attempt is already `errors.Unavailable`, see `service.db`). Which of them
is a lost connection is `db.connection_lost`'s answer; a retry succeeds once the pool has
replaced it, so it is a 503 too (still logged with its stack trace, as driver errors are)."""


def database_unavailable(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    if isinstance(error, asyncpg.QueryCanceledError | TimeoutError):
        metrics.record_database_error("timeout")
        return problem_response(503, "the database did not answer in time; try again shortly")
    if connection_lost(error) or isinstance(error, asyncpg.OperatorInterventionError):
        metrics.record_database_error("connection_lost")
        return problem_response(503, "the connection to the database was lost; try again shortly")
    return unexpected_error(request, error)  # an `InterfaceError` of another kind: a bug


EXCEPTION_HANDLERS = {
    errors.SheetflowError: domain_error,
    HTTPException: http_error,
    UnicodeDecodeError: undecodable_form,
    RecursionError: too_deep,
    **dict.fromkeys(DATABASE_UNAVAILABLE, database_unavailable),
    Exception: unexpected_error,
}
