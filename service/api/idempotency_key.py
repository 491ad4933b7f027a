"""The HTTP side of idempotency (`service.idempotency`): the `Idempotency-Key` header, and the
answer to a create, 201 with its `Location` and, for a replay, `Idempotent-Replayed: true`."""

from __future__ import annotations

from typing import Annotated, TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter

from service.idempotency import KEY_HEADER, KEY_PATTERN, MAX_KEY_LENGTH

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=KEY_HEADER,
        required=False,
        # Documented here, checked by `KeysInFlight.claim` (with a message naming the header).
        schema_extra={"min_length": 1, "max_length": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
        description=(
            f"Makes the create safe to retry: 1-{MAX_KEY_LENGTH} printable ASCII characters (no "
            "spaces at either end), unique per request (a UUID will do), remembered per user "
            "for 24 hours by default. A retry with the same key and the same request answers "
            f"201 with what the first attempt created, and `{REPLAYED_HEADER}: true`, without "
            "doing anything again; the same key with a different request is 422; a retry "
            "while the first attempt is still running is 409 (retry later)."
        ),
    ),
]

REPLAYED_RESPONSE_HEADERS = [
    ResponseHeader(
        name=REPLAYED_HEADER,
        value="true",
        documentation_only=True,
        description=(
            f"Present (`true`) when this answer replays an earlier request with the same "
            f"{KEY_HEADER}: the resource is the one that request created, as it is now."
        ),
    )
]

T = TypeVar("T")


def created(content: T, location: str, *, replayed: bool) -> Response[T]:
    """The answer to a create: 201, `Location`, and whether it is a replay."""
    headers = {"Location": location}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(content, status_code=201, headers=headers)
