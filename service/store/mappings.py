"""Remembered mappings: the matching of the last completed batch with the same header
fingerprint, which a new upload to the project starts from (issue 18, `ingest.matching`).

The worker learns the header of a file only once it reads it, and the service never parses a
file itself: so an upload hands the worker the remembered mappings of the project's
`REMEMBERED_HEADERS` most recently completed header fingerprints, and the worker picks the one
that fits its header. The lookup is one scan of the partial index
`idx_ingestion_batches_completed_header` over the project's completed batches.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import ColumnMetadata
from service.ingest.matching import ColumnMapping, remembered_from_columns

REMEMBERED_HEADERS = 50
"""How many distinct headers of a project are remembered: a project that receives more
different headers than this forgets the least recently completed ones."""


async def remembered(db: Executor, project_id: UUID) -> dict[str, ColumnMapping]:
    """Header fingerprint → the mapping remembered for it (see the module)."""
    found = await queries.scalar(db, "list_remembered_mappings", project_id, REMEMBERED_HEADERS)
    if found is None:
        return {}
    by_print = msgspec.convert(found, dict[str, list[ColumnMetadata]])
    return {
        fingerprint: mapping
        for fingerprint, columns in by_print.items()
        if (mapping := remembered_from_columns(columns))
    }
