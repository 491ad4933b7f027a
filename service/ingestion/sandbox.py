"""The sandbox's parent side: the parsing worker processes (`child`), started ready ahead of
an upload (`SpareWorker`), read frame by frame (`Worker`), killed and reaped whatever state
they are in. A worker that dies is reported as an unreadable upload, never as a server error;
one that dies before its first frame gets its answer from the pre-checks, run alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import msgspec

from service import errors, logs
from service.ingestion import protocol

logger = logging.getLogger("sheetflow.ingestion")

STDERR_TAIL_BYTES = 8192
WORKER_NICENESS = 10


class Worker:
    """The parent's handle on one worker process: frames in, errors translated."""

    def __init__(self, process: asyncio.subprocess.Process, request: protocol.Request) -> None:
        self.process = process
        self.request = request
        self.names = [name for _, name in request.sources]
        self.frames_read = 0
        self._stderr = b""
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(cls, request: protocol.Request, spare: SpareWorker | None = None) -> Worker:
        """A worker parsing `request`: the spare one if there is one, else a new one."""
        process = await spare.take() if spare is not None else await _spawn()
        assert process.stdin is not None
        # A worker that dies at once shows as a broken pipe here and as a missing frame next.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(protocol.encode_request(request))
            await process.stdin.drain()
            process.stdin.close()
        return cls(process, request)

    async def _drain_stderr(self) -> None:
        """Keep the tail of what the worker prints (a crash's last words), and pass its log
        lines on to the service's log (`logs.WorkerLines`)."""
        assert self.process.stderr is not None
        relay = logs.WorkerLines()
        while chunk := await self.process.stderr.read(65536):
            self._stderr = (self._stderr + relay.feed(chunk))[-STDERR_TAIL_BYTES:]
        self._stderr = (self._stderr + relay.rest())[-STDERR_TAIL_BYTES:]

    async def frame(self) -> protocol.Frame:
        """The next frame; a worker that dies or breaks the protocol is reported as an
        unreadable upload, never as a server error."""
        assert self.process.stdout is not None
        try:
            header = await self.process.stdout.readexactly(4)
            payload = await self.process.stdout.readexactly(int.from_bytes(header, "big"))
            frame: protocol.Frame = protocol.frame_decoder.decode(payload)
        except (asyncio.IncompleteReadError, msgspec.DecodeError):
            raise await self.unexpected_end() from None
        self.frames_read += 1
        if isinstance(frame, protocol.ErrorFrame):
            raise protocol.error_from_frame(frame)
        return frame

    async def unexpected_end(self) -> errors.SheetflowError:
        """The error to report when the worker stopped without a clean answer.

        A worker that dies before its first frame may have been killed by calamine while the
        pre-checks that would have refused the file were still running (they run side by
        side, see `ingest.Parser`): the pre-checks then run alone, in a new worker, and
        their refusal is the answer, as if they had finished first."""
        code = await self.process.wait()
        await self._stderr_task
        files = ", ".join(self.names)
        logger.warning(
            "parsing worker for %s ended with status %s: %s",
            files,
            code,
            self._stderr.decode(errors="replace").strip()[-2000:] or "(no output)",
        )
        if not self.frames_read and not self.request.checks_only:
            refusal = await _precheck(self.request)
            if refusal is not None:
                return refusal
        if code == -signal.SIGXCPU:
            reason = "took more CPU time than the parser is allowed"
        elif code == -signal.SIGABRT or b"MemoryError" in self._stderr:
            reason = "needs more memory than the parser is allowed"
        else:
            reason = "could not be parsed"
        return errors.CorruptFile(f"{files}: the file {reason}", file=files)

    async def close(self) -> None:
        """Stop the worker, whatever state it is in, and reap it."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        # asyncio's wait() returns only once every pipe has reached EOF, and a stdout that
        # we stopped reading (its buffer full) never gets there: drain what is left.
        assert self.process.stdout is not None
        while await self.process.stdout.read(1 << 16):
            pass
        await self.process.wait()
        await self._stderr_task


async def _precheck(request: protocol.Request) -> errors.SheetflowError | None:
    """What the checks that come before parsing say of the request's files, run alone in a
    worker of their own: their refusal, or None when they pass (or cannot tell)."""
    checker = await Worker.start(msgspec.structs.replace(request, checks_only=True))
    try:
        await checker.frame()
    except errors.SheetflowError as refusal:
        return refusal if checker.frames_read else None
    finally:
        await checker.close()
    return None


async def _spawn() -> asyncio.subprocess.Process:
    """A new worker process; it imports the parsers, then waits for its request on stdin."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.ingestion.child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Out of the service's process group: a Ctrl-C, or a supervisor signalling the
        # group, stops the service gracefully (in-flight uploads finish) but would kill
        # the workers outright. A worker whose service is gone dies on its broken pipe.
        start_new_session=True,
    )
    # Parsing yields to the service's requests (and PostgreSQL) when the CPUs are busy, from
    # its imports on; on an idle machine this changes nothing.
    with contextlib.suppress(ProcessLookupError):
        os.setpriority(os.PRIO_PROCESS, process.pid, WORKER_NICENESS)
    return process


async def _discard(process: asyncio.subprocess.Process) -> None:
    """Stop a worker that was never given a request, and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.communicate()


class SpareWorker:
    """One worker started ahead of the next upload.

    A new worker spends about 0.1 s of CPU starting Python and importing the parsers before it
    can read a byte; a spare has done that while nothing was uploading, so the upload's first
    rows reach PostgreSQL that much sooner (bench/README.md). `serve` keeps one for its
    lifetime: `prepare` after each upload starts the next, `take` hands it out (or a new
    worker if it is not there or died), `close` stops it and any later `prepare`.
    """

    def __init__(self) -> None:
        self._next: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._closed = False

    def prepare(self) -> None:
        # Not once closed: an upload that ends during shutdown must not leave a worker behind.
        if self._next is None and not self._closed:
            self._next = asyncio.create_task(_spawn())

    async def take(self) -> asyncio.subprocess.Process:
        starting, self._next = self._next, None
        if starting is not None:
            try:
                process = await starting
            except OSError:
                logger.warning("starting a spare parsing worker failed", exc_info=True)
            else:
                if process.returncode is None:
                    return process
                await _discard(process)
        return await _spawn()

    async def close(self) -> None:
        self._closed = True
        starting, self._next = self._next, None
        if starting is not None:
            with contextlib.suppress(OSError):
                await _discard(await starting)
