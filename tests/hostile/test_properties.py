"""Property tests of the CSV upload over HTTP (issue #5).

1. Any bytes uploaded as `x.csv` are answered 201 or with a 4xx problem, never a 5xx; a
   refusal stores nothing, and an accepted batch is whole (every row, every key).
2. A table of arbitrary text written by `csv.writer` as UTF-8 comes back exactly, once the
   documented rules are applied (spec §4.2-4.3): NUL removed, values trimmed, empty is
   null, blank rows skipped but counted, keys normalized. The expected batch is derived
   here from the spec's wording, not from the service's code.

Examples are bounded and derandomized: the same inputs on every run, a few seconds each.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import Service

EXAMPLES = 20
bounded = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True)

CSV_BYTES = (
    b",",
    b";",
    b"\t",
    b"|",
    b'"',
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"\x00",
    b"a",
    b"1",
    b"\xc3\xa3",
    b"\xe3",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"PK\x03\x04",
)
any_bytes = st.one_of(
    st.binary(max_size=512),
    st.lists(st.sampled_from(CSV_BYTES), max_size=200).map(b"".join),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


@given(data=any_bytes)
@bounded
async def test_any_bytes_as_csv_are_201_or_a_4xx_problem(service: Service, data: bytes) -> None:
    before = await service.stored()
    response = await service.upload([("x.csv", data)])
    assert response.status_code == 201 or 400 <= response.status_code < 500, response.text
    if response.status_code != 201:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["file"] == "x.csv"
        assert await service.stored() == before
        return
    batch = response.json()
    keys = {column["normalizedKey"] for column in batch["columnMetadata"]}
    rows = await service.get(response.headers["location"] + "/rows", limit=100)
    assert rows["total"] == batch["rowCount"]
    assert all(set(row["data"]) == keys for row in rows["items"])


# Text cells: anything but the other delimiter candidates (so that the comma is the only
# reading of the file) and control characters other than line ends and NUL (so that the
# file is text, spec §4.1). At most a few NULs are allowed below, for the same reason.
cell_text = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs",),
        exclude_characters=";|\t\ufeff"
        + "".join(chr(c) for c in range(32) if chr(c) not in "\x00\n\r"),
    ),
    max_size=12,
)
tables = st.integers(min_value=1, max_value=4).flatmap(
    lambda width: st.lists(
        st.lists(cell_text, min_size=width, max_size=width), min_size=1, max_size=6
    )
)


def key_of(header: str) -> str:
    """Spec §4.3, in its own words: NFKC, trimmed, accents removed, lowercased, runs of
    anything but [a-z0-9] become one `_`, leading and trailing `_` dropped."""
    text = unicodedata.normalize("NFKC", header).strip()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return re.sub("[^a-z0-9]+", "_", text.lower()).strip("_")


def letter(column: int) -> str:
    letters = ""
    column += 1
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def is_blank(cells: list[str]) -> bool:
    """Nothing but whitespace and NUL characters (which are removed)."""
    return not any(cell.replace("\x00", "").strip() for cell in cells)


def expected_batch(table: list[list[str]]) -> tuple[list[tuple[str, str]], list[tuple[int, Any]]]:
    """The (key, original header) columns and the (record number, data) rows the spec
    prescribes for `table` read back from CSV."""
    records = [
        (number, cells)
        for number, cells in enumerate(table, 1)
        if not is_blank(cells)  # blank records are skipped, but counted
    ]
    (_, header), data = records[0], records[1:]
    values = [[cell.replace("\x00", "").strip() or None for cell in cells] for _, cells in data]
    columns: list[tuple[int, str, str]] = []
    for index, original in enumerate(cell.replace("\x00", "") for cell in header):
        # A blank header is a column too, filled or not (README: blank headers).
        base = key_of(original) or f"column_{letter(index).lower()}"
        key, suffix = base, 2
        while key in {taken for _, taken, _ in columns}:
            key, suffix = f"{base}_{suffix}", suffix + 1
        columns.append((index, key, original))
    rows = [
        (number, {key: row[index] for index, key, _ in columns})
        for (number, _), row in zip(data, values, strict=True)
    ]
    return [(key, original) for _, key, original in columns], rows


@given(table=tables)
@bounded
async def test_a_csv_table_round_trips(service: Service, table: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(table)
    data = buffer.getvalue().encode("utf-8")
    assume(data.count(b"\x00") <= 8)  # more would make it binary (spec §4.1)
    assume(not is_blank(table[0]))  # a header to read
    columns, rows = expected_batch(table)

    response = await service.upload([("x.csv", data)])

    assert response.status_code == 201, response.text
    batch = response.json()
    assert [(c["normalizedKey"], c["originalHeader"]) for c in batch["columnMetadata"]] == columns
    stored = await service.get(response.headers["location"] + "/rows", limit=100)
    assert [(row["sourceRowIndex"], row["data"]) for row in stored["items"]] == rows
