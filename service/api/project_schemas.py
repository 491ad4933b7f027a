"""A project's schema over HTTP (issue 18): PUT a new version, GET the current one or an
old one, DELETE to turn schemas off for later uploads. Owner only; another user's project
is 404 as everywhere.

A body whose shape is wrong (a member of the wrong type, an unknown member, past a bound)
is 422 naming it, like a schema whose members do not agree (`rules.definitions`), which
lists every problem, one `errors` entry each."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, put
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, PathParameter

from service import ownership
from service.api.auth import Claims
from service.api.idempotency_key import created
from service.api.problems import AUTHENTICATED, documented, http_error
from service.api.wire import TEXT_PATTERN, Wire, in_words, to_wire
from service.db import transaction
from service.entities import User
from service.errors import NotFound
from service.rules import definitions
from service.schemas import (
    MAX_ALIASES,
    MAX_ENUM_VALUES,
    MAX_FIELDS,
    MAX_KEY_CHARS,
    MAX_LENGTH_BOUND,
    MAX_TEXT_CHARS,
    AnchorDirection,
    FieldType,
    ProjectSchema,
    SchemaField,
    Severity,
)
from service.store import project_schemas

AuthRequest = Request[User, Claims, State]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_CHARS, pattern=TEXT_PATTERN)]
ShortText = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN)]
Length = Annotated[int, msgspec.Meta(ge=0, le=MAX_LENGTH_BOUND)]
Version = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="schema version")]


class AnchorWire(Wire, frozen=True):
    """`{"cell": "B2"}`, or `{"label": "Nome:", "direction": "right" | "below", "skip": 0}`."""

    cell: Annotated[str, msgspec.Meta(max_length=12, pattern=TEXT_PATTERN)] | None = None
    label: ShortText | None = None
    direction: AnchorDirection | None = None
    skip: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0


class FieldWire(Wire, frozen=True):
    key: Key
    label: ShortText | None = None
    type: FieldType = FieldType.STRING
    required: bool = False
    unique: bool = False
    enum: (
        Annotated[list[ShortText | int | float | bool], msgspec.Meta(max_length=MAX_ENUM_VALUES)]
        | None
    ) = None
    pattern: ShortText | None = None
    min: int | float | ShortText | None = None
    max: int | float | ShortText | None = None
    min_length: Length | None = None
    max_length: Length | None = None
    aliases: Annotated[list[ShortText], msgspec.Meta(max_length=MAX_ALIASES)] = []  # noqa: RUF012
    severity: Severity = Severity.ERROR
    anchor: AnchorWire | None = None


class SchemaIn(Wire, frozen=True):
    fields: Annotated[list[FieldWire], msgspec.Meta(max_length=MAX_FIELDS)]


class SchemaOut(Wire, frozen=True):
    project_id: UUID
    version: int
    fields: list[FieldWire]
    created_at: datetime
    retired_at: datetime | None
    """Set when `DELETE …/schema` turned schemas off (then it is not the current one)."""


EXAMPLE = {
    "fields": [
        {
            "key": "cpf",
            "label": "CPF",
            "type": "string",
            "required": True,
            "unique": True,
            "pattern": r"^\d{3}\.?\d{3}\.?\d{3}-?\d{2}$",
            "aliases": ["documento", "cpf/cnpj"],
        },
        {"key": "nome", "label": "Nome completo", "required": True, "maxLength": 200},
        {"key": "nascimento", "type": "date", "min": "1900-01-01", "max": "31/12/2025"},
        {"key": "idade", "type": "integer", "min": 0, "max": 130, "severity": "warning"},
        {"key": "uf", "enum": ["SP", "RJ", "MG"], "anchor": {"label": "UF:", "direction": "right"}},
    ]
}


def _out(schema: ProjectSchema) -> SchemaOut:
    return to_wire(schema, SchemaOut)


def _location(schema: ProjectSchema) -> str:
    return f"/projects/{schema.project_id}/schema/versions/{schema.version}"


def _no_schema(project_id: UUID) -> NotFound:
    return NotFound(f"project {project_id} has no schema")


def shape_problems_are_422(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """A body of the wrong shape is a schema with a problem (422, naming where), like one
    whose members disagree; a malformed path or query stays 400, and so does text with a
    NUL anywhere."""
    answer = http_error(request, error)
    extra = error.extra if isinstance(error, ValidationException) else None
    body = [item for item in extra or () if isinstance(item, dict) and item.get("source") == "body"]
    # Text PostgreSQL cannot store (a NUL) is a malformed request everywhere (400), as for
    # every other text input (`wire.Text`).
    unstorable = any(in_words(str(item.get("message", ""))) != item.get("message") for item in body)
    if body and not unstorable:
        answer.status_code = 422
        answer.content = msgspec.structs.replace(
            answer.content, status=422, title="Unprocessable Content"
        )
    return answer


@put(
    "/projects/{project_id:str}/schema",
    status_code=201,
    tags=["schemas"],
    responses=documented(*AUTHENTICATED, 404, 422),
    exception_handlers={ValidationException: shape_problems_are_422},
)
async def put_schema(
    request: AuthRequest,
    state: State,
    project_id: FromPath[UUID],
    data: Annotated[
        SchemaIn,
        Body(
            title="A project schema",
            examples=[Example(summary="five fields", value=EXAMPLE)],
        ),
    ],
) -> Response[SchemaOut]:
    """Save a new version of the project's schema (the current one from now on); 201 with
    it and its `Location`. 422 lists every problem of the schema, one `errors` entry each."""
    await ownership.project(state.pool, request.user.id, project_id)
    fields = definitions.checked([to_wire(field, SchemaField) for field in data.fields])
    async with transaction(state.pool) as conn:
        schema = await project_schemas.create_version(conn, request.user.id, project_id, fields)
    return created(_out(schema), _location(schema), replayed=False)


@get(
    "/projects/{project_id:str}/schema",
    tags=["schemas"],
    responses=documented(*AUTHENTICATED, 404),
)
async def get_schema(request: AuthRequest, state: State, project_id: FromPath[UUID]) -> SchemaOut:
    """The current schema; 404 when the project has none (or schemas are turned off)."""
    await ownership.project(state.pool, request.user.id, project_id)
    schema = await project_schemas.get_current_schema(state.pool, project_id)
    if schema is None:
        raise _no_schema(project_id)
    return _out(schema)


@get(
    "/projects/{project_id:str}/schema/versions/{version:int}",
    tags=["schemas"],
    responses=documented(*AUTHENTICATED, 404),
)
async def get_schema_version(
    request: AuthRequest, state: State, project_id: FromPath[UUID], version: Version
) -> SchemaOut:
    """One version of the schema, current, older or retired."""
    await ownership.project(state.pool, request.user.id, project_id)
    schema = await project_schemas.get_schema_by_version(state.pool, project_id, version)
    if schema is None:
        raise NotFound(f"project {project_id} has no schema version {version}")
    return _out(schema)


@delete(
    "/projects/{project_id:str}/schema",
    status_code=204,
    tags=["schemas"],
    responses=documented(*AUTHENTICATED, 404),
)
async def delete_schema(request: AuthRequest, state: State, project_id: FromPath[UUID]) -> None:
    """Turn schemas off: later uploads are stored as without one, until the next PUT. Its
    versions stay readable. 204 also when schemas were already off."""
    await ownership.project(state.pool, request.user.id, project_id)
    await project_schemas.retire(state.pool, project_id)


HANDLERS: list[Any] = [put_schema, get_schema, get_schema_version, delete_schema]
