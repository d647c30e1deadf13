"""Backups: consistent while visits are being written, rotated, restorable; restore refuses a
running service and a corrupt file, and keeps the old database."""
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge import audit
from edge.errors import StorageError
from edge.patients import create_patient, create_visit
from edge.store.backup import backup_database, default_backup_path, restore_database, rotate_backups
from support import PATIENT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import ServedProcess  # noqa: E402


def test_a_backup_taken_during_writes_restores_with_every_committed_visit(app, settings, db, tmp_path):
    patient = create_patient(db, audit.CLI_OPERATOR, {k: v for k, v in PATIENT.items()})
    for i in range(50):
        create_visit(db, audit.CLI_OPERATOR, patient["id"], notes=f"before {i}")
    stop = threading.Event()

    def keep_writing():
        writer = app.extensions["ildscreen"].folder.connect()
        i = 0
        while not stop.is_set():
            create_visit(writer, audit.CLI_OPERATOR, patient["id"], notes=f"during {i}")
            i += 1
        writer.close()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        backups = [backup_database(settings.database_path, tmp_path / f"b{n}.db") for n in range(3)]
    finally:
        stop.set()
        thread.join()
    for backup in backups:
        with sqlite3.connect(backup) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            visits = copy.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
            audited = copy.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'visit'").fetchone()[0]
            notes = {row[0] for row in copy.execute("SELECT notes FROM visits")}
        assert visits >= 50 and visits == audited  # each visit with its audit entry: one transaction
        assert {f"before {i}" for i in range(50)} <= notes

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    restore_database(backups[-1], restored_dir / "ildscreen.db")
    with sqlite3.connect(restored_dir / "ildscreen.db") as restored, sqlite3.connect(backups[-1]) as source:
        assert restored.execute("SELECT COUNT(*) FROM visits").fetchone() == source.execute(
            "SELECT COUNT(*) FROM visits").fetchone()


def test_restore_keeps_the_previous_database_and_the_service_starts_on_it(app, settings, db, runner):
    from edge.cli import cli

    create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    backup = backup_database(settings.database_path, settings.data_dir / "one-patient.db")
    create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": "CL01-0002"})
    db.close()
    result = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(settings.database_path) as restored:
        assert restored.execute("SELECT code FROM patients").fetchall() == [("CL01-0001",)]
    with sqlite3.connect(settings.data_dir / "ildscreen.db.before-restore") as previous:
        assert previous.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 2


@pytest.mark.slow
def test_restore_refuses_while_ildscreen_serve_runs_on_the_folder(settings, app, tmp_path):
    backup = backup_database(settings.database_path, tmp_path / "ok.db")
    server = ServedProcess(settings.data_dir)
    try:
        with pytest.raises(StorageError, match=f"is running on this data folder \\(pid {server.process.pid}\\)"):
            restore_database(backup, settings.database_path)
    finally:
        server.stop()
    restore_database(backup, settings.database_path)


def test_a_copied_pid_file_of_a_dead_or_other_process_does_not_block_restore(settings, app, tmp_path):
    """Issue 15: restoring into a copied data folder was refused because of its copied pid file."""
    backup = backup_database(settings.database_path, tmp_path / "ok.db")
    pid_file = settings.data_dir / "ildscreen.pid"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file.write_text(str(other.pid))  # alive, but not ildscreen
        restore_database(backup, settings.database_path)
    finally:
        other.kill()
        other.wait()
    pid_file.write_text(str(other.pid))  # dead now
    restore_database(backup, settings.database_path)
    assert (settings.data_dir / "ildscreen.db.before-restore").exists()


def test_restore_never_creates_a_data_folder(tmp_path, settings, app):
    backup = backup_database(settings.database_path, tmp_path / "ok.db")
    with pytest.raises(StorageError, match="no data folder at"):
        restore_database(backup, tmp_path / "elsewhere" / "ildscreen.db")
    assert not (tmp_path / "elsewhere").exists()


def test_a_backup_leaves_exactly_one_file(settings, app, db, tmp_path):
    """Issue 15: every backup left '.part-wal' and '.part-shm' files beside it."""
    create_patient(db, audit.CLI_OPERATOR, PATIENT)
    target = backup_database(settings.database_path, tmp_path / "backups" / "one.db")
    assert sorted(path.name for path in target.parent.iterdir()) == ["one.db"]
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1


def test_restore_refuses_a_corrupt_or_missing_backup(settings, app, tmp_path, runner):
    from edge.cli import cli

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100 + b"garbage" * 500)
    result = runner.invoke(cli, ["db", "restore", str(corrupt), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1 and "not a usable SQLite database" in result.output
    missing = runner.invoke(cli, ["db", "restore", str(tmp_path / "nope.db"), "--data-dir", str(settings.data_dir)])
    assert missing.exit_code == 1 and "no backup file" in missing.output
    with sqlite3.connect(settings.database_path) as current:
        assert current.execute("PRAGMA integrity_check").fetchone()[0] == "ok"  # untouched


def test_rotation_keeps_the_newest(settings, app):
    folder = settings.data_dir / "backups"
    made = [backup_database(settings.database_path, default_backup_path(settings.data_dir)) for _ in range(5)]
    deleted = rotate_backups(folder, keep=2)
    assert deleted == made[:3] and sorted(folder.glob("*.db")) == made[3:]


def test_the_backup_worker_writes_and_rotates(settings, app):
    from edge.backup_worker import BackupWorker

    worker = BackupWorker(settings.database_path, settings.data_dir, interval_s=3600, keep=1)
    first, second = worker.run_once(), worker.run_once()
    assert not first.exists() and second.exists()
