"""The programme sign-in lockout in the store, on SQLite and PostgreSQL: concurrent wrong
passwords each count (one lock, at the threshold), a locked name refuses even the right password
with its seconds to wait, and every outcome is audited."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from common.lockout import LockoutPolicy
from imaging_server.errors import AuthenticationError, TooManyAttempts
from imaging_server.programme import add_viewer
from imaging_server.programme_session import set_password, sign_in
from imaging_server.store import open_database, prepare_database
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
