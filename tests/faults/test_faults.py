"""One injection of each fault into an upload to a real service, at a point drawn from a
fixed seed: nothing half-written, no connection leaked, and a retry with the same
Idempotency-Key ends with exactly one batch. `bench/faults.py` runs hundreds of these."""

from __future__ import annotations

import random

import pytest

from bench.harness import EXPECTED_RETRY, FAULTS, Harness

SEED = 5


@pytest.mark.parametrize("fault", FAULTS)
async def test_an_upload_is_whole_or_absent_and_a_retry_makes_one_batch(
    harness: Harness, fault: str
) -> None:
    outcome = await harness.inject(fault, random.Random(f"{SEED}:{fault}:0"))
    assert not outcome.hung, outcome
    assert outcome.fate in {"committed", "absent"}, outcome
    assert outcome.leaked == 0, outcome
    assert outcome.retry == EXPECTED_RETRY.get(fault, "201"), outcome
    assert outcome.orphaned == 0, outcome
    assert outcome.duplicates == 0, outcome
    assert not outcome.problems, outcome
