"""Benchmark: what reading the records of the binary formats (`service/ingest/biff.py`) adds
to calamine's own read of the same sheet.

    uv run python bench/binary.py              # 200,000-row xlsb, 65,535-row xls, 3 rounds

- xlsb: the pre-checks (`guards.inspect_archive`), which walk every record of the sheet for
  its extent and error cells, against calamine opening the workbook and loading the sheet.
  In the parsing worker the two run at the same time, on two cores.
- xls: `biff.xls_error_cells` against calamine opening the workbook (which reads every sheet)
  and loading the sheet. They run one after the other.

Both files have 12 columns of numbers and text and one error cell; the xlsb is written by the
tests' xlsb writer (no Python library writes the format), the xls by xlwt.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import xlwt
from python_calamine import CalamineWorkbook

from bench import xlsb
from service.ingest import biff, guards
from service.ingest.formats import FileFormat
from service.settings import Settings

COLUMNS = 12
XLS_ROWS = 65_535


def cells(row: int) -> list[object]:
    kinds = (row * 1.5, f"text {row % 977}", row)
    return [kinds[c % 3] for c in range(COLUMNS)]


def write_xlsb(path: Path, rows: int) -> None:
    data = [[f"h{c}" for c in range(COLUMNS)], *(cells(r) for r in range(rows))]
    data[2][3] = xlsb.ErrorValue("#DIV/0!")
    path.write_bytes(xlsb.xlsb_bytes([xlsb.Sheet("S", data)]))


def write_xls(path: Path) -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    for r in range(XLS_ROWS):
        row = sheet.row(r)
        for c, value in enumerate(cells(r)):
            if (r, c) == (2, 3):
                row.set_cell_error(c, 0x07)
            else:
                row.write(c, value)
        if r % 1000 == 999:
            sheet.flush_row_data()
    book.save(str(path))


def calamine_load(path: Path) -> None:
    """What the engine waits for before its first row (rows are then read as they go)."""
    with CalamineWorkbook.from_path(str(path)) as book:
        book.get_sheet_by_name("S")


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the xlsb sheet")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as scratch:
        xlsb_path, xls_path = Path(scratch, "big.xlsb"), Path(scratch, "big.xls")
        write_xlsb(xlsb_path, args.rows)
        write_xls(xls_path)
        assert guards.inspect_archive(xlsb_path, "b", FileFormat.XLSB, settings) == {
            "S": {"D3": "#DIV/0!"}
        }
        assert biff.xls_error_cells(xls_path, "b") == {"S": {"D3": "#DIV/0!"}}
        methods: dict[str, Callable[[], object]] = {
            f"xlsb {args.rows:,} rows: pre-checks (record walk)": lambda: guards.inspect_archive(
                xlsb_path, "b", FileFormat.XLSB, settings
            ),
            f"xlsb {args.rows:,} rows: calamine open + load": lambda: calamine_load(xlsb_path),
            f"xls {XLS_ROWS:,} rows: error cells (record walk)": lambda: biff.xls_error_cells(
                xls_path, "b"
            ),
            f"xls {XLS_ROWS:,} rows: calamine open + load": lambda: calamine_load(xls_path),
        }
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.rounds):
            for name, work in methods.items():
                times[name].append(timed(work))
    print(f"\n{COLUMNS} columns, median of {args.rounds} interleaved rounds\n")
    print("| step | seconds |")
    print("|---|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
