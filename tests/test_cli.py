"""The `sheetflow` command as a newcomer runs it: embedded PostgreSQL, migrate, serve."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def sheetflow(*args: str, data_dir: Path, **kwargs) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PORT"}}
    env["SHEETFLOW_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def server_running(data_dir: Path) -> bool:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory of its own in the temporary directory. Not pytest's `tmp_path`: run
    as root, its base (0700) is closed to the embedded server's system user, and the service
    refuses such a data directory rather than open what is above it."""
    path = Path(tempfile.mkdtemp(prefix="sheetflow-cli-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_migrate_twice_reuses_the_embedded_data_directory(data_dir):
    first = sheetflow("migrate", data_dir=data_dir)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert "Applying: 20261124200100_create_users.sql" in out
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert not server_running(data_dir), "the embedded server must stop when migrate exits"

    second = sheetflow("migrate", data_dir=data_dir)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    assert "Applying" not in out, "a second run must find the first run's database"
    assert not server_running(data_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_and_ready_then_stops_cleanly(data_dir):
    port = free_port()
    process = sheetflow("serve", "--port", str(port), data_dir=data_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"serve did not come up:\n{process.communicate()[0]}")
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 200, ready.text
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert not server_running(data_dir), "the embedded server must stop with serve"
