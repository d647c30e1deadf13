"""``ildscreen db sweep-blobs``: stored files that no row references are listed (--dry-run) and
removed, audited without patient data; files that a kept database (``*.before-restore``, a
backup in ``backups/``) references are never removed; an unreadable kept database stops the
sweep before anything is removed. On a real SQLite data folder (issue 26)."""
import io
import json
import logging
import sqlite3

import pytest

from edge import audit
from edge.cli import cli
from edge.patients import create_patient, create_visit
from edge.recordings import add_recording
from edge.store.backup import backup_database, default_backup_path
from support import PATIENT, wav_bytes

MAX_BYTES = 10 * 1024 * 1024


@pytest.fixture
def folder(app):
    return app.extensions["ildscreen"].folder


def _record(db, folder, visit_id, seconds):
    """A recording stored through the service's own path: its file and its row."""
    return add_recording(db, folder.blobs, audit.CLI_OPERATOR, visit_id, chest_site="posterior_left_base",
                         stream=io.BytesIO(wav_bytes(seconds)), max_bytes=MAX_BYTES).recording


def _orphan(folder, content):
    """A file in the store that no row references (an upload whose row was never written)."""
    with folder.blobs.write_pending(io.BytesIO(content), max_bytes=MAX_BYTES) as pending:
        return pending.commit().relative_path


def _sweep(runner, settings, *flags):
    return runner.invoke(cli, ["db", "sweep-blobs", *flags, "--data-dir", str(settings.data_dir)])


def _exists(folder, relative_path):
    return (folder.blobs.root / relative_path).is_file()


def _sweep_entries(settings):
    with sqlite3.connect(settings.database_path) as conn:
        return [json.loads(row[0]) for row in conn.execute(
            "SELECT detail FROM audit_log WHERE action = 'sweep_blobs' AND entity = 'blob_store' ORDER BY id")]


def test_a_restore_leaves_files_the_kept_database_needs_and_only_true_orphans_go(settings, db, folder, runner,
                                                                                    tmp_path, caplog):
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    visit = create_visit(db, audit.CLI_OPERATOR, patient["id"])
    _record(db, folder, visit["id"], 2.0)
    first = db.execute("SELECT file_path FROM recordings").fetchone()[0]
    backup = backup_database(settings.database_path, tmp_path / "before-second-take.db")
    _record(db, folder, visit["id"], 3.0)
    second = db.execute("SELECT file_path FROM recordings ORDER BY id DESC").fetchone()[0]
    db.close()
    restored = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert restored.exit_code == 0, restored.output
    orphan = _orphan(folder, b"an upload whose row was never written")
    stray = folder.blobs.root / "README.txt"  # not a stored file: never listed, never removed
    stray.write_text("notes")
    assert first != second

    dry = _sweep(runner, settings, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would remove {orphan} (37 bytes)" in dry.output
    assert f"kept {second}: referenced by ildscreen.db.before-restore" in dry.output
    assert "would remove 1 unreferenced file(s), 37 bytes; kept 1 that 1 kept database(s) reference" in dry.output
    assert _exists(folder, orphan) and _sweep_entries(settings) == []

    with caplog.at_level(logging.INFO, logger="edge.store.blob_sweep"):
        swept = _sweep(runner, settings)
    assert swept.exit_code == 0, swept.output
    assert f"removed {orphan} (37 bytes)" in swept.output
    assert not _exists(folder, orphan)
    assert _exists(folder, first) and _exists(folder, second) and stray.is_file()
    (entry,) = _sweep_entries(settings)
    assert entry == {"removed": 1, "bytes": 37, "sha256": [orphan.split("/")[1]], "kept_for_kept_databases": 1}
    assert "blob sweep: 1 unreferenced stored file(s) removed (37 bytes), 1 kept for 1 kept database(s)" in caplog.text
    assert PATIENT["code"] not in caplog.text + json.dumps(entry)

    # Once the kept database is gone (the restore was right), its take is an orphan too.
    (settings.data_dir / "ildscreen.db.before-restore").unlink()
    assert f"removed {second}" in _sweep(runner, settings).output
    assert not _exists(folder, second) and _exists(folder, first)
    assert "removed 0 unreferenced file(s)" in _sweep(runner, settings).output


def test_a_file_only_a_rotated_backup_references_is_kept(settings, db, folder, runner):
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    visit = create_visit(db, audit.CLI_OPERATOR, patient["id"])
    _record(db, folder, visit["id"], 2.0)
    only_in_backup = db.execute("SELECT file_path FROM recordings").fetchone()[0]
    backup = backup_database(settings.database_path, default_backup_path(settings.data_dir))
    with db.conn:
        db.execute("DELETE FROM recordings")  # e.g. a row removed by hand after the backup
    db.close()
    swept = _sweep(runner, settings)
    assert swept.exit_code == 0, swept.output
    assert f"kept {only_in_backup}: referenced by backups/{backup.name}" in swept.output
    assert _exists(folder, only_in_backup)


def test_an_unreadable_kept_database_stops_the_sweep_before_anything_is_removed(settings, db, folder, runner):
    db.close()
    orphan = _orphan(folder, b"orphan")
    (settings.data_dir / "ildscreen.db.before-restore").write_bytes(b"not a database" * 100)
    swept = _sweep(runner, settings)
    assert swept.exit_code != 0
    assert "cannot read ildscreen.db.before-restore to learn which stored files it needs" in swept.output
    assert "nothing was removed" in swept.output and "Traceback" not in swept.output
    assert _exists(folder, orphan) and _sweep_entries(settings) == []


def test_the_sweep_needs_an_existing_data_folder_and_creates_none(tmp_path, runner):
    missing = tmp_path / "no-such-folder"
    swept = runner.invoke(cli, ["db", "sweep-blobs", "--data-dir", str(missing)])
    assert swept.exit_code != 0 and "no database at" in swept.output
    assert not missing.exists()


def test_a_file_committed_with_its_row_under_the_write_lock_is_never_swept(settings, db, folder, monkeypatch):
    """Beside a running service: an upload commits its file, then its row, under the write lock.
    The sweep takes the same lock before it lists anything, so it waits and then sees the row."""
    import threading

    from edge.store.blob_sweep import sweep_unreferenced_files

    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    visit = create_visit(db, audit.CLI_OPERATOR, patient["id"])
    in_transaction = threading.Event()
    real_record = audit.record

    def slow_record(conn, actor, action, entity, *args, **kwargs):
        if (action, entity) == ("create", "recording"):  # file committed, row inserted, not yet visible
            in_transaction.set()
            threading.Event().wait(0.5)
        return real_record(conn, actor, action, entity, *args, **kwargs)

    monkeypatch.setattr(audit, "record", slow_record)
    uploader = folder.connect()
    thread = threading.Thread(target=_record, args=(uploader, folder, visit["id"], 2.0))
    thread.start()
    try:
        assert in_transaction.wait(10)
        report = sweep_unreferenced_files(db, folder.blobs, settings.data_dir, dry_run=False)
    finally:
        thread.join()
        uploader.close()
    stored = db.execute("SELECT file_path FROM recordings").fetchone()[0]
    assert report.removable == [] and _exists(folder, stored)
