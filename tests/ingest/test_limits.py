"""Limits from Settings (spec §4.1): each one names the setting, its value and the place."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import errors
from service.settings import Settings
from tests.ingest.uploads import LIST, PROFILE, csv_source, ingest, read, table_xlsx


def test_max_files(tmp_path: Path) -> None:
    sources = [csv_source(tmp_path, f"{n}.csv", "a\n1\n") for n in range(3)]
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest(sources, PROFILE, settings=Settings(max_files=2))
    assert (exceeded.value.limit, exceeded.value.value) == ("max_files", 2)


def test_max_file_bytes(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "big.csv", "a\n" + "1\n" * 100)
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_file_bytes=100))
    error = exceeded.value
    assert (error.limit, error.value, error.file) == ("max_file_bytes", 100, "big.csv")


def test_max_rows_in_csv_stops_at_the_first_row_too_many(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "rows.csv", "a\n1\n\n2\n3\n4\n")
    rows = read([source], settings=Settings(max_rows=4))
    assert len(rows) == 4
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_rows=2))
    error = exceeded.value
    assert (error.limit, error.value, error.file, error.sheet, error.row) == (
        "max_rows",
        2,
        "rows.csv",
        "rows",
        5,
    )


def test_max_rows_counts_the_whole_batch_across_sheets(tmp_path: Path) -> None:
    source = table_xlsx(tmp_path, "many.xlsx", [["a"]] + [[n] for n in range(5)])
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], LIST, settings=Settings(max_rows=4))
    assert (exceeded.value.limit, exceeded.value.sheet, exceeded.value.row) == (
        "max_rows",
        "Data",
        6,
    )


def test_max_rows_in_profile_mode_counts_forms(tmp_path: Path) -> None:
    sources = [csv_source(tmp_path, f"{n}.csv", "a\n") for n in range(3)]
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest(sources, PROFILE, settings=Settings(max_rows=2))
    assert exceeded.value.limit == "max_rows"


def test_max_columns_of_a_workbook_sheet(tmp_path: Path) -> None:
    source = table_xlsx(tmp_path, "wide.xlsx", [["a", "b", "c", "d"], [1, 2, 3, 4]])
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_columns=3))
    error = exceeded.value
    assert (error.limit, error.value, error.file, error.sheet, error.column) == (
        "max_columns",
        3,
        "wide.xlsx",
        "Data",
        "D",
    )


def test_max_columns_of_a_csv(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "wide.csv", "a,b,c,d\n1,2,3,4\n")
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_columns=3))
    error = exceeded.value
    assert (error.limit, error.file, error.row, error.column) == ("max_columns", "wide.csv", 1, "D")


def test_max_columns_in_profile_mode_counts_non_empty_cells(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "form.csv", "a,b\nc,d\n")
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], PROFILE, settings=Settings(max_columns=3))
    assert (exceeded.value.limit, exceeded.value.row) == ("max_columns", 2)
    other = csv_source(tmp_path, "other.csv", ",,,x\n")
    with pytest.raises(errors.LimitExceeded) as union:
        ingest(
            [csv_source(tmp_path, "ok.csv", "a,b,c\n"), other],
            PROFILE,
            settings=Settings(max_columns=3),
        )
    assert (union.value.limit, union.value.file) == ("max_columns", "other.csv")


def test_max_cell_chars_in_csv(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "long.csv", "a,b\nx," + "y" * 11 + "\n")
    rows = read([source], settings=Settings(max_cell_chars=11))
    assert rows[0].data["b"] == "y" * 11
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_cell_chars=10))
    error = exceeded.value
    assert (error.limit, error.value, error.file, error.sheet, error.row, error.column) == (
        "max_cell_chars",
        10,
        "long.csv",
        "long",
        2,
        "B",
    )


def test_an_unclosed_quote_cannot_swallow_the_file(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "q.csv", 'a,b\n1,"open\n' + "x,y\n" * 2000)
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_cell_chars=100))
    assert (exceeded.value.limit, exceeded.value.row) == ("max_cell_chars", 2)


def test_max_cell_chars_in_a_workbook(tmp_path: Path) -> None:
    source = table_xlsx(tmp_path, "cell.xlsx", [["a", "b"], ["ok", "z" * 50]])
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_cell_chars=20))
    error = exceeded.value
    assert (error.limit, error.sheet, error.row, error.column) == ("max_cell_chars", "Data", 2, "B")
