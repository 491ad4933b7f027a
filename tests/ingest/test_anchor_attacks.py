"""Hostile `cell` anchors: whatever text a schema's anchor holds, `anchors.locate` answers a
position or `None` (the field's value is then missing, with its `required` message), never
an exception from inside the parsing worker."""

from __future__ import annotations

import pytest

from service.ingest.anchors import locate
from service.schemas import FieldAnchor, SchemaField

CELLS = {(1, 0): "Nome:", (1, 1): "Ana", (1048576, 16383): "far"}


@pytest.mark.parametrize(
    "cell",
    ["", "1A", "A", "A0", "A-1", "B²", "AB" + "9" * 5000, "A" * 100_000 + "1", "A1:B2", " A1"],
)
def test_a_cell_anchor_that_is_no_address_points_at_nothing(cell):
    assert locate(CELLS, [SchemaField(key="x", anchor=FieldAnchor(cell=cell))]) == {"x": None}


@pytest.mark.parametrize(("cell", "position"), [("b1", (1, 1)), ("XFD1048576", (1048576, 16383))])
def test_a_cell_anchor_far_away_is_found(cell, position):
    assert locate(CELLS, [SchemaField(key="x", anchor=FieldAnchor(cell=cell))]) == {"x": position}
