"""Benchmark: what the repaired copies of `service/ingest/repair.py` cost, and that the common
case does not pay for them.

    uv run python bench/repair.py                 # 200,000 rows x 12 columns, 3 rounds
    uv run python bench/repair.py --rows 50000

For each of xlsx and ods, two files of the same rows: a clean one, and one with the shape
python-calamine 0.9.1 refuses (xlsx: every number written `<v> 41</v>` with `t="n"`, as R's
openxlsx does; ods: content.xml indented, as KSpread writes it). It times, interleaved:

- calamine alone opening the clean file and loading its sheet (not its rows as Python
  values: neither step does that);
- `workbook.Workbook` doing the same (the service's path: a repair is only tried after
  calamine has failed, so on a clean file this must be calamine's time, give or take noise);
- `workbook.Workbook` on the refused shape: calamine fails, the copy is written, calamine
  reads the copy;
- `repair.repaired_copy` alone on that file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook

from service.ingest import repair, workbook
from service.ingest.formats import ODS_MIMETYPE, FileFormat
from service.settings import Settings

COLUMNS = 12
SETTINGS = Settings()
MANIFEST = (
    b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    b'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    b'<manifest:file-entry manifest:full-path="/" manifest:media-type="' + ODS_MIMETYPE + b'"/>'
    b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    b"</manifest:manifest>"
)


def cells(row: int) -> list[object]:
    kinds = (row * 1.5, f"text {row % 977}", row)
    return [kinds[c % 3] for c in range(COLUMNS)]


def write_xlsx(path: Path, rows: int, *, padded: bool) -> None:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("S")
    sheet.write_row(0, 0, [f"h{c}" for c in range(COLUMNS)])
    for r in range(rows):
        sheet.write_row(r + 1, 0, cells(r))
    book.close()
    if not padded:
        return
    with zipfile.ZipFile(path) as original:
        members = [(info, original.read(info)) for info in original.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as copy:
        for info, data in members:
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"><v>", b' t="n"><v> ').replace(
                    b' t="s" t="n"><v> ', b' t="s"><v>'
                )
            copy.writestr(info.filename, data)


def write_ods(path: Path, rows: int, *, indented: bool) -> None:
    gap = b"\n   " if indented else b""
    parts = [
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b'<office:body><office:spreadsheet><table:table table:name="S">'
    ]
    for row in [[f"h{c}" for c in range(COLUMNS)], *(cells(r) for r in range(rows))]:
        parts.append(gap + b"<table:table-row>")
        for value in row:
            if isinstance(value, str):
                kind, text = b'office:value-type="string"', value.encode()
            else:
                text = str(value).encode()
                kind = b'office:value-type="float" office:value="' + text + b'"'
            parts.append(
                gap + b"<table:table-cell " + kind + b">" + gap + b"<text:p>" + text + b"</text:p>"
            )
            parts.append(gap + b"</table:table-cell>")
        parts.append(gap + b"</table:table-row>")
    parts.append(b"</table:table></office:spreadsheet></office:body></office:document-content>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", ODS_MIMETYPE, zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", MANIFEST)
        archive.writestr("content.xml", b"".join(parts))


def calamine_alone(path: Path) -> None:
    with CalamineWorkbook.from_path(path) as book:
        sheet = book.get_sheet_by_name("S")
        assert sheet.height > 1


def through_workbook(path: Path, name: str) -> None:
    with workbook.Workbook(path, name) as book:
        (sheet,) = book.select(None, first_only=False)
        loaded = book.load(sheet, SETTINGS)
        assert loaded.height > 1


def copy_only(path: Path, fmt: FileFormat) -> None:
    copy = repair.repaired_copy(path, fmt)
    assert copy is not None
    copy.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        files = {}
        for kind in ("xlsx", "ods"):
            for shape in (False, True):
                path = directory / f"{kind}-{'bad' if shape else 'clean'}.{kind}"
                if kind == "xlsx":
                    write_xlsx(path, options.rows, padded=shape)
                else:
                    write_ods(path, options.rows, indented=shape)
                files[kind, shape] = path
        steps: dict[str, Callable[[], None]] = {}
        for kind, fmt, shape_name in (
            ("xlsx", FileFormat.XLSX, "numbers padded"),
            ("ods", FileFormat.ODS, "indented"),
        ):
            clean, bad = files[kind, False], files[kind, True]
            size = bad.stat().st_size
            steps[f"{kind} clean: calamine alone"] = lambda p=clean: calamine_alone(p)
            steps[f"{kind} clean: Workbook (the service's path)"] = lambda p=clean, n=f"x.{kind}": (
                through_workbook(p, n)
            )
            steps[f"{kind} {shape_name} ({size / 1e6:.1f} MB): Workbook, repaired"] = (
                lambda p=bad, n=f"x.{kind}": through_workbook(p, n)
            )
            steps[f"{kind} {shape_name}: repaired_copy alone"] = lambda p=bad, f=fmt: copy_only(
                p, f
            )
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(options.rounds):
            for name, step in steps.items():
                started = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - started)
    print(
        f"{options.rows:,} rows x {COLUMNS} columns, median of {options.rounds} interleaved rounds"
    )
    print()
    print("| step | seconds |")
    print("|---|---:|")
    for name, measured in times.items():
        print(f"| {name} | {statistics.median(measured):.2f} |")


if __name__ == "__main__":
    main()
