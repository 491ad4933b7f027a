"""Modes (spec §4.2): list_mode takes one file; profile_mode makes one row per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xlsxwriter

from service import errors
from service.entities import RowStatus
from service.ingest import Source, parse_rows, profile
from service.settings import Settings
from tests.ingest.uploads import (
    LIST,
    PROFILE,
    csv_source,
    ingest,
    keys,
    messages,
    read,
    xlsx_source,
)


def form(tmp_path: Path, name: str, cells: dict[str, object], sheet: str = "Ficha") -> Source:
    def build(book: xlsxwriter.Workbook) -> None:
        cover = book.add_worksheet("Capa")
        cover.write("A1", "hidden cover")
        worksheet = book.add_worksheet(sheet)
        worksheet.activate()  # Excel cannot hide the active sheet
        cover.hide()
        for address, value in cells.items():
            worksheet.write(address, value)
        book.add_worksheet("Outra").write("A1", "ignored")

    return xlsx_source(tmp_path, name, build)


def test_list_mode_takes_exactly_one_file(tmp_path: Path) -> None:
    one = csv_source(tmp_path, "a.csv", "a\n1\n")
    with pytest.raises(errors.InvalidInput, match="exactly one file"):
        ingest([one, one], LIST)
    with pytest.raises(errors.InvalidInput):
        ingest([], LIST)
    with pytest.raises(errors.InvalidInput):
        ingest([], PROFILE)


def test_profile_mode_makes_one_row_per_file_keyed_by_cell_address(tmp_path: Path) -> None:
    first = form(tmp_path, "ana.xlsx", {"A1": "Nome", "B1": "Ana", "A2": "Idade", "B2": 30})
    second = form(
        tmp_path,
        "bia.xlsx",
        {"A1": "Nome", "B1": "Bia", "A2": "Idade", "B2": "trinta", "C1": 1.5},
    )
    found, rows = ingest([first, second], PROFILE)
    # Reading order over the union of both forms: row by row, left to right.
    assert keys(found) == ["A1", "B1", "C1", "A2", "B2"]
    assert [column.original_header for column in found.columns] == keys(found)
    assert [column.position for column in found.columns] == [0, 1, 2, 3, 4]
    assert [
        (row.source_file_name, row.source_sheet_name, row.source_row_index) for row in rows
    ] == [
        ("ana.xlsx", "Ficha", 1),
        ("bia.xlsx", "Ficha", 1),
    ]
    assert rows[0].data == {"A1": "Nome", "B1": "Ana", "C1": None, "A2": "Idade", "B2": 30}
    assert rows[1].data == {"A1": "Nome", "B1": "Bia", "C1": 1.5, "A2": "Idade", "B2": "trinta"}
    assert [row.position for row in rows] == [0, 1]
    assert [row.status for row in rows] == [RowStatus.VALID, RowStatus.VALID]


def test_profile_mode_sheet_option_and_csv_forms(tmp_path: Path) -> None:
    workbook_form = form(tmp_path, "f.xlsx", {"B2": "x"}, sheet="Dados")
    csv_form = csv_source(tmp_path, "g.csv", "campo,valor\n,42\n")
    found, rows = ingest([workbook_form, csv_form], PROFILE, sheet="Dados")
    assert keys(found) == ["A1", "B1", "B2"]
    assert rows[0].data == {"A1": None, "B1": None, "B2": "x"}
    assert rows[1].data == {"A1": "campo", "B1": "valor", "B2": "42"}
    assert rows[1].source_sheet_name == "g"
    with pytest.raises(errors.SheetNotFound):
        ingest([workbook_form], PROFILE, sheet="Nope")


def test_profile_mode_validates_across_forms(tmp_path: Path) -> None:
    forms = [form(tmp_path, f"f{n}.xlsx", {"A1": "CPF", "B1": n}) for n in range(20)]
    forms.append(form(tmp_path, "last.xlsx", {"A1": "CPF", "C1": "extra"}))
    found, rows = ingest(forms, PROFILE)
    assert keys(found) == ["A1", "B1", "C1"]
    assert str(found.columns[1].inferred_type) == "integer"
    assert rows[-1].data == {"A1": "CPF", "B1": None, "C1": "extra"}
    assert messages(rows[-1]) == [("B1", "empty")]
    assert rows[-1].status is RowStatus.WARNING


def test_pass_2_needs_the_sources_of_its_profile(tmp_path: Path) -> None:
    first = csv_source(tmp_path, "a.csv", "a\n1\n")
    found = profile([first], LIST, None, Settings())
    other = csv_source(tmp_path, "b.csv", "a\n1\n")
    with pytest.raises(ValueError, match="sources its profile was made from"):
        list(parse_rows([other], LIST, None, Settings(), found))


def test_profile_mode_refuses_forms_without_any_data(tmp_path: Path) -> None:
    with pytest.raises(errors.CorruptFile, match="no form has any data") as one:
        ingest([csv_source(tmp_path, "blank.csv", " , \n\n")], PROFILE)
    assert one.value.file == "blank.csv"
    blank, filled = csv_source(tmp_path, "a.csv", "\n"), csv_source(tmp_path, "b.csv", "x\n")
    with pytest.raises(errors.CorruptFile, match=re.escape("'a.csv', 'a.csv': no form")) as two:
        ingest([blank, blank], PROFILE)
    assert two.value.file is None
    assert [row.data for row in read([blank, filled], PROFILE)] == [{"A1": None}, {"A1": "x"}]
