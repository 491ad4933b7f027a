"""Benchmark: a bounded open-loop load on the HTTP API, reads and uploads at once.

    uv run python bench/load.py                    # 200 reads/s + a 10k-row CSV every 2 s, 5 min
    uv run python bench/load.py --duration 20      # a short run
    uv run python bench/load.py --url http://127.0.0.1:8000 \\
        --token "$(uv run sheetflow token load)" --pid PID   # a running service (PID: its Python)

Without `--url` it starts `sheetflow serve` on loopback against its own embedded PostgreSQL in
a temporary directory. It creates a project, uploads a batch to read (`--read-rows` rows of the
ingestion benchmark's 12 columns) and has its field statistics computed, then runs the schedule:

- reads at `--rate` per second, evenly spaced: 80 % `GET …/rows?limit=100&offset=<a random
  page of the batch>`, 10 % `GET …/batches/{id}` and 10 % `GET …/fields` (people reviewing
  batches open one, look at its fields, then page through its rows);
- one `POST …/batches` of a `--upload-rows`-row CSV every `--upload-every` seconds;
- with `--flood N`, a second user sends N uploads of that CSV at once, each sent again as soon
  as it is answered (after `--flood-retry` seconds when refused with 429), for the whole run:
  the reads are then the other user's, and show what one user flooding uploads costs
  everyone else (issue 14: target no 5xx and p99 <= 100 ms):

      uv run python bench/load.py --flood 12 --upload-every 0 --upload-rows 50000 --duration 60

Open loop: every request is sent at its scheduled time whatever became of the earlier ones, and
its latency runs from that scheduled time to the last byte of the answer, so a stalled service
shows in the latencies (no coordinated omission). At most `--max-in-flight` requests are
outstanding: one that comes due while the cap is reached is not sent and counts as `dropped`,
one unanswered after `--timeout` seconds as `timeout`; both count as infinitely slow in the
percentiles. The run is bounded in time: the schedule lasts `--duration` seconds and the last
requests get at most `--timeout` more.

The client is this process, apart from the service's. Its own CPU time and how late it sent
requests are printed, so that a client that fell behind can be told from a slow service. The
service's figures come from /proc: CPU time of the service process, of its parsing workers
(its reaped children) and of PostgreSQL (when this benchmark started it), and how long the
service's event loop waited for a CPU while ready to run; the service's peak RSS (VmHWM), and
the largest peak RSS of a parsing worker, sampled every 50 ms. With uploads, the reads are also
split by how long after an upload's start they were due, which shows what uploads cost them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Awaitable
from pathlib import Path
from uuid import uuid4

import httpx
import loopback
from api import percentile
from ingest import write_csv

PAGE = 100
ROWS = f"GET …/rows?limit={PAGE}&offset=<random page>"
BATCH = "GET …/batches/{id}"
FIELDS = "GET …/fields"
READ_MIX = ((ROWS, 0.8), (BATCH, 0.1), (FIELDS, 0.1))
READS = {label for label, _ in READ_MIX}
UPLOAD = "upload"
FLOOD = "POST …/batches by the flooding user"
KEEP_ALIVE_SECONDS = 4
"""Connections idle longer are not reused: uvicorn closes them after 5 s."""
TICK = os.sysconf("SC_CLK_TCK")


class Proc:
    """One process's figures from /proc (all readable for other users' processes too)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_seconds(self, *, children: bool = False) -> float:
        """Own CPU time, or that of its reaped children (`children=True`)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        first = 13 if children else 11  # cutime, cstime / utime, stime
        return (int(fields[first]) + int(fields[first + 1])) / TICK

    def run_queue_seconds(self) -> float:
        """How long its main thread has waited for a CPU while it was ready to run."""
        return int(Path(f"/proc/{self.pid}/schedstat").read_text().split()[1]) / 1e9

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def command_line(self) -> bytes:
        return Path(f"/proc/{self.pid}/cmdline").read_bytes()

    def children(self) -> list[Proc]:
        listed = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        return [Proc(int(pid)) for pid in listed.split()]

    def tree_cpu_seconds(self) -> float:
        """CPU time of this process, its reaped children and its live children."""
        total = self.cpu_seconds() + self.cpu_seconds(children=True)
        for child in self.children():
            with contextlib.suppress(FileNotFoundError):  # exited since listed
                total += child.cpu_seconds()
        return total


class Watch:
    """CPU time and memory of the service, PostgreSQL, this client and the whole machine.

    The service is one process, or with `serve --workers N` a parent and its N web processes:
    the figures are then summed over the web processes (and the parent's own CPU added)."""

    def __init__(self, service: Proc | None, postgres: Proc | None, workers: int = 1) -> None:
        self.service = service
        self.postgres = postgres
        self.worker_peak_kib = 0
        self.web: list[Proc] = []
        if service:
            self.web = [service] if workers == 1 else web_processes(service)
            if len(self.web) != workers:
                raise SystemExit(f"expected {workers} web processes, found {len(self.web)}")

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far, by whom."""
        figures = {}
        if self.service:
            figures["service"] = sum(web.cpu_seconds() for web in self.web)
            if self.web != [self.service]:
                figures["service"] += self.service.cpu_seconds()
            figures["parsing workers"] = sum(web.cpu_seconds(children=True) for web in self.web)
        if self.postgres:
            figures["PostgreSQL"] = self.postgres.tree_cpu_seconds()
        figures["client"] = Proc(os.getpid()).cpu_seconds()
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        figures["whole machine"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK  # not idle
        return figures

    def run_queue_seconds(self) -> float:
        return sum(web.run_queue_seconds() for web in self.web)

    def status_kib(self, key: str) -> int:
        """Summed over the web processes."""
        return sum(web.status_kib(key) for web in self.web)

    async def sample_workers(self) -> None:
        """Keep the largest peak RSS of a parsing worker (its VmHWM, just before it exits)."""
        while self.web:
            for child in (child for web in self.web for child in web.children()):
                with contextlib.suppress(FileNotFoundError):
                    # Until it has exec'd, a child is a copy of the service: not a worker yet.
                    if b"service.ingestion.child" in child.command_line():
                        self.worker_peak_kib = max(self.worker_peak_kib, child.status_kib("VmHWM"))
            await asyncio.sleep(0.05)


def web_processes(parent: Proc) -> list[Proc]:
    """The web processes of `serve --workers N` (uvicorn spawns them with multiprocessing)."""
    return [child for child in parent.children() if b"spawn_main" in child.command_line()]


def schedule(options: argparse.Namespace, batch_path: str) -> list[tuple[float, str, str]]:
    """(seconds from the start, label, path or "upload"), in time order."""
    rng = random.Random(5)
    labels, weights = zip(*READ_MIX, strict=True)
    pages = max(1, options.read_rows // PAGE)
    paths = {
        ROWS: f"{batch_path}/rows?limit={PAGE}&offset=",
        BATCH: batch_path,
        FIELDS: f"{batch_path}/fields",
    }
    plan = []
    for n in range(int(options.duration * options.rate)):
        label = rng.choices(labels, weights)[0]
        path = paths[label] + (str(rng.randrange(pages) * PAGE) if label == ROWS else "")
        plan.append((n / options.rate, label, path))
    upload = f"POST …/batches ({options.upload_rows:,}-row CSV)"
    uploads = math.ceil(options.duration / options.upload_every) if options.upload_every else 0
    plan.extend((n * options.upload_every, upload, UPLOAD) for n in range(uploads))
    plan.sort(key=lambda item: item[0])
    return plan


class Client:
    """Just enough HTTP/1.1 for this benchmark: keep-alive connections to one host, answers
    with a Content-Length. httpx spent ~1.7 ms of CPU per request here, a third of a core taken
    from the service at 200 requests/s."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port or 80
        fields = {"Host": url.netloc, **headers}
        self.head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        self.idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\n{self.head}"
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    async def send(self, request: bytes, *, expect_continue: bool = False) -> int:
        """The answer's status (its body is read and dropped). With `expect_continue`, the
        body is sent only once the service has said `100 Continue` (as curl does for bodies
        over 1 MiB): an upload refused before its body is read then sends none of it."""
        reader, writer = await self.connection()
        try:
            if expect_continue:
                head, _, body = request.partition(b"\r\n\r\n")
                writer.write(head + b"\r\nExpect: 100-continue\r\n\r\n")
                interim = await reader.readuntil(b"\r\n\r\n")
                if interim.startswith(b"HTTP/1.1 100"):
                    writer.write(body)
                    interim = b""
            else:
                writer.write(request)
                interim = b""
            answer = interim or await reader.readuntil(b"\r\n\r\n")
            lines = answer.decode("latin-1").split("\r\n")
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:])
            }
            if "content-length" not in fields:
                raise ValueError("an answer without Content-Length")
            await reader.readexactly(int(fields["content-length"]))
        except BaseException:
            writer.close()
            raise
        if fields.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((time.monotonic(), reader, writer))
        return int(lines[0].split()[1])

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The connection used last, unless the service may have closed it."""
        while self.idle:
            used, reader, writer = self.idle.pop()
            if not reader.at_eof() and time.monotonic() - used < KEEP_ALIVE_SECONDS:
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        for _, _, writer in self.idle:
            writer.close()
        self.idle.clear()


def multipart(csv: bytes) -> tuple[bytes, str]:
    """An upload's body (mode list_mode, one file) and its Content-Type."""
    boundary = uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="mode"\r\n\r\nlist_mode\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="load.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    body = head.encode() + csv + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Run:
    """Sends the schedule and keeps, per label, latencies (ms; inf if never answered) and the
    outcomes that were not 2xx, and each read's latency with when it was due."""

    def __init__(self, client: Client, options: argparse.Namespace, upload: bytes) -> None:
        self.client = client
        self.upload = upload
        self.options = options
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)
        self.late_ms: list[float] = []
        self.reads: list[tuple[float, float]] = []
        self.in_flight = 0
        self.started = 0.0
        self.flood: tuple[Client, bytes] | None = None
        """With `--flood`: the flooding user's client and upload request."""

    async def drive(self, plan: list[tuple[float, str, str]]) -> None:
        loop = asyncio.get_running_loop()
        tasks = set()
        self.started = loop.time()
        floods = [asyncio.create_task(self.flood_loop()) for _ in range(self.options.flood)]
        for due, label, path in plan:
            delay = self.started + due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.in_flight >= self.options.max_in_flight:
                self.record(label, due, math.inf, "dropped")
                continue
            self.in_flight += 1
            task = asyncio.create_task(self.send(label, path, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks, *floods)

    async def flood_loop(self) -> None:
        """One of the flooding user's uploads, sent again and again until the schedule ends;
        after a 429, again `--flood-retry` seconds later."""
        assert self.flood is not None
        client, request = self.flood
        loop = asyncio.get_running_loop()
        while (sent := loop.time()) < self.started + self.options.duration:
            status, outcome, latency = await timed(
                client.send(request, expect_continue=True), sent, self.options.flood_timeout
            )
            # A refused upload's connection expects a body it never got: never reuse it.
            client.close()
            self.record(FLOOD, sent - self.started, latency, outcome)
            if status == 429:
                await asyncio.sleep(self.options.flood_retry)

    async def send(self, label: str, path: str, due: float) -> None:
        loop = asyncio.get_running_loop()
        scheduled = self.started + due
        self.late_ms.append((loop.time() - scheduled) * 1000)
        request = self.upload if path == UPLOAD else self.client.request("GET", path)
        try:
            _, outcome, latency = await timed(
                self.client.send(request), scheduled, self.options.timeout
            )
        finally:
            self.in_flight -= 1
        self.record(label, due, latency, outcome)

    def record(self, label: str, due: float, latency: float, outcome: str) -> None:
        self.latencies[label].append(latency)
        if label in READS:
            self.reads.append((due, latency))
        if outcome:
            self.errors[label][outcome] += 1


def summary(options: argparse.Namespace, run: Run, others: float) -> str:
    """The reads of one run, as a row of the table comparing worker counts (`others`: the
    cores that other processes of the machine used meanwhile)."""
    latencies = sorted(x for label in READS for x in run.latencies[label])
    errors = sum(sum(run.errors[label].values()) for label in READS)
    answered = sum(1 for x in latencies if x != math.inf)
    return (
        f"| {answered / options.duration:,.1f} "
        + " ".join(f"| {percentile(latencies, q):,.1f}" for q in (0.5, 0.99, 0.999))
        + f" | {errors:,} | {others:.2f} |"
    )


async def timed(sending: Awaitable[int], since: float, seconds: float) -> tuple[int, str, float]:
    """The answer's status (0 if none), what went wrong ("" for a 2xx, else the status or the
    error), and the latency in ms from `since` (inf if not answered within `seconds`)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            status = await sending
    except TimeoutError:
        return 0, "timeout", math.inf
    except (OSError, EOFError, ValueError) as error:
        return 0, type(error).__name__, math.inf
    return status, "" if 200 <= status < 300 else str(status), (loop.time() - since) * 1000


def report(options: argparse.Namespace, run: Run, figures: list[str]) -> None:
    mix = ", ".join(f"{share:.0%} {label}" for label, share in READ_MIX)
    uploads = (
        f"one {options.upload_rows:,}-row CSV upload every {options.upload_every:g} s"
        if options.upload_every
        else "no uploads"
    )
    print(
        f"{options.rate:g} reads/s ({mix}) on a {options.read_rows:,}-row batch, {uploads}, "
        f"for {options.duration:g} s; at most {options.max_in_flight} requests in flight"
    )
    print()
    print(
        "| endpoint | requests | answered/s | p50 ms | p99 ms | p99.9 ms | max ms "
        "| errors (status: count) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    reads = [label for label, _ in READ_MIX]
    rows = [(label, [label]) for label in reads]
    rows.append(("all reads", reads))
    rows += [(label, [label]) for label in run.latencies if label not in READS]
    for name, labels in rows:
        latencies = sorted(x for label in labels for x in run.latencies[label])
        if not latencies:
            continue
        errors: Counter[str] = sum((run.errors[label] for label in labels), Counter())
        answered = sum(1 for x in latencies if x != math.inf)
        shown = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(errors.items()))
        print(
            f"| {name} | {len(latencies):,} | {answered / options.duration:,.1f} "
            + " ".join(f"| {percentile(latencies, q):,.1f}" for q in (0.5, 0.99, 0.999, 1.0))
            + f" | {shown or 'none'} |"
        )
    if options.upload_every:
        every = options.upload_every
        print()
        print("| reads due … after an upload was | reads | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|")
        for quarter in range(4):
            start, end = quarter * every / 4, (quarter + 1) * every / 4
            latencies = sorted(x for due, x in run.reads if start <= due % every < end)
            if latencies:
                print(
                    f"| {start:.2f} to {end:.2f} s | {len(latencies):,} "
                    f"| {percentile(latencies, 0.5):,.1f} | {percentile(latencies, 0.99):,.1f} |"
                )
    if options.flood:

        def fives(labels: list[str]) -> int:
            return sum(
                count
                for label in labels
                for outcome, count in run.errors[label].items()
                if outcome.startswith("5")
            )

        reads_5xx, floods_5xx = fives([label for label, _ in READ_MIX]), fives([FLOOD])
        print()
        print(
            f"{options.flood} uploads at once from one user, answered 201: "
            f"{len(run.latencies[FLOOD]) - sum(run.errors[FLOOD].values())}, 429: "
            f"{run.errors[FLOOD]['429']}; 5xx answers: the other user's reads {reads_5xx}, "
            f"the flooding uploads {floods_5xx}"
        )
    print()
    for line in figures:
        print(line)


async def main(options: argparse.Namespace) -> None:
    rows = []
    for workers in options.workers:
        with tempfile.TemporaryDirectory() as scratch_name:
            scratch = Path(scratch_name)
            if options.url:
                headers = {"Authorization": f"Bearer {options.token}"}
                service = Proc(options.pid) if options.pid else None
                watch = Watch(service, None, workers)
                rows.append(await run(options, scratch, options.url, headers, watch))
                continue
            print(f"## `serve --workers {workers}`\n")
            async with loopback.serving(scratch, workers) as (_, base, process):
                postmaster = (scratch / "postgres" / "postmaster.pid").read_text().split()[0]
                watch = Watch(Proc(process.pid), Proc(int(postmaster)), workers)
                rows.append(await run(options, scratch, base, loopback.bearer("load"), watch))
            print()
    if len(rows) > 1:
        print("all reads, by web processes (`serve --workers N`), one after the other:\n")
        print("| workers | answered/s | p50 ms | p99 ms | p99.9 ms | errors | others, cores |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for workers, row in zip(options.workers, rows, strict=True):
            print(f"| {workers} {row}")


async def run(
    options: argparse.Namespace, scratch: Path, base: str, headers: dict[str, str], watch: Watch
) -> str:
    """Run the schedule, print its report, and return its reads' row of the comparison."""
    read_file, upload_file = scratch / "read.csv", scratch / "upload.csv"
    write_csv(read_file, options.read_rows)
    write_csv(upload_file, options.upload_rows)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client:
        created = await client.post("/projects", json={"name": f"load {uuid4()}"})
        project = created.raise_for_status().json()["id"]
        batch = (await loopback.upload(client, project, read_file)).raise_for_status().json()
        batch_path = f"/projects/{project}/batches/{batch['id']}"
        # The first /fields computes and saves the batch's statistics: not what is measured.
        (await client.get(f"{batch_path}/fields")).raise_for_status()

        plan = schedule(options, batch_path)
        body, content_type = multipart(upload_file.read_bytes())
        fast = Client(base, headers)
        upload = fast.request("POST", f"/projects/{project}/batches", body, content_type)
        load = Run(fast, options, upload)
        if options.flood:
            flood_headers = (
                {"Authorization": f"Bearer {options.flood_token}"}
                if options.url
                else loopback.bearer("flood")
            )
            flooding = Client(base, flood_headers)
            made = await client.post(
                "/projects", json={"name": f"flood {uuid4()}"}, headers=flood_headers
            )
            flood_project = made.raise_for_status().json()["id"]
            load.flood = (
                flooding,
                flooding.request("POST", f"/projects/{flood_project}/batches", body, content_type),
            )
        sampler = asyncio.create_task(watch.sample_workers())
        rss_before = watch.status_kib("VmRSS")
        waited_before = watch.run_queue_seconds()
        cpu_before, started = watch.cpu(), time.perf_counter()
        await load.drive(plan)
        elapsed = time.perf_counter() - started
        cpu = {name: seconds - cpu_before[name] for name, seconds in watch.cpu().items()}
        waited = watch.run_queue_seconds() - waited_before
        sampler.cancel()
        fast.close()

    # Clock ticks are counted apart per process and for the machine: never below 0.
    others = max(0.0, cpu["whole machine"] - sum(v for k, v in cpu.items() if k != "whole machine"))
    figures = [
        f"CPU over the run's {elapsed:.0f} s, in cores busy on average: "
        + ", ".join(f"{name} {seconds / elapsed:.2f}" for name, seconds in cpu.items())
        + f" of {os.cpu_count()} (other processes{'' if watch.postgres else ', PostgreSQL'} "
        f"{others / elapsed:.2f})"
    ]
    if watch.service:
        figures.append(
            f"the service's event loop waited {waited:.1f} s in all for a CPU while it was "
            "ready to run (the run queue: CPU contention)"
        )
        figures.append(
            f"service RSS {rss_before / 1024:.0f} MiB before the run, "
            f"{watch.status_kib('VmRSS') / 1024:.0f} MiB after, "
            f"peak (VmHWM) {watch.status_kib('VmHWM') / 1024:.0f} MiB; "
            f"largest parsing worker peak (VmHWM, sampled) {watch.worker_peak_kib / 1024:.0f} MiB"
        )
    late = sorted(load.late_ms)
    figures.append(
        f"client sent its requests late by p50 {percentile(late, 0.5):.1f} ms, "
        f"p99 {percentile(late, 0.99):.1f} ms, max {late[-1]:.1f} ms"
    )
    report(options, load, figures)
    return summary(options, load, others / elapsed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of schedule")
    parser.add_argument("--rate", type=float, default=200, help="reads per second")
    parser.add_argument("--upload-every", type=float, default=2, help="seconds; 0: no uploads")
    parser.add_argument("--upload-rows", type=int, default=10_000)
    parser.add_argument("--read-rows", type=int, default=10_000, help="rows of the read batch")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10, help="seconds per request")
    parser.add_argument("--flood", type=int, default=0, help="uploads at once by a 2nd user")
    parser.add_argument("--flood-retry", type=float, default=1, help="seconds after a 429")
    parser.add_argument("--flood-timeout", type=float, default=300, help="seconds per upload")
    parser.add_argument("--flood-token", help="with --url and --flood: the 2nd user's token")
    parser.add_argument("--url", help="use this running service instead of starting one")
    parser.add_argument("--token", help="with --url: a bearer token it accepts")
    parser.add_argument("--pid", type=int, help="with --url: the service's process id")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="web processes, or several counts run one after the other (e.g. 1,2)",
    )
    options = parser.parse_args()
    if options.url and not options.token:
        parser.error("--url needs --token")
    if options.url and options.flood and not options.flood_token:
        parser.error("--url with --flood needs --flood-token")
    asyncio.run(main(options))
