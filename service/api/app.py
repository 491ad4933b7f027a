"""The Litestar application factory. The app's lifespan owns the asyncpg pool, the upload
slots on it and the spare parsing worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, OpenAPI, Schema, SecurityScheme
from litestar.openapi.spec.enums import OpenAPIType

from service import fields, logs, metrics
from service.admission import Slots
from service.api import (
    batches,
    corrections,
    deliveries,
    edits,
    export,
    health,
    history,
    observability,
    preview,
    project_schemas,
    projects,
    revalidation,
    rows,
    users,
)
from service.api import fields as field_routes
from service.api.auth import PUBLIC_PATHS, BearerAuthentication, KnownUsers, Verifier
from service.api.deadlines import AnswerCancelled
from service.api.problems import CLIENT_ERRORS, EXCEPTION_HANDLERS
from service.api.wire import TEXT_PATTERN
from service.db import create_pool
from service.idempotency import KeysInFlight
from service.ingestion import SpareWorker
from service.schemas import MAX_TEXT_CHARS
from service.settings import Settings, load_settings
from service.uploads import Uploads

REQUEST_BODIES = (
    "ProjectCreate",
    "ProjectPatch",
    "BatchPatch",
    "ColumnLabel",
    "UploadForm",
    "ClaimRequest",
    "DeliveryReport",
    "ErrorBudgetWire",
    "SchemaIn",
    "FieldWire",
    "AnchorWire",
    "ValidateIn",
)


ZERO_MINIMUMS = {
    "ErrorBudgetWire": ("maxErrorRows", "maxErrorRatio"),
    "FieldWire": ("minLength", "maxLength"),
    "AnchorWire": ("skip",),
}
"""Members whose `Meta(ge=0)` Litestar leaves out of the document (it writes a minimum only
when it is not zero)."""


def _bound_text(schema: Schema) -> None:
    """Give every text in `schema` without a pattern the bounds the decoding enforces:
    Litestar leaves them out inside lists and unions (a schema field's aliases, enum values,
    text bounds), where msgspec still checks them (`api.project_schemas`)."""
    if schema.type == OpenAPIType.STRING and schema.pattern is None:
        schema.pattern = TEXT_PATTERN
        schema.max_length = MAX_TEXT_CHARS
    nested = [*(schema.one_of or ()), *(schema.any_of or ()), *(schema.properties or {}).values()]
    if schema.items is not None:
        nested.append(schema.items)
    for inner in nested:
        if isinstance(inner, Schema):
            _bound_text(inner)


def tighten_openapi(document: OpenAPI) -> None:
    """Say in the OpenAPI document what the request decoding enforces but Litestar does not
    write down: bodies refuse unknown fields, an upload needs at least one file, and a batch
    PATCH at least one member."""
    schemas = document.components.schemas if document.components else None
    if not schemas:
        return
    for name in REQUEST_BODIES:
        if name in schemas:
            schemas[name].additional_properties = False
    for name, members in ZERO_MINIMUMS.items():
        for member in members:
            held = (schemas[name].properties or {}).get(member) if name in schemas else None
            if isinstance(held, Schema):
                held.minimum = 0
    if "FieldWire" in schemas:
        _bound_text(schemas["FieldWire"])
    if "BatchPatch" in schemas:  # every member is optional, but one must be given
        schemas["BatchPatch"].min_properties = 1
    files = (schemas["UploadForm"].properties or {}).get("files")
    if isinstance(files, Schema):
        files.min_items = 1


def create_app_from_environment() -> Litestar:
    """The app of one of `serve --workers N`'s processes: settings from the environment, where
    the parent has put the database it chose in `DATABASE_URL`."""
    import gc

    settings = load_settings()
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL must be set for a web worker process")
    app = create_app(settings, settings.database_url)
    gc.freeze()  # as `serve` does with one process (see there)
    return app


def create_app(settings: Settings, database_url: str) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        tighten_openapi(app.openapi_schema)
        app.state.settings = settings
        app.state.verifier = Verifier(settings)
        app.state.known_users = KnownUsers()
        app.state.keys_in_flight = KeysInFlight(settings.idempotency_ttl_seconds)
        app.state.pool = await create_pool(database_url, settings)
        app.state.slots = Slots(app.state.pool, settings)
        app.state.spare_worker = SpareWorker()
        app.state.uploads = Uploads(
            app.state.pool, settings, app.state.keys_in_flight, app.state.spare_worker
        )
        metrics.process_started()
        try:
            yield
        finally:
            metrics.process_stopping()
            await app.state.spare_worker.close()
            await fields.stop(app.state.pool)
            await app.state.pool.close()

    return Litestar(
        route_handlers=[
            health.health,
            health.ready,
            observability.metrics_text,
            Router(
                path="/",
                route_handlers=[
                    *users.HANDLERS,
                    *projects.HANDLERS,
                    *project_schemas.HANDLERS,
                    *revalidation.HANDLERS,
                    *batches.HANDLERS,
                    batches.upload_handler(settings),
                    preview.preview_handler(settings),
                    *rows.HANDLERS,
                    *edits.HANDLERS,
                    *history.HANDLERS,
                    *deliveries.HANDLERS,
                    *field_routes.HANDLERS,
                    *export.HANDLERS,
                    corrections.corrections_handler(settings),
                ],
                security=[{"bearer": []}],
            ),
        ],
        lifespan=[lifespan],
        before_send=[observability.before_send],
        middleware=[
            observability.Observed,
            AnswerCancelled,
            DefineMiddleware(
                BearerAuthentication, exclude=[f"^{path}" for path in sorted(PUBLIC_PATHS)]
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        logging_config=LoggingConfig(
            log_exceptions="always",
            # A client's mistake is answered, not logged; server errors keep their traces.
            disable_stack_trace={*range(400, 500), UnicodeDecodeError, *CLIENT_ERRORS},
            configure_root_logger=False,
            formatters=logs.litestar_formatters(settings.log_format),
        ),
        openapi_config=OpenAPIConfig(
            title="sheetflow",
            version="0.1.0",
            path="/schema",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
    )
