"""Ingestion engine: turns uploaded spreadsheet files into validated rows (spec §4).

Pure parsing: no database, no HTTP, no processes (the sandbox that runs it is
`service.ingestion`). A `Parser` yields one validated `ParsedRow` per ingestion row, in source
order, then the `Amendment`s of the rows whose messages waited for whole-column facts, then
the batch's `Profile` (columns, inferred types, row count). Each module owns one concern:

    parse        the Parser: one or two passes, modes, errors (start here)
    plans        Source, ParsedRow, and the Profile pass 1 hands to pass 2
    profiling    pass 1: column facts and reading plans
    emitter      pass 2 (and the one-pass read): validated rows, built in chunks
    amendments   one-pass reads: column facts, the per-cell record, late messages
    limits       the refusals for a limit a read runs into (rows, cell length)
    budget       the characters of a batch's rows, per row and in all (amplification)
    formats      what a file is, by its content; the per-file size limit
    guards       pre-checks against hostile ZIP workbooks (bombs, far cells)
    biff         xls and xlsb records: their error cells, an xlsb sheet's extent
    parts        a big xlsx sheet cut into parts that calamine loads side by side
    delimited    CSV/TSV: encoding, delimiter, streaming records, their sheet name
    workbook     xlsx/xlsm/xlsb/xls/ods through python-calamine
    repair       copies of the ZIP workbooks calamine refuses and LibreOffice reads
    oldbiff      Excel 2.x-4.0 worksheets (BIFF2-4 streams), shaped as calamine's sheets
    keys         header -> key normalization, A1 addresses
    matching     columns -> a project schema's fields (explicit, saved, key, alias, fuzzy)
    values       cell values in JSON/jsonb-safe shapes
    inference    whole-column type inference and per-value type checks
    validation   validation messages and row status
    conforming   a project schema applied to the rows: types and rules (`service.rules`)
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
