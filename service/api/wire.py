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


class Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    pass


def to_wire(entity: Any, shape: type[T]) -> T:
    """A domain entity as its wire shape (fields are matched by their Python names)."""
    return msgspec.convert(entity, shape, from_attributes=True)
