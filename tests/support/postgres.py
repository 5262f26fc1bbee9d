"""A throwaway PostgreSQL cluster for the tests (pytest plugin, loaded by conftest).

The session fixture ``postgres_server`` runs Debian's ``initdb``/``pg_ctl``
on a temporary directory, listening on a free loopback port with ``trust``
authentication (nothing but this machine's tests can reach it), and removes
the cluster at the end. The server refuses to run as root, so as root the
binaries run as the ``postgres`` system user.

Each test that needs a database gets a fresh one from :func:`database_for`,
named after a directory: a child process given the same directory (the
storage contract's multi-process tests) finds the same database. The admin
DSN travels in ``MEDIACRAFT_TEST_POSTGRES``, so spawned children see it.

Without PostgreSQL installed the tests that need it skip, except under
``CI=true``, where they fail (CI installs the package).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV = "MEDIACRAFT_TEST_POSTGRES"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"


def _bindir() -> Path | None:
    """The newest installed server's binaries (Debian keeps them off PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is needed under CI: {reason}")
    pytest.skip(reason)


class Cluster:
    """A throwaway cluster in a temporary directory (also used by the benchmarks)."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root: Path | None = None
        self.server: PostgresServer | None = None

    def start(self) -> PostgresServer:
        """Start it; raises RuntimeError with the reason when it cannot."""
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        root = self.root = Path(tempfile.mkdtemp(prefix="mediacraft-pg-"))
        datadir = root / "data"
        datadir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(datadir, "postgres")
        port = _free_port()
        try:
            subprocess.run(
                _as_server_user([str(self.bindir / "initdb"), "-D", str(datadir), "-U",
                                 "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                                 "--no-sync"]),
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=300 -c shared_buffers=64MB"
            )
            subprocess.run(
                _as_server_user([str(self.bindir / "pg_ctl"), "-D", str(datadir), "-o", options,
                                 "-l", str(root / "server.log"), "-w", "-t", "60", "start"]),
                check=True, capture_output=True, timeout=90,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            log = root / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            stderr = getattr(exc, "stderr", b"") or b""
            self.stop()
            raise RuntimeError(f"could not start PostgreSQL: {exc} "
                               f"{stderr.decode(errors='replace')} {detail}") from None
        self.server = PostgresServer("127.0.0.1", port)
        return self.server

    def stop(self) -> None:
        if self.root is None:
            return
        if self.server is not None and self.bindir is not None:
            subprocess.run(
                _as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                                 "-m", "immediate", "-w", "stop"]),
                capture_output=True, timeout=60,
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = self.server = None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    existing = os.environ.get(ENV)
    if existing:  # a parent test session (or the user) runs one already
        from urllib.parse import urlsplit

        parts = urlsplit(existing)
        yield PostgresServer(parts.hostname or "127.0.0.1", parts.port or 5432,
                             parts.username or "postgres")  # fmt: skip
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed")
    cluster = Cluster()
    try:
        server = cluster.start()
    except RuntimeError as exc:
        _unavailable(str(exc))
    os.environ[ENV] = server.dsn()
    try:
        yield server
    finally:
        os.environ.pop(ENV, None)
        cluster.stop()


def admin_dsn() -> str:
    dsn = os.environ.get(ENV)
    if not dsn:
        raise RuntimeError(f"{ENV} is not set: the postgres_server fixture is not running")
    return dsn


def database_for(directory: Path) -> str:
    """The DSN of a database that belongs to ``directory``, created on first use."""
    import psycopg

    name = "t_" + hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:20]
    admin = admin_dsn()
    base = admin.rsplit("/", 1)[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            for attempt in range(20):
                try:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
                    break
                except psycopg.errors.DuplicateDatabase:
                    break  # another process of the same test made it first
                except psycopg.errors.ObjectInUse:  # template busy: another CREATE DATABASE
                    time.sleep(0.05 * (attempt + 1))
    return f"{base}/{name}"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, tmp_path: Path) -> str:
    """A fresh, empty database for one test."""
    return database_for(tmp_path)
