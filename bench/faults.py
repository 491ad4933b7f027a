"""Benchmark: hundreds of faults injected into uploads to a real service, and what they left.

    uv run python bench/faults.py [--runs 240] [--seed 5] [--rows 30000] [--faults a,b]

Runs the fault harness `bench/harness.py` (as `tests/faults/` does: its own embedded PostgreSQL
and `sheetflow serve` process) through the faults in turn, round after round, each at a point
drawn from `random.Random(f"{seed}:{fault}:{round}")`, so a run is reproducible by its seed,
fault and round (`--faults backend_kill --first-round 7 --runs 1` repeats round 7 of that fault
alone; round 0 with seed 5 is what `tests/faults/` injects). Prints one line per fault: how the
uploads ended (committed, absent, partial: must be 0, hung), leaked connections (must be 0),
duplicate batches after the retry with the same Idempotency-Key (must be 0), live batches
left under a deleted project (`project_delete_mid_upload`; must be 0), 500 answers, and
for the PostgreSQL restart the time from its return to the service answering (target ≤ 5 s);
then the first answers seen and every problem with the runs that showed it. The service's log
during a run with a problem (a 500's traceback, say) is printed after that run's line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict

from bench.harness import FAULTS, Harness, Outcome


async def main(options: argparse.Namespace) -> None:
    faults = options.faults.split(",")
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    load_before = os.getloadavg()
    started = time.monotonic()
    outcomes: list[tuple[int, Outcome]] = []
    async with Harness(rows=options.rows) as harness:
        print(f"calibration upload: {harness.timings}", file=sys.stderr)
        for index in range(options.runs):
            fault = faults[index % len(faults)]
            round_ = options.first_round + index // len(faults)
            outcome = await harness.inject(fault, random.Random(f"{options.seed}:{fault}:{round_}"))
            outcomes.append((round_, outcome))
            print(
                f"{index + 1}/{options.runs} {fault}#{round_} at {outcome.fraction:.2f}: "
                f"{outcome.first or '-'}"
                + (f" (retried at once: {outcome.early})" if outcome.early else "")
                + f" -> {outcome.fate}, retry {outcome.retry or '-'}"
                + (f", hung ({outcome.hung})" if outcome.hung else "")
                + "".join(f"; {problem}" for problem in outcome.problems),
                file=sys.stderr,
                flush=True,
            )
            if outcome.log:
                print(f"--- the service's log during {fault}#{round_} ---", file=sys.stderr)
                print(outcome.log.rstrip(), f"\n--- end of {fault}#{round_} ---", file=sys.stderr)
    minutes = (time.monotonic() - started) / 60
    print(
        f"{options.runs} injections into uploads of {options.rows:,} CSV rows, seed "
        f"{options.seed}, {dt.date.today()}, {minutes:.1f} min; load average "
        f"{load_before[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end "
        f"({os.cpu_count()} CPUs)"
    )
    print()
    report(faults, outcomes)


def report(faults: list[str], outcomes: list[tuple[int, Outcome]]) -> None:
    print(
        "| fault | runs | committed | absent | partial | hung | leaked connections "
        "| duplicate batches | orphaned batches | 500 answers | recovery s (p50 / max) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    problems: dict[str, list[str]] = defaultdict(list)
    for fault in faults:
        mine = [outcome for _, outcome in outcomes if outcome.fault == fault]
        fates = Counter(outcome.fate for outcome in mine)
        recoveries = [outcome.recovery for outcome in mine if outcome.recovery is not None]
        recovery = (
            f"{statistics.median(recoveries):.2f} / {max(recoveries):.2f}" if recoveries else "-"
        )
        fives = sum((outcome.first, outcome.retry).count("500") for outcome in mine)
        print(
            f"| {fault} | {len(mine)} | {fates['committed']} | {fates['absent']} "
            f"| {fates['partial']} | {sum(bool(outcome.hung) for outcome in mine)} "
            f"| {sum(outcome.leaked for outcome in mine)} "
            f"| {sum(outcome.duplicates for outcome in mine)} "
            f"| {sum(outcome.orphaned for outcome in mine)} | {fives} | {recovery} |"
        )
    for round_, outcome in outcomes:
        early = f", retried at once: {outcome.early}" if outcome.early else ""
        answers[outcome.fault][f"{outcome.first or 'none'}{early}"] += 1
        run = f"{outcome.fault}#{round_}"
        if outcome.hung:
            problems[f"hung: waited for {outcome.hung}"].append(run)
        for problem in outcome.problems:
            problems[problem].append(run)
    print()
    print("First answers:")
    for fault in faults:
        seen = ", ".join(f"{answer} x{count}" for answer, count in answers[fault].most_common())
        print(f"- {fault}: {seen}")
    print()
    print("Problems (and the runs that showed them):" if problems else "Problems: none")
    for problem, runs in sorted(problems.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(runs[:6]) + (", ..." if len(runs) > 6 else "")
        print(f"- {len(runs)} x {problem}: {shown}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30 * len(FAULTS), help="injections in all")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rows", type=int, default=30_000, help="CSV rows per upload")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated subset")
    parser.add_argument("--first-round", type=int, default=0, help="round to start from")
    asyncio.run(main(parser.parse_args()))
