"""Ingestion engine: turns uploaded spreadsheet files into validated rows (spec §4).

Pure parsing, no database and no HTTP. `profile` (pass 1) detects each file's format,
runs the pre-checks and limits, finds the batch's keys and infers every column's type;
`parse_rows` (pass 2) reads the files again and yields one validated `ParsedRow` per
ingestion row, in source order. `service.ingest.parse` explains the design; each module of
this package owns one concern:

    parse        the two passes, their contract and design (start here)
    plans        Source, ParsedRow, and the Profile pass 1 hands to pass 2
    profiling    pass 1: column facts and reading plans
    rows         pass 2: validated rows, built in chunks
    reading      what both passes share: per-file checks, the CSV record stream
    formats      what a file is, by its content
    guards       pre-checks against hostile ZIP workbooks (bombs, far cells)
    delimited    CSV/TSV: encoding, delimiter, streaming records
    workbook     xlsx/xlsm/xlsb/xls/ods through python-calamine
    keys         header -> key normalization, A1 addresses
    values       cell values in JSON/jsonb-safe shapes
    inference    whole-column type inference and per-value type checks
    validation   validation messages and row status
"""

from service.ingest.parse import ParsedRow, Profile, Source, parse_rows, profile

__all__ = ["ParsedRow", "Profile", "Source", "parse_rows", "profile"]
