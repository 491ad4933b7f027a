"""Timestamps of an upload's stages, logged at debug level for `bench/upload.py`.

`mark("spooled")` logs the stage with the wall clock (seconds since the epoch, which the
benchmark compares with its own clock in another process) on the `sheetflow.timeline` logger.
`sheetflow serve` logs at info level, so in service the marks cost one level check each.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("sheetflow.timeline")


def mark(stage: str) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s %.6f", stage, time.time())
