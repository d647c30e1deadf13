"""A real PostgreSQL server, started as a plain process on loopback for the CT server's tests.

Debian's ``postgresql`` package provides it (``.ci/run`` installs it). One server per test
session (a throw-away data folder, a free port, fsync off), a fresh database per test. As root
(CI) it runs as the ``postgres`` user, which PostgreSQL requires; otherwise as the current user.
Without PostgreSQL the PostgreSQL half of each test skips, saying why, except under ``CI``, where
a missing server is a failure.
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from orthanc_pacs import free_port

POSTGRES_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
STARTUP_TIMEOUT_S = 60.0


class PostgresProcess:
    """One PostgreSQL server with trust authentication on 127.0.0.1 (nothing else can reach it)."""

    def __init__(self, binary: Path):
        self.folder = Path(tempfile.mkdtemp(prefix="ildscreen-pg-"))
        self.port = free_port()
        self._databases = itertools.count(1)
        as_root = os.geteuid() == 0
        self._prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        if as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = data = self.folder / "data"
        self.binaries = binary.parent
        subprocess.run([*self._prefix, str(binary.parent / "initdb"), "-D", str(data), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        self.log = (self.folder / "postgres.log").open("w")
        self.process = subprocess.Popen(
            [*self._prefix, str(binary), "-D", str(data), "-p", str(self.port), "-k", str(self.folder),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=400"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_ready()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True, connect_timeout=5) as connection:
            connection.execute(statement)

    def _wait_until_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited early:\n{(self.folder / 'postgres.log').read_text()}")
            try:
                self._admin("SELECT 1")
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not answer within {STARTUP_TIMEOUT_S:.0f} s")

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"ildscreen_test_{next(self._databases)}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (disconnect clients, then stop) and remove the data folder."""
        if self.process.poll() is None:
            subprocess.run([*self._prefix, str(self.binaries / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                            "-w", "-t", "30"], check=False, capture_output=True)
            self.process.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_shared: list[PostgresProcess] = []


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server. Each test module that imports this fixture gets its own
    session-scoped copy of it, so the server itself is kept here and shared by all of them; every
    copy's teardown runs at the end of the session, and the first one stops it."""
    if not POSTGRES_BINARIES:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not _shared:
        _shared.append(PostgresProcess(POSTGRES_BINARIES[-1]))
    yield _shared[0]
    if _shared:
        _shared.pop().stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The URL of an empty database of each kind: a SQLite file in the test's folder, or a fresh
    PostgreSQL database on the session's server. Its pooled connections close after the test."""
    from imaging_server.store import dispose_engine, sqlite_url

    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "imaging-data" / "imaging.db")  # the default file of that data folder
    else:
        url = request.getfixturevalue("postgres").create_database()
    yield url
    dispose_engine(url)
