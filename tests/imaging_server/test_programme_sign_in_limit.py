"""The programme sign-in lockout in the store, on SQLite and PostgreSQL: concurrent wrong
passwords each count (one lock, at the threshold), a locked name refuses even the right password
with its seconds to wait, and every outcome is audited. Names whose count has lapsed (a lockout's
length without a wrong password, lock over) are swept by later wrong passwords, in bounded steps,
while live counts and locks stay, also those of a database from before the sweep. The clock is
injected (``sign_in(now=...)``): no test sleeps."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.lockout import LockoutPolicy
from imaging_server.errors import AuthenticationError, TooManyAttempts
from imaging_server.programme import add_viewer
from imaging_server import store
from imaging_server.programme_session import SWEEP_BATCH, set_password, sign_in
from imaging_server.store import open_database, prepare_database, utc_now
from pg_server import database_url, postgres  # noqa: F401 - fixtures

PASSWORD = "a long programme password"
POLICY = LockoutPolicy(threshold=4, minutes=5)


def attempt(url: str, password: str) -> str:
    db = open_database(url)
    try:
        sign_in(db, "region", password, lockout=POLICY, client="10.0.0.9")
        return "signed_in"
    except TooManyAttempts:
        return "429"
    except AuthenticationError:
        return "401"
    finally:
        db.close()


def test_concurrent_wrong_passwords_each_count_and_lock_the_name_once(database_url):  # noqa: F811
    db = prepare_database(database_url)
    add_viewer(db, "region")
    set_password(db, "region", PASSWORD)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: attempt(database_url, "not the password"), range(10)))
    outcomes = [row["outcome"] for row in db.rows("SELECT outcome FROM programme_sign_in_audit ORDER BY id")]
    assert outcomes.count("locked") == 1 and answers.count("429") == outcomes.count("refused_locked")
    assert outcomes.count("wrong_password") == POLICY.threshold - 1
    with pytest.raises(TooManyAttempts) as refused:
        sign_in(db, "region", PASSWORD, lockout=POLICY)
    assert 0 < refused.value.retry_after_s <= 300 and refused.value.status == 429
    set_password(db, "region", PASSWORD)  # the operator's new password lifts the lock
    assert sign_in(db, "region", PASSWORD, lockout=POLICY)
    db.close()


T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def wrong(db, name: str, when: dt.datetime) -> str:
    """One sign-in attempt with a wrong password at ``when``; its answer."""
    try:
        sign_in(db, name, "not the password", lockout=POLICY, now=when)
    except TooManyAttempts:
        return "429"
    except AuthenticationError:
        return "401"
    raise AssertionError("a wrong password signed in")


def failure_rows(db) -> dict:
    return {row["name"]: row["failures"] for row in db.rows("SELECT name, failures FROM programme_sign_in_failures")}


def test_names_quiet_for_a_lockout_length_are_swept_and_live_counts_and_locks_stay(database_url):  # noqa: F811
    """Random names, and a lock that has ended, go at the next wrong password once a lockout's
    length (POLICY.minutes = 5) has passed without one; a name locked or counting within its
    window keeps its lock and its count exactly as before."""
    db = prepare_database(database_url)
    add_viewer(db, "region")
    set_password(db, "region", PASSWORD)
    for name in ("guess-a", "guess-b", "guess-c"):
        assert wrong(db, name, at(0)) == "401"
    assert [wrong(db, "old-lock", at(0)) for _ in range(4)] == ["401"] * 4  # locked until 9:05
    assert [wrong(db, "region", at(4)) for _ in range(4)] == ["401"] * 4  # locked until 9:09
    assert [wrong(db, "partial", at(3)) for _ in range(2)] == ["401"] * 2
    assert wrong(db, "newcomer", at(6)) == "401"
    assert failure_rows(db) == {"region": 0, "partial": 2, "newcomer": 1}
    with pytest.raises(TooManyAttempts):
        sign_in(db, "region", PASSWORD, lockout=POLICY, now=at(6))  # the live lock still holds
    assert [wrong(db, "partial", at(7)) for _ in range(2)] == ["401", "401"]  # its count went on: 4th locks
    assert db.scalar("SELECT outcome FROM programme_sign_in_audit WHERE name = 'partial' ORDER BY id DESC") == "locked"
    assert wrong(db, "newcomer", at(11)) == "401"  # region's lock ended at 9:09, partial's lasts to 9:12
    assert failure_rows(db) == {"partial": 0, "newcomer": 1}  # newcomer too: 9:06 to 9:11 lapsed its count
    assert sign_in(db, "region", PASSWORD, lockout=POLICY, now=at(11))
    db.close()


def test_a_count_lapses_after_a_lockout_length_without_a_wrong_password(database_url):  # noqa: F811
    """Threshold - 1 wrong passwords, a pause of a lockout's length, and the count starts again:
    one more does not lock (within the window it would, the test above shows)."""
    db = prepare_database(database_url)
    assert [wrong(db, "region", at(0)) for _ in range(POLICY.threshold - 1)] == ["401"] * 3
    assert wrong(db, "region", at(POLICY.minutes)) == "401"
    assert failure_rows(db) == {"region": 1}
    assert [wrong(db, "region", at(POLICY.minutes + 1)) for _ in range(3)] == ["401", "401", "401"]
    assert wrong(db, "region", at(POLICY.minutes + 1)) == "429"
    db.close()


def test_a_flood_of_lapsed_names_shrinks_oldest_first_in_bounded_steps(database_url):  # noqa: F811
    """Each wrong password removes at most SWEEP_BATCH lapsed rows, the oldest first, so the table
    comes back down under the traffic that grew it without any one request doing unbounded work;
    a lapsed count the sweep has not reached yet counts as lapsed all the same."""
    db = prepare_database(database_url)
    flood = SWEEP_BATCH * 2 + 10
    with db.write():
        for i in range(flood):
            db.execute("INSERT INTO programme_sign_in_failures (name, failures, last_failure) "
                       "VALUES (:name, 1, :at)", {"name": f"random-{i:04d}", "at": utc_now(at(i / flood))})
        db.execute("INSERT INTO programme_sign_in_failures (name, failures, last_failure) VALUES ('region', 3, :at)",
                   {"at": utc_now(at(2))})  # one short of the lock, and lapsed by 9:10
    assert wrong(db, "region", at(10)) == "401"
    rows = failure_rows(db)
    assert rows.pop("region") == 1  # its count started again instead of locking
    assert sorted(rows) == [f"random-{i:04d}" for i in range(SWEEP_BATCH, flood)]
    for _ in range(2):
        wrong(db, "region", at(10))
    assert failure_rows(db) == {"region": 3}
    db.close()


def test_a_database_from_before_the_window_keeps_its_rows_and_locks(database_url, monkeypatch):  # noqa: F811
    """A hospital upgrading keeps its counts and live locks: the new column arrives empty, the
    first sweep stamps the old rows instead of deleting them, and they lapse one window later."""
    monkeypatch.setattr(store, "MIGRATIONS", tuple(m for m in store.MIGRATIONS if m[0] <= 6))
    db = prepare_database(database_url)
    add_viewer(db, "region")
    set_password(db, "region", PASSWORD)
    locked_until = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat(timespec="seconds")
    with db.write():
        db.execute("INSERT INTO programme_sign_in_failures (name, failures, locked_until) VALUES "
                   "('region', 0, :until), ('partial', 3, NULL), ('ended', 0, '2026-01-01T00:00:00+00:00')",
                   {"until": locked_until})
    monkeypatch.undo()
    assert store.apply_migrations(db) == [version for version, _, _ in store.MIGRATIONS if version >= 7]
    assert failure_rows(db) == {"region": 0, "partial": 3, "ended": 0}
    now = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(TooManyAttempts):
        sign_in(db, "region", PASSWORD, lockout=POLICY, now=now)
    assert wrong(db, "newcomer", now) == "401"
    assert failure_rows(db) == {"region": 0, "partial": 3, "ended": 0, "newcomer": 1}
    assert wrong(db, "partial", now) == "401"  # its old count of 3 went on: the 4th locks it
    assert db.scalar("SELECT outcome FROM programme_sign_in_audit WHERE name = 'partial'") == "locked"
    assert wrong(db, "newcomer", now + dt.timedelta(minutes=POLICY.minutes + 1)) == "401"
    # partial's lock (5 minutes) and count have lapsed; region's lock holds for the hour.
    assert failure_rows(db) == {"region": 0, "newcomer": 1}
    db.close()
