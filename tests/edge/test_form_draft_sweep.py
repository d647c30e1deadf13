"""Typed values never outlive the session that typed them (issue h38): the server sweeps the patient
form kept with a session (and its last patient search) once the session has expired, at every
tablet login and at start-up, but keeps the idle lock's keep while its window lasts (the session's
own expiry: a PIN unlock, or the same nurse's next password login). The tablet's offline visit
drafts are tagged with an opaque per-session owner value that the pages carry."""
from __future__ import annotations

import datetime as dt
import re

from edge import audit
from edge.app import create_app
from edge.users import reset_password
from support import PASSWORD, csrf_of
from test_ui_lock_keeps_typed import PATIENT_TYPED, PIN, TYPED_CODE, lock, page_login

PASSWORD_PIN_FORM = {"pin": PIN, "repeat_pin": PIN, "action": "set"}


def tablet(app, username: str, *, pin: bool) -> tuple[object, str]:
    """A tablet logged in on the login page as ``username`` (with a PIN set if ``pin``)."""
    client = app.test_client()
    page_login(client, username)
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    if pin:
        client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, **PASSWORD_PIN_FORM})
    return client, csrf


def drafts(db) -> dict[str, bool]:
    """Whether each user's sessions still hold a kept patient form, by user name."""
    rows = db.execute("SELECT u.username, MAX(s.form_draft IS NOT NULL) FROM sessions s JOIN users u "
                      "ON u.id = s.user_id GROUP BY u.username").fetchall()
    return {name: bool(kept) for name, kept in rows}


def expire(db, username: str) -> None:
    """Move the user's sessions' expiry into the past, as the clock would."""
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    db.execute("UPDATE sessions SET expires_at = ? WHERE user_id = (SELECT id FROM users WHERE username = ?)",
               [past, username])
    db.conn.commit()


def test_a_login_sweeps_expired_sessions_drafts_and_keeps_live_and_idle_lock_ones_within_their_window(
        app, db, make_user):
    for name in ("live", "kept", "gone", "next"):
        make_user(name, "nurse")
    live, live_csrf = tablet(app, "live", pin=True)
    lock(live, live_csrf, "/patients/new", {"patient_form": PATIENT_TYPED})  # PIN: the session waits, locked
    kept, kept_csrf = tablet(app, "kept", pin=False)
    assert lock(kept, kept_csrf, "/patients/new", {"patient_form": PATIENT_TYPED}).startswith("/login")  # ended
    gone, gone_csrf = tablet(app, "gone", pin=True)
    gone.post("/", data={"csrf_token": gone_csrf, "code": "CL36"})  # a last patient search, kept with the session
    lock(gone, gone_csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    expire(db, "gone")  # the nurse never came back: the session expired, locked
    assert drafts(db) == {"live": True, "kept": True, "gone": True}

    tablet(app, "next", pin=False)  # the tablet changes hands: the login sweeps
    assert drafts(db) == {"live": True, "kept": True, "gone": False, "next": False}
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE last_search IS NOT NULL").fetchone()[0] == 0

    # Within their window both keeps still come back: the PIN, and the same nurse's password login.
    assert live.post("/unlock", data={"csrf_token": live_csrf, "pin": PIN}).status_code == 302
    assert TYPED_CODE in live.get("/patients/new").get_data(as_text=True)
    page_login(kept, "kept", "/patients/new")
    assert TYPED_CODE in kept.get("/patients/new").get_data(as_text=True)

    # Past its window the idle lock's keep is swept too, and no later login of hers adopts it.
    lock(kept, csrf_of(kept.get("/").get_data(as_text=True)), "/patients/new", {"patient_form": PATIENT_TYPED})
    expire(db, "kept")
    tablet(app, "next", pin=False)
    assert drafts(db)["kept"] is False
    page_login(kept, "kept", "/patients/new")
    assert TYPED_CODE not in kept.get("/patients/new").get_data(as_text=True)


def test_the_service_start_sweeps_drafts_of_sessions_that_expired_while_it_was_down(app, db, make_user, settings):
    make_user("nurse1", "nurse")
    client, csrf = tablet(app, "nurse1", pin=True)
    lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    create_app(settings)
    assert drafts(db) == {"nurse1": True}  # still valid: kept
    expire(db, "nurse1")
    create_app(settings)
    assert drafts(db) == {"nurse1": False}


def test_an_api_login_sweeps_expired_sessions_drafts_and_keeps_the_idle_locks_keep_within_its_window(
        app, db, make_user):
    """The JSON API's login (a browser session too) sweeps as the tablet's login does (brief h46)."""
    for name in ("kept", "gone", "api"):
        make_user(name, "nurse")
    for name in ("kept", "gone"):
        client, csrf = tablet(app, name, pin=False)
        lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})  # no PIN: ended, its form kept
    expire(db, "gone")
    assert drafts(db) == {"kept": True, "gone": True}
    response = app.test_client().post("/api/v1/auth/login", json={"username": "api", "password": PASSWORD})
    assert response.status_code == 200
    assert drafts(db) == {"kept": True, "gone": False, "api": False}


def test_each_scheduled_backup_sweeps_first_so_no_backup_keeps_an_expired_sessions_typed_values(
        app, db, make_user, settings):
    """The backup worker is the service's periodic worker: a clinic whose tablet sees no login for days
    still drops what expired sessions typed, and the backup it writes does not carry it (brief h46)."""
    from edge.backup_worker import BackupWorker
    from edge.store.database import open_database

    for name in ("kept", "gone"):
        make_user(name, "nurse")
        client, csrf = tablet(app, name, pin=True)
        lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    expire(db, "gone")
    backup = BackupWorker(settings.database_path, settings.data_dir, interval_s=3600, keep=2).run_once()
    assert drafts(db) == {"kept": True, "gone": False}
    copy = open_database(backup)
    try:
        assert drafts(copy) == {"kept": True, "gone": False}
    finally:
        copy.close()


def test_a_password_reset_drops_the_drafts_of_the_sessions_it_ends(app, db, make_user):
    user = make_user("nurse1", "nurse")
    client, csrf = tablet(app, "nurse1", pin=True)
    lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    reset_password(db, audit.CLI_OPERATOR, user["id"])
    assert drafts(db) == {"nurse1": False}


def owner_of(page: str) -> str:
    return re.search(r'data-draft-owner="([^"]*)"', page).group(1)


def test_pages_name_the_session_their_offline_drafts_belong_to_opaquely_and_the_same_across_a_pin_unlock(
        app, make_user):
    make_user("nurse1", "nurse")
    make_user("nurse2", "nurse")
    client, csrf = tablet(app, "nurse1", pin=True)
    owner = owner_of(client.get("/").get_data(as_text=True))
    assert re.fullmatch(r"[0-9a-f]{24}", owner)
    assert owner not in client.get_cookie("ildscreen_session").value and "nurse1" not in owner
    lock(client, csrf, "/", {})
    assert owner_of(client.get("/unlock").get_data(as_text=True)) == owner  # the lock screen keeps them
    client.post("/unlock", data={"csrf_token": csrf, "pin": PIN})
    assert owner_of(client.get("/").get_data(as_text=True)) == owner

    other, _ = tablet(app, "nurse2", pin=False)
    assert owner_of(other.get("/").get_data(as_text=True)) not in ("", owner)
    client.post("/logout", data={"csrf_token": csrf})
    assert owner_of(client.get("/login").get_data(as_text=True)) == ""  # no session: the page drops them
    assert "data-draft-owner" not in client.get("/no-such-page").get_data(as_text=True)  # says nothing


def adopted_by(page: str) -> list[str]:
    found = re.search(r'data-draft-adopt="([^"]*)"', page)
    return found.group(1).split() if found else []


def test_after_a_lock_without_a_pin_only_the_same_nurses_next_login_takes_over_the_tablets_offline_drafts(
        app, db, make_user):
    """Brief h46: the idle lock of a nurse without a PIN ends her session, but her offline drafts (for any
    visit) are still hers: the login page it opens leaves them alone (no owner named), her next login's
    pages name the ended session's owner so the tablet re-tags them, and nobody else's pages do."""
    make_user("nurse1", "nurse")
    make_user("nurse2", "nurse")
    client, csrf = tablet(app, "nurse1", pin=False)
    owner = owner_of(client.get("/").get_data(as_text=True))
    assert adopted_by(client.get("/").get_data(as_text=True)) == []
    login_page = lock(client, csrf, "/", {})
    assert "locked=1" in login_page
    assert "data-draft-owner" not in client.get(login_page).get_data(as_text=True)  # the queue waits

    page_login(client, "nurse1")
    page = client.get("/").get_data(as_text=True)
    assert owner_of(page) not in ("", owner) and adopted_by(page) == [owner]
    other, _ = tablet(app, "nurse2", pin=False)
    assert owner not in adopted_by(other.get("/").get_data(as_text=True))

    # Only within the ended session's own window, as for the patient form (adopt_after_login).
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    db.execute("UPDATE sessions SET expires_at = ? WHERE revoked = 1", [past])
    db.conn.commit()
    assert adopted_by(client.get("/").get_data(as_text=True)) == []
