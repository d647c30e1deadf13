"""The CT server's store on SQLite and PostgreSQL: migrations (old files, concurrent prepares, a
failed step leaving nothing), database URLs (malformed, unreachable, never showing the password)
and readiness."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from imaging_server import store
from imaging_server.app import create_app
from imaging_server.config import load_settings
from imaging_server.errors import ConfigError, DatabaseUnavailable, StorageError
from imaging_server.referrals import create_referral
from orthanc_pacs import PASSWORD, USER, free_port, orthanc  # noqa: F401 - fixture
from referral_bundle import REFERRAL_CODE, referral_bundle
from support import clean_env

VERSIONS = [version for version, _, _ in store.MIGRATIONS]
LATEST = VERSIONS[-1]
# The schema exactly as the SQLite-only store (before issue 19) wrote it, versions 1-3.
OLD_SQLITE_SCHEMA = (
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    "CREATE TABLE clinics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE, "
    "created_at TEXT NOT NULL)",
    "CREATE TABLE referrals (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, clinic_id INTEGER NOT NULL "
    "REFERENCES clinics(id), bundle_sha256 TEXT NOT NULL, bundle TEXT NOT NULL, priority TEXT NOT NULL, status TEXT "
    "NOT NULL CHECK (status IN ('awaiting_images', 'quantifying', 'reported', 'failed')), error TEXT, "
    "series_instances INTEGER, series_seen_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX referrals_status ON referrals (status)",
    "CREATE TABLE reports (referral_id INTEGER PRIMARY KEY REFERENCES referrals(id), metrics TEXT NOT NULL, "
    "diagnostic_report TEXT NOT NULL, algorithm TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE readers (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE, "
    "created_at TEXT NOT NULL)",
    "CREATE TABLE nodule_reviews (id INTEGER PRIMARY KEY, referral_id INTEGER NOT NULL REFERENCES referrals(id), "
    "reader_id INTEGER NOT NULL REFERENCES readers(id), action TEXT NOT NULL CHECK (action IN ('add', 'edit', "
    "'confirm', 'reject')), nodule_number INTEGER, detail TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE ild_reads (id INTEGER PRIMARY KEY, referral_id INTEGER NOT NULL REFERENCES referrals(id), "
    "reader_id INTEGER NOT NULL REFERENCES readers(id), ild TEXT NOT NULL CHECK (ild IN ('present', 'absent', "
    "'indeterminate')), pattern TEXT, extent_percent REAL CHECK (extent_percent IS NULL OR extent_percent BETWEEN 0 "
    "AND 100), comment TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL)",
    "CREATE INDEX ild_reads_referral ON ild_reads (referral_id, id)",
)


def test_a_sqlite_file_of_the_old_store_opens_unchanged_and_keeps_serving(tmp_path):
    """A hospital upgrading keeps its file: only the migrations after version 3 run (adding tables),
    its clinic's token still works and new referrals are stored next to the old ones."""
    path = tmp_path / "imaging.db"
    old = sqlite3.connect(path)
    for statement in OLD_SQLITE_SCHEMA:
        old.execute(statement)
    old.executemany("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [(1, "clinics, referrals, reports", "2026-11-01T00:00:00.000+00:00"),
                     (2, "readers and nodule reviews", "2026-11-01T00:00:00.000+00:00"),
                     (3, "radiologists' ILD reads", "2026-11-01T00:00:00.000+00:00")])
    old.execute("INSERT INTO clinics (name, token_hash, created_at) VALUES (?, ?, ?)",
                ("clinic-north", store.hash_token("ildct_old-token"), "2026-11-01T00:00:00.000+00:00"))
    old.commit()
    schema_before = old.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    old.close()

    db = store.open_database(path)
    assert store.apply_migrations(db) == [version for version in VERSIONS if version > 3]
    clinic = store.clinic_for_token(db, "Bearer ildct_old-token")
    body, created = create_referral(db, clinic, referral_bundle(), REFERRAL_CODE)
    assert created and body["referral_code"] == REFERRAL_CODE
    store.dispose_engine(store.sqlite_url(path))
    with sqlite3.connect(path) as reopened:
        assert set(schema_before) <= set(reopened.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall())
        assert reopened.execute("SELECT code, clinic_id FROM referrals").fetchall() == [(REFERRAL_CODE, 1)]


def test_a_new_sqlite_database_has_the_same_schema_as_the_old_store(tmp_path):
    """The SQLite DDL is what it was: an old file and a new one cannot drift apart."""
    old = sqlite3.connect(tmp_path / "old.db")
    for statement in OLD_SQLITE_SCHEMA:
        old.execute(statement)
    for version, _, statements in store.MIGRATIONS:  # the later migrations, as an old file gets them
        for statement in statements if version > 3 else ():
            if isinstance(statement, str):  # a data step changes rows, not the schema
                old.execute(statement)
    store.prepare_database(tmp_path / "new.db")
    store.dispose_engine(store.sqlite_url(tmp_path / "new.db"))
    new = sqlite3.connect(tmp_path / "new.db")

    def normalised(connection):
        return sorted(" ".join(sql.split()).replace("( ", "(").replace(" )", ")")
                      for (sql,) in connection.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))

    assert normalised(new) == normalised(old)


def _ildscreen_env() -> dict:
    return clean_env(PYTHONPATH=os.pathsep.join(sys.path))


def test_concurrent_prepares_from_several_processes_apply_each_migration_once(database_url, tmp_path):  # noqa: F811
    """Three ``imaging-server db migrate`` processes started together on one empty database."""
    command = [sys.executable, "-m", "edge", "imaging-server", "db", "migrate", "--data-dir", str(tmp_path / "d"),
               "--database-url", database_url]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=_ildscreen_env()) for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], [err for _, err in outputs]
    applied = [json.loads(out)["applied"] for out, _ in outputs]
    assert sorted(version for versions in applied for version in versions) == VERSIONS
    db = store.open_database(database_url)
    assert [row["version"] for row in db.rows("SELECT version FROM schema_migrations ORDER BY version")] == VERSIONS


def test_a_failing_migration_leaves_nothing_of_itself(database_url, monkeypatch):  # noqa: F811
    broken = (LATEST + 1, "a broken step", ("CREATE TABLE half_done (id INTEGER PRIMARY KEY)", "CREATE TABLE oops (x NOPE("))
    monkeypatch.setattr(store, "MIGRATIONS", (*store.MIGRATIONS, broken))
    db = store.open_database(database_url)
    with pytest.raises(StorageError, match=rf"migration {LATEST + 1} \(a broken step\) failed: .*refused a statement"):
        store.apply_migrations(db)
    assert "half_done" not in db.table_names() and "ild_reads" in db.table_names()
    assert store.current_version(db) == LATEST


def test_a_database_newer_than_the_software_stops_the_start(database_url, monkeypatch):  # noqa: F811
    db = store.prepare_database(database_url)
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:2])
    with pytest.raises(StorageError, match=f"schema version {LATEST} is newer than this software"):
        store.apply_migrations(db)


def test_real_numbers_keep_their_precision_on_both_databases(database_url):  # noqa: F811
    """REAL is 4-byte on PostgreSQL: the migrations ask for DOUBLE PRECISION there instead."""
    db = store.prepare_database(database_url)
    clinic = store.clinic_for_token(db, f"Bearer {store.add_clinic(db, 'clinic-north')}")
    create_referral(db, clinic, referral_bundle(), REFERRAL_CODE)
    with db.write():
        reader = db.insert("readers", {"name": "dr-li", "token_hash": "x", "created_at": store.utc_now()})
        db.insert("ild_reads", {"referral_id": 1, "reader_id": reader, "ild": "present", "pattern": None,
                                "extent_percent": 12.3, "comment": "", "created_at": store.utc_now()})
    assert db.scalar("SELECT extent_percent FROM ild_reads") == 12.3


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "malformed"),
    ("mysql://u:p@127.0.0.1/x", "'mysql' is not supported"),
    ("sqlite://", "needs a file path"),
    ("postgresql://u:p@127.0.0.1:5432", "needs a database name"),
])
def test_a_bad_database_url_is_a_config_error_naming_the_problem(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(data_dir=tmp_path, database_url=url)


def test_an_unreachable_database_is_one_line_that_never_shows_the_password(runner, tmp_path):
    from edge.cli import cli

    url = f"postgresql://ildscreen:s3cret-pw@127.0.0.1:{free_port()}/ildscreen"
    result = runner.invoke(cli, ["imaging-server", "clinics", "add", "clinic-north", "--data-dir", str(tmp_path),
                                 "--database-url", url])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unavailable" in result.output and "ildscreen:***@127.0.0.1" in result.output
    assert "s3cret-pw" not in result.output and len(result.output.strip().splitlines()) == 1
    settings = load_settings(data_dir=tmp_path, database_url=url)
    assert "s3cret-pw" not in repr(settings)
    with pytest.raises(DatabaseUnavailable):
        create_app(settings)


def test_readyz_says_ready_then_not_ready_when_the_database_goes(imaging_settings, request):  # noqa: F811
    client = create_app(imaging_settings).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ready", "schema_version": LATEST,
                                                       "pacs": {"ok": True, "watched": False}}
    target = imaging_settings.database_target
    store.dispose_engine(target)
    if target.startswith("sqlite"):
        imaging_settings.database_path.unlink()
        expected = "schema version 0"
    else:
        request.getfixturevalue("postgres")._admin(f"DROP DATABASE {target.rsplit('/', 1)[1]} WITH (FORCE)")
        expected = "unavailable"
    gone = client.get("/readyz")
    assert gone.status_code == 503 and gone.json["status"] == "not_ready" and expected in gone.json["reason"]
    assert client.get("/healthz").status_code == 200


def test_db_migrate_creates_the_schema_once_and_says_so(runner, database_url, tmp_path):  # noqa: F811
    from edge.cli import cli

    command = ["imaging-server", "db", "migrate", "--data-dir", str(tmp_path / "d"), "--database-url", database_url]
    first = runner.invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["applied"] == VERSIONS and json.loads(first.output)["schema_version"] == LATEST
    again = runner.invoke(cli, command)
    assert json.loads(again.output)["applied"] == [] and json.loads(again.output)["schema_version"] == LATEST


def test_serve_on_an_unreachable_database_stops_at_once_with_one_line(tmp_path):
    """Nothing is served (and nothing written) on a database that cannot be reached; the log keeps the
    password out."""
    url = f"postgresql://ildscreen:s3cret-pw@127.0.0.1:{free_port()}/ildscreen"
    result = subprocess.run([sys.executable, "-m", "edge", "imaging-server", "serve", "--no-watch", "--port",
                             str(free_port()), "--data-dir", str(tmp_path / "d"), "--database-url", url],
                            capture_output=True, text=True, timeout=60, env=_ildscreen_env())
    assert result.returncode == 1 and "unavailable" in result.stderr and "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr and not (tmp_path / "d").exists()


def test_a_migration_below_the_newest_applied_one_is_refused_not_skipped(database_url, monkeypatch):  # noqa: F811
    """Issue 26: a version at or below the database's newest was skipped silently."""
    db = store.prepare_database(database_url)
    late = (LATEST - 1, "merged late", ("CREATE TABLE merged_late (id INTEGER PRIMARY KEY)",))
    with db.write():
        db.execute("DELETE FROM schema_migrations WHERE version = :v", {"v": LATEST - 1})
    monkeypatch.setattr(store, "MIGRATIONS", (*store.MIGRATIONS[:-2], late, store.MIGRATIONS[-1]))
    with pytest.raises(StorageError, match=rf"migration {LATEST - 1} \(merged late\) is not applied but the database "
                                           rf"is already at version {LATEST}"):
        store.apply_migrations(db)
    assert "merged_late" not in db.table_names()


def test_readyz_of_a_server_watching_the_pacs_needs_the_pacs(tmp_path, no_env_settings, orthanc):  # noqa: F811
    """Issue 26: the hospital's /readyz said ready with the PACS unreachable."""
    from pydantic import SecretStr

    watched = load_settings(data_dir=tmp_path / "h", orthanc_url=orthanc.url, orthanc_username=USER,
                            orthanc_password=PASSWORD)
    ready = create_app(watched, pacs_watched=True).test_client().get("/readyz")
    assert ready.status_code == 200 and ready.json["pacs"] == {"ok": True, "url": watched.dicomweb_url}
    refused = watched.model_copy(update={"orthanc_password": SecretStr("not the password")})
    login_refused = create_app(refused, pacs_watched=True).test_client().get("/readyz")
    assert login_refused.status_code == 503 and login_refused.json["reason"] == (
        "PACS answered HTTP 401 to a study search")
    closed = watched.model_copy(update={"orthanc_url": f"http://127.0.0.1:{free_port()}"})
    unreachable = create_app(closed, pacs_watched=True).test_client().get("/readyz")
    assert unreachable.status_code == 503 and unreachable.json["status"] == "not_ready"
    assert unreachable.json["reason"].startswith("PACS unreachable") and PASSWORD not in unreachable.get_data(True)
    assert create_app(closed).test_client().get("/readyz").status_code == 200  # --no-watch: the API alone
