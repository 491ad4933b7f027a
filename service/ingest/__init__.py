"""Ingestion engine: turns uploaded spreadsheet files into validated rows (spec §4).

Pure parsing, no database and no HTTP. A `Parser` yields one validated `ParsedRow` per
ingestion row, in source order, then the `Amendment`s of the rows whose messages waited for
whole-column facts, then the batch's `Profile` (columns, inferred types, row count).
`service.ingest.parse` explains the design; each module of this package owns one concern:

    parse        the reading, its contract and design (start here)
    amendments   one-pass reads: column facts, the per-cell record, late messages
    plans        Source, ParsedRow, and the Profile pass 1 hands to pass 2
    profiling    pass 1: column facts and reading plans
    rows         pass 2: validated rows, built in chunks
    reading      what both passes share: per-file checks, the CSV record stream
    formats      what a file is, by its content
    guards       pre-checks against hostile ZIP workbooks (bombs, far cells)
    biff         xls and xlsb records: their error cells, an xlsb sheet's extent
    parts        a big xlsx sheet cut into parts that calamine loads side by side
    delimited    CSV/TSV: encoding, delimiter, streaming records
    workbook     xlsx/xlsm/xlsb/xls/ods through python-calamine
    keys         header -> key normalization, A1 addresses
    values       cell values in JSON/jsonb-safe shapes
    inference    whole-column type inference and per-value type checks
    validation   validation messages and row status
"""

from service.ingest.parse import (
    Amendment,
    ParsedRow,
    Parser,
    Profile,
    Source,
    parse_rows,
    precheck,
    profile,
)

__all__ = [
    "Amendment",
    "ParsedRow",
    "Parser",
    "Profile",
    "Source",
    "parse_rows",
    "precheck",
    "profile",
]
