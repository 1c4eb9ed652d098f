"""A throwaway PostgreSQL cluster in a temp dir, for the tests and `make bench`.

initdb + pg_ctl from the machine's PostgreSQL server package, listening on 127.0.0.1 on a free
port (its unix socket in the same temp dir), stopped and removed afterwards. initdb refuses to run
as root: as root (CI) the cluster belongs to the `postgres` system user and both programs run as
it through runuser. Each pytest(-xdist) worker starts its own cluster in its own dir and port.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

__all__ = ["Cluster", "ClusterUnavailable", "server_bindir"]

SUPERUSER = "gdwi"
DATABASE = "gdwi"


class ClusterUnavailable(Exception):
    """Why no cluster can be started here (no server binaries, no user to run them as)."""


def server_bindir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's bindir, else the newest /usr/lib/postgresql/N/bin,
    else the PATH."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(found.stdout.strip()))
        except (OSError, subprocess.CalledProcessError):
            pass
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
                      reverse=True)
    candidates += [Path(path) for path in versions]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One running cluster. `url()` names a database (and optionally a schema) in it."""

    def __init__(self, *, durable: bool = False) -> None:
        bindir = server_bindir()
        if bindir is None:
            raise ClusterUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                                     "install the Debian package postgresql")
        self.bindir = bindir
        self.as_user: list[str] = []
        owner = None
        if os.geteuid() == 0:  # initdb refuses root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable("running as root and there is no `postgres` user to run "
                                         "initdb as") from None
            runuser = shutil.which("runuser")
            self.as_user = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-c"]
        # As root the cluster's user must reach its dir: /tmp, not a TMPDIR that may be root-only.
        shared_tmp = "/tmp" if owner is not None and Path("/tmp").is_dir() else None
        self.dir = Path(tempfile.mkdtemp(prefix="gdwi-pg-", dir=shared_tmp))
        if owner is not None:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self._schemas = itertools.count(1)
        self._start(durable)

    def _run(self, *command: str) -> None:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.as_user[-1:] == ["-c"]:  # su takes one shell string
            argv = [*self.as_user, " ".join(map(_quoted, argv))]
        else:
            argv = [*self.as_user, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (self.dir / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise ClusterUnavailable(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()} {tail}")

    def _start(self, durable: bool) -> None:
        data = self.dir / "data"
        try:
            self._run("initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync")
            for attempt in range(3):  # a free port may be taken before the server binds it
                self.port = _free_port()
                try:
                    self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                              "-o", self._options(durable), "start")
                    break
                except ClusterUnavailable:
                    if attempt == 2:
                        raise
            self.admin(f"CREATE DATABASE {DATABASE}", database="postgres")
        except BaseException:
            self.stop()
            raise

    def _options(self, durable: bool) -> str:
        # Tests need no crash safety; the benchmark (durable) measures the real fsync.
        speed = "" if durable else " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        return (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=60"
                f" -c shared_buffers=16MB{speed}")

    def url(self, *, schema: str | None = None, password: str | None = None, database: str = DATABASE) -> str:
        """A postgresql:// URL; `schema` puts it first on the search path (each test its own)."""
        secret = f":{quote(password, safe='')}" if password else ""
        options = f"?options=-csearch_path%3D{schema}" if schema else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}{options}"

    def admin(self, sql: str, *, database: str = DATABASE) -> None:
        import psycopg

        with psycopg.connect(self.url(database=database), autocommit=True) as conn:
            conn.execute(sql.encode())

    def new_schema(self) -> str:
        """A fresh, empty schema (much cheaper than a database per test); returns its URL."""
        name = f"t{next(self._schemas)}"
        self.admin(f"CREATE SCHEMA {name}")
        return self.url(schema=name)

    def stop(self) -> None:
        try:
            if (self.dir / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
