"""Wire shapes shared by every resource: the camelCase base and the page of a list.

Wire Structs are separate from the domain entities: the domain speaks snake_case and can
change; these are what clients code against. Unknown fields in a body are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import QueryParameter

T = TypeVar("T", bound=msgspec.Struct)

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_OFFSET = 2**31 - 1
"""Offsets are PostgreSQL integers; a larger one could never match a row anyway."""
PageLimit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")]
PageOffset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="items to skip")]


_STORABLE = r"[^\x00\ud800-\udfff]"
TEXT_PATTERN = rf"^{_STORABLE}*$"
"""Text that PostgreSQL can store: no NUL (U+0000), no lone surrogate (not UTF-8).
Written with escapes, so that Python and the ECMA regex of JSON Schema read it alike."""
VISIBLE_TEXT_PATTERN = rf"^{_STORABLE}*[^\x00-\x20\ud800-\udfff]{_STORABLE}*$"
"""Storable text with at least one visible character (a name)."""

Text = Annotated[str, msgspec.Meta(pattern=TEXT_PATTERN)]
"""The type of every text input, whatever carries it (JSON or multipart body, path, query,
token claims): a NUL is refused at decoding with a 400 naming the field (401 in a token),
instead of failing in PostgreSQL as a 500. Lengths go beside it, in the field's own
`Meta` (msgspec checks them before the pattern, so the pattern only sees short text).
Path and query parameters say it with `PathParameter(pattern=TEXT_PATTERN)` (Litestar
takes a parameter's constraints from its marker). `tests/hostile/test_nul.py` finds every
text input in the OpenAPI document and sends it a NUL."""


def in_words(message: str) -> str:
    """msgspec's message for a value that failed a text pattern above ("Expected `str`
    matching regex '^[^\\x00…' - at `$.sub`"), in words; any other message as it is."""
    refusal, at, where = message.partition(" - at ")
    if "matching regex" not in refusal or "x00" not in refusal:
        return message
    words = "must be text without NUL (U+0000) or lone surrogates"
    if "x20" in refusal:
        words += ", with at least one visible character"
    return f"{words}{at}{where}"


class Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    pass


def to_wire(entity: Any, shape: type[T]) -> T:
    """A domain entity as its wire shape (fields are matched by their Python names)."""
    return msgspec.convert(entity, shape, from_attributes=True)
