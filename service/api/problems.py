"""RFC 9457 problem details: the one place where errors become HTTP answers.

Every 4xx/5xx leaves the service as `application/problem+json` with `type`, `title`,
`status` and `detail`; domain errors map to one status each. Nothing from an unexpected
exception (stack, SQL, values) reaches the client: it is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from service import errors

logger = logging.getLogger("sheetflow")

MEDIA_TYPE = "application/problem+json"


class FieldProblem(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


STATUS_BY_ERROR: dict[type[errors.SheetflowError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidInput: 400,
    errors.UnsupportedFormat: 415,
    errors.CorruptFile: 422,
    errors.SheetNotFound: 422,
    errors.LimitExceeded: 422,
    errors.IngestError: 422,
    errors.DatabaseUnavailable: 503,
}


def problem_response(
    status: int, detail: str, *, problems: list[FieldProblem] | None = None
) -> Response[Any]:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=problems)
    return Response(content=body, status_code=status, media_type=MEDIA_TYPE)


def status_for(error: errors.SheetflowError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def domain_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, errors.SheetflowError)
    return problem_response(status_for(error), error.detail)


def http_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, HTTPException)
    problems = None
    extra = error.extra if isinstance(error.extra, list) else None
    if extra:
        problems = [
            FieldProblem(field=str(item.get("key", "")), message=str(item.get("message", "")))
            for item in extra
            if isinstance(item, dict)
        ]
    return problem_response(error.status_code, error.detail, problems=problems)


def unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS = {
    errors.SheetflowError: domain_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
