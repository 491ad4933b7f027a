"""Forms read by their labels (issue 18, item 6): `anchors.locate` on a form's cells, and
profile-mode reads of generated xlsx and xls forms whose labels move between files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.entities import BatchMode, RowStatus
from service.ingest import Parser, Source
from service.ingest.anchors import locate
from service.ingest.matching import Matching
from service.schemas import AnchorDirection, FieldAnchor, FieldType, SchemaField
from service.settings import Settings
from tests.ingest.uploads import xls_source, xlsx_source

RIGHT, BELOW = AnchorDirection.RIGHT, AnchorDirection.BELOW


def field(key: str, **anchor: Any) -> SchemaField:
    return SchemaField(key=key, anchor=FieldAnchor(**anchor) if anchor else None)


CELLS = {
    (1, 0): "Ficha de inscrição",
    (2, 0): "Nome:",
    (2, 2): "Ana Lima",
    (2, 3): "(completo)",
    (3, 0): "CPF",
    (4, 0): "123.456.789-00",
    (5, 1): "nome",  # the same label again, later: the first one counts
    (5, 2): "Outra",
    (6, 0): 42,
}


@pytest.mark.parametrize(
    ("anchor", "position"),
    [
        ({"label": "NOME", "direction": RIGHT}, (2, 2)),
        ({"label": "Nome", "direction": RIGHT, "skip": 1}, (2, 3)),
        ({"label": "Nome", "direction": RIGHT, "skip": 2}, None),
        ({"label": "cpf:", "direction": BELOW}, (4, 0)),
        ({"label": "cpf", "direction": BELOW, "skip": 1}, (6, 0)),
        ({"label": "cpf", "direction": RIGHT}, None),
        ({"label": "Idade", "direction": RIGHT}, None),
        ({"label": "42", "direction": RIGHT}, None),  # a number is not a label
        ({"cell": "C2"}, (2, 2)),
        ({"cell": "b9"}, None),
    ],
)
def test_locate_finds_the_value_an_anchor_points_at(
    anchor: dict[str, Any], position: tuple[int, int] | None
) -> None:
    assert locate(CELLS, [field("x", **anchor)]) == {"x": position}


def test_a_field_without_an_anchor_has_no_value() -> None:
    assert locate(CELLS, [field("x")]) == {"x": None}


FIELDS = [
    SchemaField(
        key="nome",
        required=True,
        anchor=FieldAnchor(label="Nome:", direction=RIGHT),
    ),
    SchemaField(
        key="nascimento",
        type=FieldType.DATE,
        anchor=FieldAnchor(label="Data de nascimento", direction=BELOW),
    ),
    SchemaField(
        key="idade",
        type=FieldType.INTEGER,
        required=True,
        anchor=FieldAnchor(label="Idade", direction=RIGHT, skip=1),
    ),
    SchemaField(key="protocolo", anchor=FieldAnchor(cell="F1")),
    SchemaField(key="obs", anchor=FieldAnchor(label="Observações", direction=RIGHT)),
]

# Three versions of one form: labels moved, a unit between label and value, a label missing.
LAYOUTS: list[dict[tuple[int, int], Any]] = [
    {
        (0, 0): "Nome:",
        (0, 1): "Ana",
        (0, 5): "P-1",
        (2, 0): "Data de nascimento",
        (3, 0): "15/03/1990",
        (4, 0): "Idade",
        (4, 1): "anos",
        (4, 2): "34",
    },
    {
        (0, 5): "P-2",
        (3, 2): "NOME",
        (3, 4): "Bia",
        (5, 3): "data de nascimento:",
        (7, 3): "01/02/1985",
        (8, 1): "idade:",
        (8, 2): "(anos)",
        (8, 3): 39,
        (9, 0): "Observações",
        (9, 1): "ok",
    },
    {
        (0, 0): "Nome:",
        (0, 1): "Caio",
        (1, 0): "Idade",
        (1, 1): "anos",
    },
]


def build_xlsx(cells: dict[tuple[int, int], Any]) -> Any:
    def build(book: Any) -> None:
        sheet = book.add_worksheet("Ficha")
        for (row, column), value in cells.items():
            sheet.write(row, column, value)

    return build


def build_xls(cells: dict[tuple[int, int], Any]) -> Any:
    def build(book: Any) -> None:
        sheet = book.add_sheet("Ficha")
        for (row, column), value in cells.items():
            sheet.write(row, column, value)

    return build


def forms(tmp_path: Path, kind: str) -> list[Source]:
    if kind == "xlsx":
        return [
            xlsx_source(tmp_path, f"ficha{n}.xlsx", build_xlsx(cells))
            for n, cells in enumerate(LAYOUTS)
        ]
    return [
        xls_source(tmp_path, f"ficha{n}.xls", build_xls(cells)) for n, cells in enumerate(LAYOUTS)
    ]


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_forms_are_read_by_their_labels_into_the_schema_fields(tmp_path: Path, kind: str) -> None:
    parser = Parser(
        forms(tmp_path, kind),
        BatchMode.PROFILE_MODE,
        None,
        Settings(),
        matching=Matching(FIELDS),
    )
    rows = [row for chunk in parser.chunks() for row in chunk]
    assert [c.normalized_key for c in parser.profile.columns] == [
        "nome",
        "nascimento",
        "idade",
        "protocolo",
        "obs",
    ]
    assert [c.inferred_type for c in parser.profile.columns][:3] == ["string", "date", "integer"]
    assert [row.data for row in rows] == [
        {"nome": "Ana", "nascimento": "1990-03-15", "idade": 34, "protocolo": "P-1", "obs": None},
        {"nome": "Bia", "nascimento": "1985-02-01", "idade": 39, "protocolo": "P-2", "obs": "ok"},
        {"nome": "Caio", "nascimento": None, "idade": None, "protocolo": None, "obs": None},
    ]
    assert [row.status for row in rows] == [RowStatus.VALID, RowStatus.VALID, RowStatus.ERROR]
    assert [(m.field, m.type) for m in rows[2].validation_messages] == [("idade", "required")]


def test_without_a_schema_profile_mode_is_unchanged(tmp_path: Path) -> None:
    parser = Parser(forms(tmp_path, "xlsx")[:1], BatchMode.PROFILE_MODE, None, Settings())
    rows = [row for chunk in parser.chunks() for row in chunk]
    assert rows[0].data["A1"] == "Nome:"
    assert rows[0].data["B1"] == "Ana"
