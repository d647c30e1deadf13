"""Retention of the programme sign-in audit (names, outcomes and client addresses: personal data),
on SQLite and PostgreSQL: attempts older than ``sign_in_audit_retention_days`` are
deleted (newer ones, and one exactly at the limit, stay), ended sessions with them; the server's
start deletes everything due, each sign-in attempt a batch, the sign-in route with the configured
period; no other table is touched; the PACS watcher sweeps hourly and ``forget-sign-ins`` on demand
(for cron). The clock is injected (``sign_in(now=...)``); only the watcher's tests wait, on its thread.
The setting's refusals are in test_imaging_config.py."""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from types import SimpleNamespace

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from edge.cli import cli
from imaging_server import browser_sign_in, ingest
from imaging_server.app import create_app
from imaging_server.errors import AuthenticationError, ValidationError
from imaging_server.nodule_review import add_reader
from imaging_server.programme import add_viewer
from imaging_server.programme_session import forget_old_sign_ins, set_password, sign_in
from imaging_server.store import add_clinic, open_database, prepare_database, utc_now
from support import wait_for

PASSWORD = "a long programme password"
T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
SETTING = "sign_in_audit_retention_days"


def day(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def audit_times(db) -> list[str]:
    return [row["at"] for row in db.rows("SELECT at FROM programme_sign_in_audit ORDER BY at")]


def add_audit_rows(db, *times: dt.datetime) -> None:
    with db.write():
        for when in times:
            db.insert("programme_sign_in_audit",
                      {"at": utc_now(when), "name": "region", "outcome": "wrong_password", "client": "10.0.0.9"})


@pytest.fixture
def viewer_db(database_url):  # noqa: F811
    db = prepare_database(database_url)
    add_viewer(db, "region")
    set_password(db, "region", PASSWORD)
    yield db
    db.close()


def test_attempts_older_than_the_retention_go_and_newer_ones_stay(viewer_db):
    """With 30 days kept, the attempt at day 40 deletes day 0's and the one a millisecond before
    day 10 (its limit), keeps day 10's (exactly at the limit) and day 20's, and ends nothing open."""
    db = viewer_db
    sign_in(db, "region", PASSWORD, audit_retention_days=30, client="10.0.0.9", now=day(0))
    add_audit_rows(db, day(10) - dt.timedelta(milliseconds=1))
    with pytest.raises(AuthenticationError):
        sign_in(db, "region", "not the password", audit_retention_days=30, now=day(10))
    sign_in(db, "region", PASSWORD, audit_retention_days=30, now=day(20))
    assert len(audit_times(db)) == 4
    sign_in(db, "region", PASSWORD, audit_retention_days=30, now=day(40))
    assert audit_times(db) == [utc_now(day(10)), utc_now(day(20)), utc_now(day(40))]
    # The sessions of day 0 and day 20 ended (12 hours each); only day 40's is left.
    assert [row["created_at"] for row in db.rows("SELECT created_at FROM programme_sessions")] == [utc_now(day(40))]


def test_a_longer_retention_keeps_what_a_shorter_one_deletes(viewer_db):
    """The period is the caller's (the setting), not a constant: 60 days keep day 0 at day 40."""
    db = viewer_db
    add_audit_rows(db, day(0))
    sign_in(db, "region", PASSWORD, audit_retention_days=60, now=day(40))
    assert audit_times(db) == [utc_now(day(0)), utc_now(day(40))]
    assert forget_old_sign_ins(db, retention_days=39, now=day(40)) == {"audit_entries": 1, "sessions": 0}
    assert audit_times(db) == [utc_now(day(40))]


def test_each_attempt_sweeps_a_batch_oldest_first_and_the_start_sweeps_the_rest(imaging_settings, monkeypatch):  # noqa: F811
    """A backlog (a server that was off, or a past flood of attempts) shrinks by at most one batch
    per sign-in attempt, oldest first, so a request's extra work stays bounded; the server's start
    deletes all that is due."""
    db = prepare_database(imaging_settings.database_target)
    add_viewer(db, "region")
    set_password(db, "region", PASSWORD)
    now = dt.datetime.now(dt.timezone.utc)
    kept_days = imaging_settings.sign_in_audit_retention_days
    old = [now - dt.timedelta(days=kept_days + 10 - n) for n in range(5)]
    add_audit_rows(db, *old, now - dt.timedelta(days=1))
    monkeypatch.setattr(browser_sign_in, "AUDIT_SWEEP_BATCH", 2)
    with pytest.raises(AuthenticationError):
        sign_in(db, "region", "not the password", audit_retention_days=kept_days, now=now)
    assert audit_times(db)[:4] == [utc_now(when) for when in old[2:]] + [utc_now(now - dt.timedelta(days=1))]
    create_app(imaging_settings)
    assert audit_times(db) == [utc_now(now - dt.timedelta(days=1)), utc_now(now)]
    db.close()


def test_the_sign_in_page_sweeps_with_the_configured_period(imaging_settings):  # noqa: F811
    """The route passes the setting: with 7 days kept, an attempt 8 days old goes at the next sign-in
    (the default, a year, would keep it)."""
    app = create_app(imaging_settings.model_copy(update={SETTING: 7}))
    db = open_database(imaging_settings.database_target)
    add_viewer(db, "region")
    now = dt.datetime.now(dt.timezone.utc)
    add_audit_rows(db, now - dt.timedelta(days=8), now - dt.timedelta(days=6))
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/programme").get_data(as_text=True)).group(1)
    answer = client.post("/programme/sign-in", data={"name": "region", "password": "not the password",
                                                     "csrf_token": token})
    assert answer.status_code == 401
    times = audit_times(db)
    assert times[0] == utc_now(now - dt.timedelta(days=6)) and len(times) == 2
    assert db.row("SELECT * FROM programme_sign_in_audit ORDER BY at DESC")["outcome"] == "wrong_password"
    db.close()


def test_the_sweep_touches_no_other_table(viewer_db):
    """Every other table holds a row dated long before the retention, and keeps it unchanged."""
    db = viewer_db
    long_ago = utc_now(day(-1000))
    clinic_token = add_clinic(db, "clinic-north")
    add_reader(db, "dr-chen")
    with db.write():
        clinic_id = db.scalar("SELECT id FROM clinics")
        reader_id = db.scalar("SELECT id FROM readers")
        referral_id = db.insert("referrals", {
            "code": "ILD-ABCDEFGHIJ", "clinic_id": clinic_id, "bundle_sha256": "0" * 64, "bundle": "{}",
            "priority": "routine", "status": "reported", "created_at": long_ago, "updated_at": long_ago})
        db.execute("INSERT INTO reports (referral_id, metrics, diagnostic_report, algorithm, created_at) "
                   "VALUES (:id, '{}', '{}', 'test', :at)", {"id": referral_id, "at": long_ago})
        db.insert("nodule_reviews", {"referral_id": referral_id, "reader_id": reader_id, "action": "confirm",
                                     "nodule_number": 1, "detail": "{}", "created_at": long_ago})
        db.insert("ild_reads", {"referral_id": referral_id, "reader_id": reader_id, "ild": "present",
                                "created_at": long_ago})
        db.insert("programme_figures", {"clinic_id": clinic_id, "period": "2023-01", "sequence": 1,
                                        "payload_sha256": "0" * 64, "payload": "{}", "received_at": long_ago})
        db.execute("INSERT INTO referral_revocations (referral_id, revoked_at) VALUES (:id, :at)",
                   {"id": referral_id, "at": long_ago})
        # The worklist's note kinds (store version 9): part of the referral, kept as long as it is.
        db.execute("INSERT INTO referral_note_kinds (referral_id, kinds) VALUES (:id, '[\"advice\"]')",
                   {"id": referral_id})
        db.execute("INSERT INTO programme_sign_in_failures (name, failures, locked_until, last_failure) "
                   "VALUES ('someone', 1, NULL, :at)", {"at": long_ago})
    # The reader door's tables: the programme's sweep leaves them to the reader door's.
    reader_door = browser_sign_in.DOORS["reader"]
    reader_door.set_password(db, "dr-chen", PASSWORD)
    reader_door.sign_in(db, "dr-chen", PASSWORD, now=day(-1000))
    with pytest.raises(AuthenticationError):
        reader_door.sign_in(db, "someone", PASSWORD, now=day(-1000))
    sign_in(db, "region", PASSWORD, now=day(-1000))  # an audit row and a session, both long over
    tables = sorted(db.table_names())
    before = {table: db.rows(f"SELECT * FROM {table}") for table in tables}
    empty = [table for table, rows in before.items() if not rows]
    assert not empty, f"give {empty} a row here, and decide its retention"
    assert clinic_token and before["programme_sessions"]
    assert forget_old_sign_ins(db, retention_days=1, now=day(0)) == {"audit_entries": 1, "sessions": 1}
    swept = {"programme_sign_in_audit", "programme_sessions"}
    after = {table: db.rows(f"SELECT * FROM {table}") for table in tables}
    assert {table: rows for table, rows in after.items() if table not in swept} == \
        {table: rows for table, rows in before.items() if table not in swept}
    assert not after["programme_sign_in_audit"] and not after["programme_sessions"]


def test_a_period_below_one_day_is_refused_by_the_sweep_itself(viewer_db):
    add_audit_rows(viewer_db, day(0))
    with pytest.raises(ValidationError, match=f"{SETTING} must be at least 1, got 0"):
        forget_old_sign_ins(viewer_db, retention_days=0, now=day(0))
    assert audit_times(viewer_db) == [utc_now(day(0))]


class SteppedWatch(threading.Event):
    """The PACS watcher's stop event and clock in one, so that the test runs its loop a poll at a time:
    the watcher's pause after each poll (``wait``) counts it, holds until the test lets the next poll go
    (:meth:`next_poll`) or stops the watcher, and moves the clock on by ``step_s``. The test reads the
    database between two polls whatever the machine's load, and nothing waits with a timeout (a timed
    wait on a lock never returns under faketime: the watcher stopped after its first poll)."""

    def __init__(self, step_s: float):
        super().__init__()
        self.step_s = step_s
        self.clock_s = 0.0
        self.paused = 0
        self._go = threading.Semaphore(0)

    def monotonic(self) -> float:
        return self.clock_s

    def wait(self, timeout: float | None = None) -> bool:
        self.paused += 1
        self._go.acquire()
        self.clock_s += self.step_s
        return self.is_set()

    def set(self) -> None:
        super().set()
        self._go.release()

    def until_paused(self, polls: int) -> None:
        wait_for(lambda: self.paused == polls, timeout_s=10, every_s=0.01, what=f"the watcher's poll {polls}")

    def next_poll(self) -> None:
        polls = self.paused + 1
        self._go.release()
        self.until_paused(polls)


def test_the_pacs_watcher_sweeps_every_interval_with_nobody_signing_in(imaging_settings, monkeypatch):  # noqa: F811
    """A server that is never restarted and that nobody signs in to still deletes attempts past the
    configured period: the watcher sweeps once per ``SIGN_IN_SWEEP_INTERVAL_S``, not at every poll. Its
    clock moves half an interval per poll, and the test reads the database after each poll."""
    settings = imaging_settings.model_copy(update={SETTING: 7})
    db = prepare_database(settings.database_target)
    now = dt.datetime.now(dt.timezone.utc)
    due, kept = now - dt.timedelta(days=8), now - dt.timedelta(days=6)
    add_audit_rows(db, due, kept)
    both, swept = [utc_now(due), utc_now(kept)], [utc_now(kept)]
    polls = []
    monkeypatch.setattr(ingest, "poll_once", lambda *args, **kwargs: polls.append(1))
    watch = SteppedWatch(step_s=ingest.SIGN_IN_SWEEP_INTERVAL_S / 2)
    monkeypatch.setattr(ingest, "time", SimpleNamespace(**{**vars(time), "monotonic": watch.monotonic}))
    watcher = ingest.Watcher(settings, None)
    watcher.stopped = watch
    watcher.start()
    try:
        watch.until_paused(1)
        assert audit_times(db) == both  # the server's start has just swept: the first sweep is an interval on
        watch.next_poll()
        assert audit_times(db) == both  # half an interval: polls go on, the sweep waits
        watch.next_poll()
        assert audit_times(db) == swept  # one interval
        add_audit_rows(db, due)
        watch.next_poll()
        assert audit_times(db) == both  # not again at the next poll
        watch.next_poll()
        assert audit_times(db) == swept  # two intervals
        assert len(polls) == 5
    finally:
        watcher.stop()
        wait_for(lambda: not watcher.is_alive(), timeout_s=10, every_s=0.01, what="the watcher to stop")
    db.close()


def test_forget_sign_ins_deletes_what_is_due_and_prints_only_counts(imaging_settings, runner):  # noqa: F811
    """The cron command for ``serve --no-watch``: the configured period, ended sessions too, counts
    as text or JSON (never a name or client address)."""
    db = prepare_database(imaging_settings.database_target)
    add_viewer(db, "region")
    set_password(db, "region", PASSWORD)
    now = dt.datetime.now(dt.timezone.utc)
    sign_in(db, "region", PASSWORD, client="10.0.0.9", now=now - dt.timedelta(days=9))  # session long ended
    add_audit_rows(db, now - dt.timedelta(days=8), now - dt.timedelta(days=6))
    imaging_settings.data_dir.mkdir(parents=True, exist_ok=True)  # on PostgreSQL nothing made it
    (imaging_settings.data_dir / "config.toml").write_text(f"{SETTING} = 7\n")
    where = ["--data-dir", str(imaging_settings.data_dir), "--database-url", imaging_settings.database_target]
    answer = runner.invoke(cli, ["imaging-server", "forget-sign-ins", "--json", *where])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output) == {"audit_entries": 2, "sessions": 1, "retention_days": 7}
    assert audit_times(db) == [utc_now(now - dt.timedelta(days=6))]
    assert not db.rows("SELECT * FROM programme_sessions")
    again = runner.invoke(cli, ["imaging-server", "forget-sign-ins", *where])
    assert again.exit_code == 0, again.output
    assert again.output == ("removed 0 sign-in audit entries older than 7 days "
                            "and 0 ended sessions\n")
    assert "region" not in answer.output + again.output and "10.0.0.9" not in answer.output + again.output
    db.close()


def test_forget_sign_ins_creates_no_database(runner, tmp_path, no_env_settings):
    """A cron line pointing at the wrong folder says so in one line and leaves nothing behind."""
    answer = runner.invoke(cli, ["imaging-server", "forget-sign-ins", "--data-dir", str(tmp_path / "nowhere")])
    assert answer.exit_code == 1
    assert answer.output.startswith("Error: no CT server database at ") and answer.output.count("\n") == 1
    assert not (tmp_path / "nowhere" / "imaging.db").exists()
