"""Operating a clinic box safely (issue 26): a second ``serve`` on a busy port stops with one line
before it touches anything; the pid file names a live service and only its owner removes it;
``db restore`` refuses while a service holds the database; shutdown closes the boards."""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess

import pytest

from edge.errors import StorageError
from edge.store.backup import (PID_FILE_NAME, backup_database, claim_pid_file, database_in_use, release_pid_file,
                               restore_database)
from served import ServedProcess, ildscreen_command
from support import clean_env

pytestmark = pytest.mark.slow


def serve_on(port: int, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run([*ildscreen_command(), "serve", "--port", str(port), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60, env=clean_env())


def test_serve_on_a_busy_port_prints_one_line_and_creates_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_on(port, tmp_path / "data")
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0
    assert lines == [f"Error: port {port} on 127.0.0.1 is already in use (another ildscreen serve?); "
                     "nothing was started"]
    assert not (tmp_path / "data").exists()  # no folder, no admin, no pid file


def test_the_ct_server_on_a_busy_port_prints_one_line_and_creates_no_database(tmp_path):
    environment = clean_env()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*ildscreen_command(), "imaging-server", "serve", "--no-watch", "--port", str(port),
                                 "--data-dir", str(tmp_path / "ct")], capture_output=True, text=True, timeout=60,
                                env=environment)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use (another ildscreen serve?); nothing was started"]
    assert not (tmp_path / "ct").exists()


def test_a_second_serve_on_the_first_ones_port_leaves_it_running_and_restore_refuses(tmp_path):
    """The issue's walk: the second serve printed a traceback after creating a folder and an admin,
    deleted the running service's pid file, and 'db restore' then replaced the live database."""
    data_dir = tmp_path / "data"
    first = ServedProcess(data_dir)
    try:
        pid_file = data_dir / PID_FILE_NAME
        assert pid_file.read_text().strip() == str(first.process.pid)
        backup = backup_database(data_dir / "ildscreen.db", tmp_path / "backup.db")
        second = serve_on(first.port, tmp_path / "other")
        assert second.returncode != 0 and len((second.stdout + second.stderr).strip().splitlines()) == 1
        assert "already in use" in second.stderr and "one-time password" not in second.stdout
        assert not (tmp_path / "other").exists()
        assert pid_file.read_text().strip() == str(first.process.pid)
        restore = subprocess.run([*ildscreen_command(), "db", "restore", str(backup), "--data-dir", str(data_dir)],
                                 capture_output=True, text=True, timeout=60)
        assert restore.returncode == 1, restore.stdout
        assert f"is running on this data folder (pid {first.process.pid})" in restore.stderr
        assert not (data_dir / "ildscreen.db.before-restore").exists()
    finally:
        first.stop()
    assert first.process.returncode == 0
    assert not (data_dir / PID_FILE_NAME).exists()  # its owner removed it at exit


def test_two_services_on_one_folder_keep_the_first_pid_and_restore_still_sees_the_second(tmp_path):
    data_dir = tmp_path / "data"
    first = ServedProcess(data_dir)
    second = ServedProcess(data_dir)
    try:
        assert (data_dir / PID_FILE_NAME).read_text().strip() == str(first.process.pid)
        first.stop()
        assert not (data_dir / PID_FILE_NAME).exists()
        backup = backup_database(data_dir / "ildscreen.db", tmp_path / "backup.db")
        assert database_in_use(data_dir / "ildscreen.db")
        with pytest.raises(StorageError, match="is open in another process"):
            restore_database(backup, data_dir / "ildscreen.db")
    finally:
        second.stop()
    assert not database_in_use(data_dir / "ildscreen.db")
    restore_database(backup, data_dir / "ildscreen.db")


def test_only_the_owner_removes_the_pid_file(tmp_path):
    pid_file = claim_pid_file(tmp_path)
    assert pid_file is not None and pid_file.read_text().strip() == str(os.getpid())
    pid_file.write_text("1\n")  # replaced by someone else since
    release_pid_file(pid_file)
    assert pid_file.exists()
    pid_file.write_text(f"{os.getpid()}\n")
    release_pid_file(pid_file)
    assert not pid_file.exists()
    assert [path.name for path in tmp_path.iterdir()] == []  # no staging file left


def test_a_database_open_in_this_process_counts_as_in_use(settings, app, tmp_path):
    assert not database_in_use(settings.database_path)
    held = sqlite3.connect(settings.database_path)
    held.execute("PRAGMA journal_mode = WAL")
    try:
        assert database_in_use(settings.database_path)
    finally:
        held.close()
    assert not database_in_use(settings.database_path)
    assert not database_in_use(tmp_path / "absent.db") and not (tmp_path / "absent.db").exists()


def test_serve_closes_its_boards_at_shutdown(tmp_path):
    """Issue 26: serve never closed DeviceManager, leaving captures and serial ports open at exit."""
    from firmware_interface import DeviceKind, SimulatedDevice

    board = SimulatedDevice(DeviceKind.ENOSE, speed=None, device_id="ENOSE-7")
    board.start()
    try:
        server = ServedProcess(tmp_path / "data", env={"ILDSCREEN_DEVICE_SIMULATOR": "true",
                                                       "ILDSCREEN_DEVICE_PORTS": f'["{board.port}"]'})
        server.stop()
    finally:
        board.close()
    assert server.process.returncode == 0
    assert "shut down: closed 1 sensor board(s)" in server.output
