"""The SQLite store and the file store: migrations, atomic writes, crash leftovers."""
import io
import os

import pytest

from edge.errors import PayloadTooLarge, StorageError
from edge.store.blobs import STALE_TEMP_AGE_S, BlobStore
from edge.store.database import open_database, read_transaction, write_transaction
from edge.store.migrations import LATEST_VERSION, MIGRATIONS, apply_migrations, current_version


def test_migrates_an_empty_file_to_the_latest_schema(tmp_path):
    db = open_database(tmp_path / "a.db")
    assert apply_migrations(db) == [m.version for m in MIGRATIONS]
    assert current_version(db) == LATEST_VERSION
    assert {"users", "patients", "visits", "recordings", "breath_readings", "lab_results", "risk_assessments",
            "referrals", "imaging_results", "audit_log"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert apply_migrations(db) == []


def test_migrates_the_previous_schema_keeping_its_data(tmp_path):
    db = open_database(tmp_path / "a.db")
    apply_migrations(db, migrations=MIGRATIONS[:-1])
    assert current_version(db) == MIGRATIONS[-2].version  # versions need not be contiguous
    db.execute("INSERT INTO users (username, role, password_hash, created_at) VALUES ('n', 'nurse', 'h', 't')")
    db.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'create', 'user')")
    assert apply_migrations(db) == [LATEST_VERSION]
    assert db.execute("SELECT username FROM users").fetchall() == [("n",)]
    assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 1


def test_a_visit_from_before_the_checklist_migration_reads_with_nothing_skipped(tmp_path):
    from edge.patients import get_visit
    from edge.store.migrations import VISIT_CHECKLIST

    db = open_database(tmp_path / "a.db")
    apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version < VISIT_CHECKLIST.version))
    db.execute("INSERT INTO patients (code, birth_year, sex, ctd_diagnosis, created_at, updated_at) "
               "VALUES ('CL-1', 1950, 'F', 'SSc', 't', 't')")
    db.execute("INSERT INTO visits (patient_id, started_at, updated_at) VALUES (1, 't', 't')")
    apply_migrations(db)
    visit = get_visit(db, 1)
    assert visit["skipped_steps"] == [] and visit["lung_function"] == {}


def test_refuses_a_database_newer_than_the_software(tmp_path):
    db = open_database(tmp_path / "a.db")
    apply_migrations(db)
    db.execute("INSERT INTO schema_migrations VALUES (99, 'future', 't')")
    with pytest.raises(StorageError, match="schema version 99 is newer"):
        apply_migrations(db)


def test_failed_migration_is_rolled_back_and_named(tmp_path):
    from edge.store.migrations import Migration

    db = open_database(tmp_path / "a.db")
    broken = Migration(1, "broken", ("CREATE TABLE t (x)", "CREATE TABLE t (x)"))
    with pytest.raises(StorageError, match="migration 1 \\(broken\\) failed"):
        apply_migrations(db, migrations=(broken,))
    assert "t" not in db.table_names() and current_version(db) == 0


def test_write_transaction_rolls_back_on_error(tmp_path):
    db = open_database(tmp_path / "a.db")
    apply_migrations(db)
    with pytest.raises(RuntimeError):
        with write_transaction(db):
            db.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'x', 'y')")
            raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0


def entries(db) -> int:
    return db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def test_a_read_transaction_sees_one_state_while_another_connection_writes(tmp_path):
    """Every read in the block sees the file as at its first read (WAL snapshot); a writer on
    another connection is not held up, and what it committed is read once the block ends. An
    error in the block ends it too; inside a write transaction the block reads in that one."""
    reader, writer = open_database(tmp_path / "a.db"), open_database(tmp_path / "a.db")
    apply_migrations(reader)
    with read_transaction(reader):
        assert entries(reader) == 0
        with write_transaction(writer):
            writer.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'x', 'y')")
        assert entries(writer) == 1 and entries(reader) == 0
    assert entries(reader) == 1 and not reader.conn.in_transaction
    with pytest.raises(RuntimeError), read_transaction(reader):
        raise RuntimeError("boom")
    assert not reader.conn.in_transaction
    with write_transaction(reader):
        reader.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'x', 'y')")
        with read_transaction(reader):
            assert entries(reader) == 2  # its own write, not yet committed
        assert reader.conn.in_transaction
    assert entries(writer) == 2


def store_bytes(store: BlobStore, data: bytes):
    with store.write_pending(io.BytesIO(data), max_bytes=len(data)) as pending:
        return pending.commit()


def test_blob_is_content_addressed_and_deduplicated(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    store.initialise()
    first = store_bytes(store, b"lung sounds")
    second = store_bytes(store, b"lung sounds")
    assert first == second
    assert first.relative_path == f"{first.sha256[:2]}/{first.sha256}"
    with store.open(first.relative_path) as handle:
        assert handle.read() == b"lung sounds"
    assert list(store.temp_dir.iterdir()) == []


def test_a_command_beside_the_service_clears_crash_leftovers_but_not_an_upload_in_progress(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    store.initialise()
    leftover, receiving = store.temp_dir / "a.part", store.temp_dir / "b.part"
    leftover.write_bytes(b"half a recording")
    receiving.write_bytes(b"a recording arriving now")
    old = receiving.stat().st_mtime - STALE_TEMP_AGE_S - 1
    os.utime(leftover, (old, old))
    assert store.initialise(older_than_s=STALE_TEMP_AGE_S) == 1
    assert not leftover.exists() and receiving.read_bytes() == b"a recording arriving now"


class FailingStream(io.RawIOBase):
    """A client that disconnects after sending some bytes."""

    def __init__(self):
        self.calls = 0

    def read(self, size=-1):
        self.calls += 1
        if self.calls > 2:
            raise ConnectionResetError("client went away")
        return b"x" * 1000


def test_interrupted_write_leaves_no_file(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(ConnectionResetError):
        store.write_pending(FailingStream(), max_bytes=10_000)
    assert list(store.temp_dir.iterdir()) == []


def test_oversize_stream_is_refused_and_removed(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(PayloadTooLarge, match="larger than the 10 byte limit"):
        store.write_pending(io.BytesIO(b"y" * 11), max_bytes=10)
    assert list(store.temp_dir.iterdir()) == []


def test_initialise_removes_temp_files_left_by_a_crash(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    store.temp_dir.mkdir(parents=True)
    (store.temp_dir / "abc.part").write_bytes(b"half")
    assert store.initialise() == 1
    assert list(store.temp_dir.iterdir()) == []


def test_open_refuses_paths_outside_the_store(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    store.initialise()
    from edge.errors import NotFound

    with pytest.raises(NotFound, match="outside the store"):
        store.open("../../etc/passwd")


def test_unopenable_database_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="cannot open database"):
        open_database(tmp_path / "missing-folder" / "a.db")


def test_connections_to_one_file_share_one_writer_lock(tmp_path):
    from edge.store import database

    first, second, other = (open_database(tmp_path / "a.db"), open_database(tmp_path / "a.db"),
                            open_database(tmp_path / "b.db"))
    assert database._WRITER_LOCK_OF[first] is database._WRITER_LOCK_OF[second]
    assert database._WRITER_LOCK_OF[first] is not database._WRITER_LOCK_OF[other]


def test_a_writer_waits_on_the_process_lock_and_every_write_commits(tmp_path):
    """Threads of one process queue on the writer lock (not SQLite's sleeping busy handler)."""
    import threading

    from edge.store import database

    db = open_database(tmp_path / "a.db")
    apply_migrations(db)
    holder_inside, release = threading.Event(), threading.Event()
    waiting_on_lock = []

    def holder():
        with write_transaction(open_database(tmp_path / "a.db")) as conn:
            conn.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'hold', 'x')")
            holder_inside.set()
            release.wait(10)

    def writer(index):
        conn = open_database(tmp_path / "a.db")
        for n in range(20):
            with write_transaction(conn):
                conn.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'w', ?)", [f"{index}-{n}"])

    held = threading.Thread(target=holder)
    held.start()
    assert holder_inside.wait(10)
    lock = database._WRITER_LOCK_OF[db]
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in writers:
        thread.start()
    # While the first transaction is open the lock is taken, so no writer got to BEGIN.
    waiting_on_lock.append(lock.acquire(blocking=False))
    release.set()
    for thread in [held, *writers]:
        thread.join(30)
    assert waiting_on_lock == [False]
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'w'").fetchone()[0] == 6 * 20
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'hold'").fetchone()[0] == 1


def test_a_migration_below_the_newest_applied_one_is_refused_not_skipped(tmp_path):
    """Issue 26: a migration inserted below the database's version was skipped silently, leaving a
    schema unlike every other clinic's."""
    from edge.store.migrations import Migration

    db = open_database(tmp_path / "x.db")
    apply_migrations(db)
    late = Migration(LATEST_VERSION - 1, "merged late", ("CREATE TABLE merged_late (id INTEGER PRIMARY KEY)",))
    inserted = tuple(sorted([*(m for m in MIGRATIONS if m.version != LATEST_VERSION - 1), late],
                            key=lambda m: m.version))
    db.execute("DELETE FROM schema_migrations WHERE version = ?", [LATEST_VERSION - 1])
    with pytest.raises(StorageError, match=rf"migration {LATEST_VERSION - 1} \(merged late\) is not applied but the "
                                           rf"database is already at version {LATEST_VERSION}"):
        apply_migrations(db, migrations=inserted)
    assert "merged_late" not in db.table_names()
    fresh = open_database(tmp_path / "fresh.db")
    with pytest.raises(StorageError, match="out of order: version 1 is declared after version 2"):
        apply_migrations(fresh, migrations=(MIGRATIONS[1], MIGRATIONS[0]))
    assert current_version(fresh) == 0
