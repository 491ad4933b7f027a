"""The ingestion pipeline end to end: sandboxed worker, streamed COPY, one transaction.

Parsing rules are tested in tests/ingest/ without a database; here each test goes through
`service.ingestion.ingest` against a real PostgreSQL, as the HTTP upload and the CLI do."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import psutil
import pytest
import xlsxwriter

from service import errors, ingestion
from service.entities import BatchMode, RowStatus, StatusCounts
from service.ingest import Source, parts
from service.ingest.plans import CHUNK_ROWS
from service.ingestion import copying, pipeline, protocol, sandbox
from service.settings import Settings
from service.store import batches, rows
from tests import terminator
from tests.factories import make_project, make_user
from tests.ingest.uploads import read, rezip

SHEET1 = "xl/worksheets/sheet1.xml"


def csv_file(tmp_path, rows_count, name="pessoas.csv"):
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as handle:
        handle.write("Nome,Idade,E-mail\n")
        for i in range(rows_count):
            handle.write(f"Pessoa {i},{20 + i % 50},p{i}@exemplo.com\n")
    return Source(path=path, name=name)


async def owner_and_project(pool):
    owner = await make_user(pool)
    return owner, await make_project(pool, owner=owner)


async def stored(pool):
    return (
        await pool.fetchval("SELECT count(*) FROM ingestion_batches"),
        await pool.fetchval("SELECT count(*) FROM ingestion_rows"),
    )


def workers():
    """This process's parsing workers (those of a service another test started are not)."""
    return [
        child
        for child in psutil.Process().children()
        if "service.ingestion.child" in " ".join(child.cmdline())
    ]


async def run(
    pool,
    project,
    sources,
    *,
    settings=None,
    on_rows=None,
    on_created=None,
    mode=BatchMode.LIST_MODE,
    sheet=None,
    spare=None,
):
    return await ingestion.ingest(
        pool,
        project_id=project.id,
        user_id=project.user_id,
        sources=sources,
        mode=mode,
        sheet=sheet,
        settings=settings or Settings(),
        on_rows=on_rows,
        on_created=on_created,
        spare=spare,
    )


async def test_rows_arrive_in_order_with_counts_and_progress(pool, tmp_path):
    _, project = await owner_and_project(pool)
    seen = []
    batch = await run(
        pool, project, [csv_file(tmp_path, 5_000)], on_rows=lambda d, t: seen.append((d, t))
    )

    assert (batch.row_count, batch.status_counts) == (
        5_000,
        StatusCounts(valid=5_000, warning=0, error=0),
    )
    assert await batches.find_by_id(pool, batch.id) == batch
    assert seen[-1] == (5_000, 5_000)
    assert [c.inferred_type for c in batch.column_metadata] == ["string", "integer", "email"]
    page = await rows.find_by_batch_id(pool, batch.id, limit=2, offset=4_998)
    assert [(r.position, r.source_row_index, r.data["nome"]) for r in page] == [
        (4_998, 5_000, "Pessoa 4998"),
        (4_999, 5_001, "Pessoa 4999"),
    ]
    assert workers() == []


@pytest.mark.parametrize("mode", [BatchMode.LIST_MODE, BatchMode.PROFILE_MODE])
async def test_rows_are_sent_with_their_keys_in_the_order_jsonb_stores_them(pool, tmp_path, mode):
    """So PostgreSQL has no keys to sort (`keys.jsonb_order`): the data a reading yields, the
    JSON the worker sends and the stored jsonb all hold the keys in the same order."""
    _, project = await owner_and_project(pool)
    path = tmp_path / "order.csv"
    path.write_text("Nome Completo,Id,E-mail,ab,Zé,b\nAna,1,a@x.io,2,3,4\n", encoding="utf-8")
    source = Source(path=path, name="order.csv")
    (parsed,) = read([source], mode)
    batch = await run(pool, project, [source], mode=mode)
    stored = await pool.fetchval(
        "SELECT array(SELECT jsonb_object_keys(data)) FROM ingestion_rows WHERE batch_id = $1",
        batch.id,
    )
    assert list(parsed.data) == stored
    assert sorted(stored) == sorted(column.normalized_key for column in batch.column_metadata)
    if mode is BatchMode.LIST_MODE:
        assert stored == ["b", "ab", "id", "ze", "e_mail", "nome_completo"]


async def test_the_rows_go_in_by_several_copies_in_one_transaction(pool, tmp_path, monkeypatch):
    """One COPY per `COPY_ROWS` rows or so (at a frame boundary): each statement of a
    transaction has its own command id (`cmin`), so the stored rows show how many there were."""
    monkeypatch.setattr(copying, "COPY_ROWS", 1_000)
    _, project = await owner_and_project(pool)
    progress = []
    batch = await run(
        pool, project, [csv_file(tmp_path, 5_500)], on_rows=lambda done, _: progress.append(done)
    )
    stored_rows = await pool.fetchrow(
        "SELECT count(*), min(position), max(position), count(DISTINCT cmin::text) AS copies"
        " FROM ingestion_rows WHERE batch_id = $1",
        batch.id,
    )
    assert tuple(stored_rows) == (5_500, 0, 5_499, math.ceil(5_500 / CHUNK_ROWS))
    assert progress == sorted(progress)
    assert progress[-1] == 5_500
    assert batch.row_count == 5_500


async def test_a_limit_met_after_several_copies_stores_nothing(pool, tmp_path, monkeypatch):
    """The worker's refusal arrives through the read-ahead while the COPYs are under way."""
    monkeypatch.setattr(copying, "COPY_ROWS", 1_000)
    _, project = await owner_and_project(pool)
    progress = []
    with pytest.raises(errors.LimitExceeded) as refused:
        await run(
            pool,
            project,
            [csv_file(tmp_path, 9_000)],
            settings=Settings(max_rows=8_000),
            on_rows=lambda done, _: progress.append(done),
        )
    assert (refused.value.limit, refused.value.file) == ("max_rows", "pessoas.csv")
    assert progress[-1] >= 3 * CHUNK_ROWS  # three COPYs had been sent
    assert await stored(pool) == (0, 0)
    assert workers() == []


async def test_a_refused_file_stores_nothing_and_the_next_upload_works(pool, tmp_path):
    _, project = await owner_and_project(pool)
    bogus = tmp_path / "bogus.xlsx"
    bogus.write_bytes(b"%PDF-1.7\n" + bytes(100))
    with pytest.raises(errors.UnsupportedFormat) as refused:
        await run(pool, project, [Source(path=bogus, name="bogus.xlsx")])
    assert refused.value.file == "bogus.xlsx"
    assert await stored(pool) == (0, 0)
    assert (await run(pool, project, [csv_file(tmp_path, 3)])).row_count == 3


async def test_a_worker_that_runs_out_of_memory_is_a_clean_422(pool, tmp_path):
    """calamine holds a whole sheet in memory; under a small address-space limit it fails
    (as it would on a hostile file under the default one), killing only the worker."""
    _, project = await owner_and_project(pool)
    path = tmp_path / "wide.xlsx"
    with xlsxwriter.Workbook(str(path), {"constant_memory": True}) as book:
        sheet = book.add_worksheet()
        for r in range(60_000):
            sheet.write_row(r, 0, [f"text {r} {c}" for c in range(20)])
    starved = Settings(worker_memory_bytes=160 * 1024 * 1024)
    with pytest.raises(errors.CorruptFile, match=r"wide\.xlsx"):
        await run(pool, project, [Source(path=path, name="wide.xlsx")], settings=starved)
    assert await stored(pool) == (0, 0)
    assert (await run(pool, project, [csv_file(tmp_path, 3)])).row_count == 3


async def test_a_worker_that_calamine_kills_before_the_pre_checks_end_gets_their_answer(
    pool, tmp_path, caplog
):
    """In the worker, calamine loads a workbook while the pre-checks (`guards`) inspect it.
    Here it aborts the worker at once on the far cell of sheet "Far", while the pre-checks are
    still reading the big sheet stored before it: the parent then runs the pre-checks alone,
    and the answer is their refusal, exactly as when they finish first."""
    _, project = await owner_and_project(pool)
    path = tmp_path / "far.xlsx"
    with xlsxwriter.Workbook(str(path)) as book:
        book.add_worksheet("Big").write("A1", 0)
        far = book.add_worksheet("Far")
        far.write("A1", "header")
        far.write("ALL1048576", "far down, within max_columns")
    # 200,000 rows of numbers, written straight as XML: ~0.2 s of pre-checks before "Far".
    row = '<row r="{0}">' + "".join(f'<c r="{c}{{0}}"><v>{{0}}</v></c>' for c in "ABCDEFGH")
    rows = "</row>".join(map(row.format, range(1, 200_001)))
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    sheet = f'<worksheet xmlns="{main}"><sheetData>{rows}</row></sheetData></worksheet>'
    source = rezip(Source(path=path, name="far.xlsx"), "far.xlsx", {SHEET1: sheet.encode()})
    with pytest.raises(errors.LimitExceeded) as refused:
        await run(pool, project, [source], sheet="Far")
    assert "parsing worker for far.xlsx ended with status" in caplog.text
    assert (refused.value.file, refused.value.sheet) == ("far.xlsx", "Far")
    assert refused.value.limit == "worker_memory_bytes"
    assert "1,048,576 rows x 1,000 columns" in refused.value.detail
    assert await stored(pool) == (0, 0)
    assert workers() == []
    assert (await run(pool, project, [csv_file(tmp_path, 3)])).row_count == 3


async def test_a_worker_killed_mid_parse_leaves_nothing(pool, tmp_path):
    _, project = await owner_and_project(pool)

    def kill_worker(done, total):
        if done >= 20_000:
            for worker in workers():
                os.kill(worker.pid, signal.SIGKILL)

    with pytest.raises(errors.CorruptFile, match="could not be parsed"):
        await run(pool, project, [csv_file(tmp_path, 100_000)], on_rows=kill_worker)
    assert await stored(pool) == (0, 0)


BIG_ROWS = 48_000


@pytest.fixture(scope="module")
def big_xlsx(tmp_path_factory):
    """An xlsx whose sheet has more XML than `parts.MIN_BYTES`: the worker cuts it into parts
    (on a machine with more than one CPU)."""
    path = tmp_path_factory.mktemp("big") / "grande.xlsx"
    with xlsxwriter.Workbook(str(path), {"constant_memory": True}) as book:
        sheet = book.add_worksheet("Clientes")
        sheet.write_row(0, 0, ["Número", "Nome", "Cidade", "Observação"])
        for i in range(BIG_ROWS):
            note = f"observação longa {i} " * 4
            city = "Florianópolis - Santa Catarina"
            sheet.write_row(i + 1, 0, [i, f"Cliente número {i} da Silva Santos", city, note])
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(SHEET1).file_size
    assert size > parts.MIN_BYTES
    return Source(path=path, name="grande.xlsx")


def spy_on_scratch(monkeypatch):
    """The worker scratch directories of the uploads that follow (not the whole of /tmp,
    where other runs on the machine make their own)."""
    scratches = []
    request = pipeline.worker_request

    def spy(*args):
        made = request(*args)
        scratches.append(Path(made.scratch))
        return made

    monkeypatch.setattr(pipeline, "worker_request", spy)
    return scratches


async def test_a_sheet_cut_into_parts_by_the_worker_is_stored_whole_and_in_order(
    pool, big_xlsx, monkeypatch
):
    _, project = await owner_and_project(pool)
    scratches = spy_on_scratch(monkeypatch)

    batch = await run(pool, project, [big_xlsx])

    assert batch.row_count == BIG_ROWS
    assert [column.normalized_key for column in batch.column_metadata] == [
        "numero",
        "nome",
        "cidade",
        "observacao",
    ]
    in_place = await pool.fetchval(
        "SELECT count(*) FROM ingestion_rows WHERE batch_id = $1"
        " AND source_row_index = position + 2 AND (data->>'numero')::int = position"
        " AND data->>'nome' = 'Cliente número ' || position || ' da Silva Santos'",
        batch.id,
    )
    assert in_place == BIG_ROWS
    assert scratches
    assert not any(scratch.exists() for scratch in scratches)


async def test_a_worker_killed_while_it_cuts_a_sheet_leaves_no_files(pool, big_xlsx, monkeypatch):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("sheets are cut into parts only with more than one CPU")
    _, project = await owner_and_project(pool)
    scratches = spy_on_scratch(monkeypatch)

    def kill_once_parts_are_written():
        # The parts live only while the worker cuts and loads them: watch for the first.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if scratches and list(scratches[0].glob("sheetflow-parts-*/part*.xlsx")):
                for worker in workers():
                    os.kill(worker.pid, signal.SIGKILL)
                return True
        return False

    killer = asyncio.create_task(asyncio.to_thread(kill_once_parts_are_written))
    with pytest.raises(errors.CorruptFile, match="could not be parsed"):
        await run(pool, project, [big_xlsx])
    assert await killer
    assert await stored(pool) == (0, 0)
    assert not scratches[0].exists()


async def test_a_database_failure_mid_copy_leaves_nothing(pool, tmp_path):
    _, project = await owner_and_project(pool)
    await pool.execute(
        """
        CREATE FUNCTION fail_late() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.position = 150000 THEN RAISE EXCEPTION 'injected failure'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_late BEFORE INSERT ON ingestion_rows
            FOR EACH ROW EXECUTE FUNCTION fail_late();
        """
    )
    with pytest.raises(Exception, match="injected failure"):
        await run(pool, project, [csv_file(tmp_path, 200_000)])
    assert await stored(pool) == (0, 0)
    assert workers() == []


async def test_cancellation_rolls_back_and_stops_the_worker(pool, tmp_path):
    _, project = await owner_and_project(pool)
    started = asyncio.Event()
    task = asyncio.create_task(
        run(pool, project, [csv_file(tmp_path, 200_000)], on_rows=lambda d, t: started.set())
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await stored(pool) == (0, 0)
    assert workers() == []


async def test_an_ingestion_past_its_deadline_is_refused_and_leaves_nothing(pool, tmp_path):
    _, project = await owner_and_project(pool)
    with pytest.raises(errors.LimitExceeded) as refused:
        await run(
            pool,
            project,
            [csv_file(tmp_path, 200_000)],
            settings=Settings(ingest_timeout_seconds=0.5),
        )
    assert (refused.value.limit, refused.value.file) == ("ingest_timeout_seconds", "pessoas.csv")
    assert await stored(pool) == (0, 0)
    assert workers() == []


async def copying_upload(pool, tmp_path, rows_count):
    """An upload under way (statement timeout 1 s), once its COPY has started, and the pid
    of the backend running that COPY."""
    _, project = await owner_and_project(pool)
    copying = asyncio.Event()
    task = asyncio.create_task(
        run(
            pool,
            project,
            [csv_file(tmp_path, rows_count)],
            settings=Settings(statement_timeout_seconds=1),
            on_rows=lambda done, total: copying.set(),
        )
    )
    await copying.wait()
    backend = await pool.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY%ingestion_rows%'"
    )
    return task, backend


async def test_a_database_that_stops_answering_mid_copy_is_cut_off(pool, tmp_path):
    """A frozen server (SIGSTOP: it neither answers nor closes the socket) would keep COPY
    waiting for ever; the watchdog closes the connection after the statement timeout."""
    task, backend = await copying_upload(pool, tmp_path, 300_000)
    os.kill(backend, signal.SIGSTOP)
    try:
        with pytest.raises(errors.Unavailable, match="stopped answering"):
            await task
    finally:
        os.kill(backend, signal.SIGCONT)
    assert await stored(pool) == (0, 0)
    assert workers() == []


async def test_a_backend_killed_mid_copy_ends_the_upload_and_leaves_nothing(pool, tmp_path):
    """The lost connection is a 503 (`Unavailable`), never a hang: asyncpg may also wait for
    ever on a COPY whose backend was killed, and then the watchdog ends it."""
    task, backend = await copying_upload(pool, tmp_path, 100_000)
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", backend)
    with pytest.raises(errors.Unavailable, match="nothing was stored"):
        await task
    assert await stored(pool) == (0, 0)
    assert workers() == []


@pytest.mark.parametrize(
    ("point", "committed"),
    [
        (terminator.BEFORE_COMMIT, False),
        (terminator.WITH_COMMIT, True),
        (terminator.AFTER_COMMIT, True),
        (terminator.RELEASING, True),
    ],
)
async def test_a_backend_killed_as_the_upload_commits_is_unavailable_or_the_batch(
    pool, tmp_path, database_url, point, committed
):
    """Killed between two statements, the backend sends its FATAL while asyncpg expects
    nothing; read before the closed socket, it makes asyncpg fail the next statement with an
    `InternalClientError` (the COMMIT, or the reset query of a connection going back to the
    pool), or fail to give back a connection that it has already taken back itself. Before
    the COMMIT has answered that is a lost connection, and nothing is stored; after, the batch
    is stored and is what the upload returns."""
    _, project = await owner_and_project(pool)
    source = csv_file(tmp_path, 2_000)
    async with terminator.Terminator(database_url) as killer:
        if committed:
            batch = await run(pool, project, [source], on_created=killer.at(point))
            assert batch.row_count == 2_000
            assert await stored(pool) == (1, 2_000)
        else:
            with pytest.raises(errors.Unavailable, match="nothing was stored"):
                await run(pool, project, [source], on_created=killer.at(point))
            assert await stored(pool) == (0, 0)
    assert workers() == []
    assert (await run(pool, project, [csv_file(tmp_path, 3, "next.csv")])).row_count == 3


async def test_validation_results_are_stored_with_the_rows(pool, tmp_path):
    _, project = await owner_and_project(pool)
    path = tmp_path / "idades.csv"
    lines = ["nome,idade"] + [f"P{i},{i}" for i in range(40)] + ["Zé,quarenta", "Ana,"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batch = await run(pool, project, [Source(path=path, name="idades.csv")])

    assert batch.status_counts == StatusCounts(valid=40, warning=2, error=0)
    flagged = await rows.find_by_batch_id(pool, batch.id, status=RowStatus.WARNING)
    assert [(r.data, [m.type for m in r.validation_messages]) for r in flagged] == [
        ({"nome": "Zé", "idade": "quarenta"}, ["type_mismatch"]),
        ({"nome": "Ana", "idade": None}, ["empty"]),
    ]


async def test_thousands_of_late_messages_are_stored_and_counted(pool, tmp_path):
    """Rows flagged by whole-column checks after they were copied: more of them than one
    frame carries, all updated in the upload's transaction."""
    _, project = await owner_and_project(pool)
    path = tmp_path / "codes.csv"
    lines = ["code"] + [("x" if i % 20 == 0 else str(i)) for i in range(1, 45_001)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batch = await run(pool, project, [Source(path=path, name="codes.csv")])

    assert [c.inferred_type for c in batch.column_metadata] == ["integer"]
    assert batch.status_counts == StatusCounts(valid=42_750, warning=2_250, error=0)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ingestion_rows WHERE status = 'warning' "
            "AND data->>'code' = 'x' AND validation_messages->0->>'type' = 'type_mismatch'"
        )
        == 2_250
    )


async def ingest_command(database_url, path, project_id):
    """`sheetflow ingest` as an operator runs it, against the test's database."""
    command = [sys.executable, "-m", "service.cli", "ingest", str(path)]
    command += ["--project", str(project_id), "--mode", "list_mode"]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        check=False,
    )


async def test_the_ingest_command_prints_the_batch_summary(pool, tmp_path, database_url):
    _, project = await owner_and_project(pool)
    source = csv_file(tmp_path, 25)
    result = await ingest_command(database_url, source.path, project.id)
    assert result.returncode == 0, result.stderr
    assert "rows     25 (valid 25, warning 0, error 0)" in result.stdout
    assert "e_mail" in result.stdout
    assert "email" in result.stdout
    missing = await ingest_command(database_url, source.path, uuid.UUID(int=0))
    assert missing.returncode == 1
    assert "no live project" in missing.stderr


async def test_a_large_load_refreshes_the_planner_statistics_after_answering(pool, tmp_path):
    _, project = await owner_and_project(pool)
    await run(pool, project, [csv_file(tmp_path, pipeline.ANALYZE_AFTER_ROWS)])
    await asyncio.gather(*pipeline._background)
    analyzed = await pool.fetchval(
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'ingestion_rows'"
    )
    assert analyzed is not None


async def spare_ready(spare):
    """The spare's process, once started (the spare is started in the background)."""
    assert spare._next is not None
    return await spare._next


async def test_a_spare_worker_is_started_after_each_upload_and_used_by_the_next(pool, tmp_path):
    _, project = await owner_and_project(pool)
    spare = ingestion.SpareWorker()
    try:
        first = await run(pool, project, [csv_file(tmp_path, 10)], spare=spare)
        waiting = await spare_ready(spare)
        assert waiting.returncode is None
        # Started at low CPU priority, before it has even read its request.
        assert os.getpriority(os.PRIO_PROCESS, waiting.pid) == sandbox.WORKER_NICENESS

        parsing = set()
        second = await run(
            pool,
            project,
            [csv_file(tmp_path, 20)],
            on_rows=lambda done, expected: parsing.update(child.pid for child in workers()),
            spare=spare,
        )
        assert (first.row_count, second.row_count) == (10, 20)
        assert parsing == {waiting.pid}  # the spare parsed it, no other worker was started
        assert waiting.returncode is not None  # and it was reaped
        replacement = await spare_ready(spare)
        assert replacement.pid != waiting.pid
    finally:
        await spare.close()
    assert replacement.returncode is not None
    assert workers() == []


async def test_a_spare_worker_that_died_is_replaced(pool, tmp_path):
    _, project = await owner_and_project(pool)
    spare = ingestion.SpareWorker()
    spare.prepare()
    try:
        dead = await spare_ready(spare)
        dead.kill()
        await dead.wait()
        batch = await run(pool, project, [csv_file(tmp_path, 3)], spare=spare)
        assert batch.row_count == 3
    finally:
        await spare.close()
    spare.prepare()  # an upload ending during shutdown starts no new one
    assert spare._next is None
    assert workers() == []


def test_a_worker_whose_service_goes_away_before_its_request_exits_quietly():
    finished = subprocess.run(
        [sys.executable, "-m", "service.ingestion.child"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")


def test_the_worker_is_handed_no_secret(tmp_path):
    settings = Settings(jwt_secret="s" * 40, database_url="postgresql://u:hunter2@db/x")
    request = pipeline.worker_request([], BatchMode.LIST_MODE, None, settings, str(tmp_path))
    assert request.settings.jwt_secret is None
    assert request.settings.database_url is None
    assert b"hunter2" not in protocol.encode_request(request)
