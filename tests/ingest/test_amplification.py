"""A small file that becomes huge rows (issue 14, item 5): characters per row and per batch.

The issue's shape: one 32,767-character shared string repeated in thousands of cells of an
xlsx of a few KiB. Rows are measured by their keys and text values as they are built, in
the one-pass and the two-pass read alike (`ingest` checks both)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from service import errors
from service.settings import Settings
from tests.ingest.uploads import LIST, PROFILE, csv_source, ingest, read, table_xlsx, xlsx_source

FULL = "x" * 32_767


def repeated_xlsx(tmp_path: Path, rows: int, columns: int = 1):
    """One 32,767-character shared string in every cell of `rows` x `columns`, under a header."""

    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        for column in range(columns):
            sheet.write(0, column, f"c{column}")
        for row in range(1, rows + 1):
            for column in range(columns):
                sheet.write_string(row, column, FULL)

    return xlsx_source(tmp_path, "small.xlsx", build)


def test_the_issue_shape_is_a_small_file(tmp_path: Path) -> None:
    source = repeated_xlsx(tmp_path, 3_000)
    assert source.path.stat().st_size < 100_000


def test_the_batch_limit_stops_the_row_that_passes_it(tmp_path: Path) -> None:
    source = repeated_xlsx(tmp_path, 3_000)
    limit = 100 * 32_767
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_batch_chars=limit))
    error = exceeded.value
    # Each row holds its key `c0` (2 characters) and 32,767 of text: row 2 is the first data row.
    first_over = 2 + limit // (32_767 + 2)
    assert (error.limit, error.value, error.file, error.sheet, error.row) == (
        "max_batch_chars",
        limit,
        "small.xlsx",
        "Data",
        first_over,
    )
    assert "per batch" in error.detail


def test_a_batch_just_within_the_limit_is_read(tmp_path: Path) -> None:
    source = repeated_xlsx(tmp_path, 10)
    rows = read([source], settings=Settings(max_batch_chars=10 * (32_767 + 2)))
    assert len(rows) == 10


def test_the_default_row_limit_takes_three_full_cells(tmp_path: Path) -> None:
    source = repeated_xlsx(tmp_path, 2, columns=3)
    rows = read([source])
    assert [len(row.data["c2"]) for row in rows] == [32_767, 32_767]


def test_a_row_over_the_row_limit_is_refused_by_its_number(tmp_path: Path) -> None:
    source = table_xlsx(
        tmp_path, "wide.xlsx", [["a", "b", "c"], ["1", "2", "3"], ["x" * 40, "y" * 40, "z"]]
    )
    limit = 3 + 80  # the keys (a, b, c) and two values of 40 characters: the third is too many
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_row_chars=limit))
    error = exceeded.value
    assert (error.limit, error.value, error.file, error.sheet, error.row) == (
        "max_row_chars",
        limit,
        "wide.xlsx",
        "Data",
        3,
    )
    assert "84 characters" in error.detail
    assert len(read([source], settings=Settings(max_row_chars=limit + 1))) == 2


def test_keys_count_too_since_every_row_carries_every_key(tmp_path: Path) -> None:
    header = ",".join(f"{'k' * 1_000}{n}" for n in range(10))
    source = csv_source(tmp_path, "keys.csv", f"{header}\n" + "1,2,3,4,5,6,7,8,9,10\n" * 3)
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], settings=Settings(max_row_chars=10_000))
    assert (exceeded.value.limit, exceeded.value.sheet, exceeded.value.row) == (
        "max_row_chars",
        "keys",
        2,
    )


def test_the_batch_limit_counts_rows_across_sheets_in_two_passes(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        for name in ("One", "Two"):
            sheet = book.add_worksheet(name)
            sheet.write(0, 0, "a")
            for row in range(1, 6):
                sheet.write_string(row, 0, "x" * 99)

    source = xlsx_source(tmp_path, "two.xlsx", build)
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest([source], LIST, settings=Settings(max_batch_chars=7 * 100))
    assert (exceeded.value.limit, exceeded.value.sheet, exceeded.value.row) == (
        "max_batch_chars",
        "Two",
        4,  # 5 rows of One, then rows 2-3 of Two make 700 characters (key `a` and 99 each)
    )


def test_profile_mode_counts_each_form_as_a_row(tmp_path: Path) -> None:
    sources = [csv_source(tmp_path, f"{n}.csv", f"{'v' * 50}\n") for n in range(3)]
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest(sources, PROFILE, settings=Settings(max_batch_chars=2 * (50 + 2)))
    assert (exceeded.value.limit, exceeded.value.file, exceeded.value.row) == (
        "max_batch_chars",
        "2.csv",
        1,
    )
    with pytest.raises(errors.LimitExceeded) as exceeded:
        ingest(sources, PROFILE, settings=Settings(max_row_chars=51))
    assert (exceeded.value.limit, exceeded.value.file) == ("max_row_chars", "0.csv")
