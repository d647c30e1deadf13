"""A radiologist signs in to the reader pages in a browser (issue h88): the operator's command gives a
reader a password, the ``/reader`` form (with its CSRF token) opens a server-side session whose random
id an HttpOnly, SameSite=Strict cookie limited to ``/reader`` carries, the worklist and referral pages
open, and signing out ends it. The lockout, audit and retention are the programme sign-in's (one
policy, :mod:`imaging_server.browser_sign_in`); a session opens only its own door's pages; bad input
is refused with a clear message and stores nothing. Both doors' forms carry CSRF tokens (issue h91: the
programme view's too, one mechanism), and a referral's link opened signed out lands on that referral once
signed in (``next``, only a reader page). Every test runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient as Client

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from edge.cli import cli
from imaging_server.app import create_app
from common.passwords import MAX_PASSWORD_LENGTH
from imaging_server.browser_sign_in import DOORS, forget_old_sign_ins
from imaging_server.nodule_review import add_reader
from imaging_server.programme import add_viewer
from imaging_server.programme_i18n import CATALOG
from imaging_server.sign_in_pages import session_form_token
from imaging_server.store import add_clinic, open_database, utc_now
from referral_bundle import referral_bundle

PASSWORD = "a long reader password"
CODE = "ILD-AAAAAAAAAA"
READER_TABLES = ("reader_passwords", "reader_sessions", "reader_sign_in_failures", "reader_sign_in_audit")
PROGRAMME_PASSWORD = "a long programme password"
# Each door: its path, a person with a password, and that door's tables.
DOOR_CASES = {
    "reader": ("/reader", "dr-wang", PASSWORD, READER_TABLES),
    "programme viewer": ("/programme", "region", PROGRAMME_PASSWORD,
                         ("programme_viewer_passwords", "programme_sessions", "programme_sign_in_failures",
                          "programme_sign_in_audit")),
}
SESSION_COOKIES = {"/reader": "ildscreen_reader", "/programme": "ildscreen_programme"}


@pytest.fixture
def hospital(imaging_settings, runner):  # noqa: F811
    """The CT server's test client with one referral, reader dr-wang (password set by the operator's
    command) and programme viewer region (a password too), and the database (closed after)."""
    settings = imaging_settings.model_copy(update={"sign_in_lockout_threshold": 3,
                                                   "sign_in_lockout_minutes": 10})
    app = create_app(settings)
    db = open_database(settings.database_target)
    clinic = add_clinic(db, "clinic-north")
    add_reader(db, "dr-wang")
    add_viewer(db, "region")
    DOORS["programme viewer"].set_password(db, "region", PROGRAMME_PASSWORD)
    where = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_target]
    answer = runner.invoke(cli, ["imaging-server", "readers", "set-password", "dr-wang", "--password-stdin", *where],
                           input=f"{PASSWORD}\n")
    assert answer.exit_code == 0 and answer.output == "password set for reader dr-wang\n", answer.output
    client = app.test_client()
    sent = client.post("/api/v1/referrals", json=referral_bundle(CODE),
                       headers={"Authorization": f"Bearer {clinic}", "Idempotency-Key": CODE})
    assert sent.status_code == 201, sent.json
    yield client, db
    db.close()


def form_token(answer) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', answer.get_data(as_text=True)).group(1)


def sign_in(client, name: str, password: str, door: str = "/reader", **headers):
    """Open the door's form (its CSRF cookie and field), then send it."""
    token = form_token(client.get(door))
    return client.post(f"{door}/sign-in", data={"name": name, "password": password, "csrf_token": token},
                       headers=headers)


def stored(db, tables=READER_TABLES) -> dict:
    return {table: db.rows(f"SELECT * FROM {table}") for table in tables}


def test_a_reader_signs_in_opens_a_referral_and_signs_out(hospital):
    client, db = hospital
    form = client.get("/reader")
    assert form.status_code == 200 and 'id="sign-in"' in form.get_data(as_text=True)
    assert "HttpOnly" in form.headers["Set-Cookie"] and "Path=/reader" in form.headers["Set-Cookie"]
    assert client.get("/reader/referrals").status_code == 401  # the form again, until signed in
    signed = sign_in(client, "dr-wang", PASSWORD)
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/reader/referrals")
    cookie = next(value for value in signed.headers.getlist("Set-Cookie") if value.startswith("ildscreen_reader="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/reader" in cookie
    session_id = client.get_cookie("ildscreen_reader", path="/reader").value
    assert db.scalar("SELECT COUNT(*) AS n FROM reader_sessions") == 1
    assert session_id not in str(db.rows("SELECT * FROM reader_sessions"))  # only its SHA-256 is kept
    assert client.get("/reader").status_code == 303  # signed in: straight to the worklist
    worklist = client.get("/reader/referrals")
    assert worklist.status_code == 200 and f'href="/reader/referrals/{CODE}"' in worklist.get_data(as_text=True)
    page = client.get(f"/reader/referrals/{CODE}")
    assert page.status_code == 200 and 'id="reader-name">dr-wang</span>' in page.get_data(as_text=True)
    assert client.get("/api/v1/reader/referrals").status_code == 401  # the cookie is for the pages only

    refused = client.post("/reader/sign-out")  # no CSRF token: refused, and the session stays
    assert refused.status_code == 403 and "CSRF token" in refused.json["error"]["message"]
    assert client.get("/reader/referrals").status_code == 200
    out = client.post("/reader/sign-out", data={"csrf_token": form_token(page)})
    assert out.status_code == 303 and out.headers["Location"].endswith("/reader")
    assert client.get("/reader/referrals").status_code == 401
    assert not db.rows("SELECT * FROM reader_sessions")
    client.set_cookie("ildscreen_reader", session_id, path="/reader")  # replayed after signing out
    assert client.get(f"/reader/referrals/{CODE}").status_code == 401
    outcomes = [row["outcome"] for row in db.rows("SELECT outcome FROM reader_sign_in_audit")]
    assert outcomes == ["signed_in"]


def test_wrong_name_and_wrong_password_answer_the_same(hospital):
    client, db = hospital
    answers = [sign_in(client, name, password) for name, password in (
        ("dr-wang", "not the password"), ("dr-nobody", PASSWORD), ("region", "a long programme password"))]
    assert {answer.status_code for answer in answers} == {401}
    messages = {re.search(r'id="sign-in-error"[^>]*>([^<]+)<', answer.get_data(as_text=True)).group(1)
                for answer in answers}
    assert messages == {CATALOG["wrong_credentials"]["en"]}
    assert client.get_cookie("ildscreen_reader", path="/reader") is None
    assert [row["outcome"] for row in db.rows("SELECT outcome FROM reader_sign_in_audit ORDER BY id")] == \
        ["wrong_password"] * 3
    assert not db.rows("SELECT * FROM programme_sign_in_audit")  # a reader's attempt is not the programme's


def test_a_session_opens_only_its_own_door(hospital):
    """A programme viewer's session does not open the reader pages, nor a reader's the programme view."""
    client, _db = hospital
    assert sign_in(client, "dr-wang", PASSWORD).status_code == 303
    reader_session = client.get_cookie("ildscreen_reader", path="/reader").value
    assert sign_in(client, "region", PROGRAMME_PASSWORD, "/programme").status_code == 303
    programme_session = client.get_cookie("ildscreen_programme", path="/programme").value
    assert client.get("/programme").status_code == 200 and client.get("/reader/referrals").status_code == 200

    client.set_cookie("ildscreen_reader", programme_session, path="/reader")
    for path in ("/reader/referrals", f"/reader/referrals/{CODE}"):
        answer = client.get(path)
        assert answer.status_code == 401 and 'id="sign-in"' in answer.get_data(as_text=True)
    client.set_cookie("ildscreen_programme", reader_session, path="/programme")
    answer = client.get("/programme")
    assert answer.status_code == 401 and 'id="sign-in"' in answer.get_data(as_text=True)


@pytest.mark.parametrize("door", DOOR_CASES)
@pytest.mark.parametrize("case", ["no CSRF token", "wrong CSRF token", "no CSRF cookie", "non-ASCII CSRF token",
                                  "empty name", "overlong password"])
def test_bad_input_is_refused_clearly_and_stores_nothing(hospital, door, case):
    """At both doors (one rule): a sign-in without its form's token is a 403 with a fresh form before the
    password is checked; an empty name or an overlong password a 422 naming it; nothing counted or audited."""
    client, db = hospital
    path, name, password, tables = DOOR_CASES[door]
    token = form_token(client.get(path))
    form = {"name": name, "password": password, "csrf_token": token}
    if case == "no CSRF token":
        del form["csrf_token"]
    elif case == "wrong CSRF token":
        form["csrf_token"] = token[::-1]
    elif case == "no CSRF cookie":  # a form copied to another site: its browser holds no such cookie
        client.delete_cookie(f"ildscreen_{path.strip('/')}_sign_in", path=path)
    elif case == "non-ASCII CSRF token":  # hmac.compare_digest raises on such a str: a 403, not a 500
        form["csrf_token"] = "é" * len(token)
    elif case == "empty name":
        form["name"] = "   "
    else:
        form["password"] = "x" * (MAX_PASSWORD_LENGTH + 1)
    before = stored(db, tables)
    answer = client.post(f"{path}/sign-in", data=form)
    status, message = {"empty name": (422, CATALOG["name_required"]["en"]),
                       "overlong password": (422, f"at most {MAX_PASSWORD_LENGTH} characters")
                       }.get(case, (403, CATALOG["form_expired"]["en"]))
    assert answer.status_code == status and message in answer.get_data(as_text=True)
    assert form_token(answer)  # the form again, ready to send
    assert stored(db, tables) == before
    assert client.get_cookie(SESSION_COOKIES[path], path=path) is None


def test_the_operators_command_refuses_bad_passwords_and_unknown_readers(hospital, imaging_settings, runner):  # noqa: F811
    _client, db = hospital
    before = stored(db)
    where = ["--data-dir", str(imaging_settings.data_dir), "--database-url", imaging_settings.database_target]
    for name, password, message in (("dr-wang", "short", "at least 12"),
                                    ("dr-wang", "y" * (MAX_PASSWORD_LENGTH + 1), f"at most {MAX_PASSWORD_LENGTH}"),
                                    ("dr-nobody", PASSWORD, "no reader named 'dr-nobody'")):
        answer = runner.invoke(cli, ["imaging-server", "readers", "set-password", name, "--password-stdin", *where],
                               input=f"{password}\n")
        assert answer.exit_code == 1 and message in answer.output, answer.output
    assert stored(db) == before


def test_wrong_passwords_lock_the_name_with_the_wait_in_plain_words(hospital):
    """The programme's policy from the same settings (here 3 wrong passwords lock for 10 minutes):
    then even the right password gets 429, Retry-After and the wait in minutes, in the page's language."""
    client, db = hospital
    for _ in range(3):
        assert sign_in(client, "dr-wang", "not the password").status_code == 401
    locked = sign_in(client, "dr-wang", PASSWORD, **{"Accept-Language": "zh-CN"})
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 600
    assert CATALOG["too_many_attempts"]["zh-CN"].format(minutes=10) in locked.get_data(as_text=True)
    assert form_token(locked)
    as_json = sign_in(client, "dr-wang", PASSWORD, Accept="application/json")
    assert as_json.status_code == 429 and as_json.json["error"]["code"] == "too_many_attempts"
    assert client.get_cookie("ildscreen_reader", path="/reader") is None
    assert [row["outcome"] for row in db.rows("SELECT outcome FROM reader_sign_in_audit ORDER BY id")] == \
        ["wrong_password", "wrong_password", "locked", "refused_locked", "refused_locked"]
    assert PASSWORD not in str(db.rows("SELECT * FROM reader_sign_in_audit"))
    # The lock is the reader door's: a programme viewer of any name signs in as before.
    assert sign_in(client, "region", PROGRAMME_PASSWORD, "/programme").status_code == 303


def test_reader_attempts_and_ended_sessions_go_after_the_retention(hospital, imaging_settings):  # noqa: F811
    """The programme's retention setting, at each reader sign-in (that door's tables) and in the
    server-wide sweep that start, watcher and ``forget-sign-ins`` run (every door)."""
    client, db = hospital
    now = dt.datetime.now(dt.timezone.utc)
    door = DOORS["reader"]
    door.sign_in(db, "dr-wang", PASSWORD, now=now - dt.timedelta(days=400))  # a session long ended
    with db.write():
        for days in (400, 366, 300):
            db.insert("reader_sign_in_audit", {"at": utc_now(now - dt.timedelta(days=days)), "name": "dr-wang",
                                               "outcome": "wrong_password", "client": "10.0.0.9"})
    assert sign_in(client, "dr-wang", "not the password").status_code == 401  # the default: 365 days kept
    times = [row["at"] for row in db.rows("SELECT at FROM reader_sign_in_audit ORDER BY at")]
    assert len(times) == 2 and times[0] == utc_now(now - dt.timedelta(days=300)) and times[1] >= utc_now(now)
    assert not db.rows("SELECT * FROM reader_sessions")
    assert forget_old_sign_ins(db, retention_days=1, now=now + dt.timedelta(days=2)) == {
        "audit_entries": 2, "sessions": 0}
    assert not db.rows("SELECT * FROM reader_sign_in_audit")


@pytest.mark.parametrize("door", DOOR_CASES)
def test_a_sign_out_without_the_sessions_token_is_refused_and_the_session_stays(hospital, door):
    """At both doors: the sign-out form's token is derived from the session; none, another session's, or
    the sign-in form's token is a 403 before anything is ended; the page's own token signs out."""
    client, db = hospital
    path, name, password, tables = DOOR_CASES[door]
    sessions = tables[1]
    assert sign_in(client, name, password, path).status_code == 303
    page_path = "/reader/referrals" if path == "/reader" else path
    page = client.get(page_path)
    assert page.status_code == 200
    other = DOORS[door].sign_in(db, name, password)  # the same person's session in another browser
    sign_in_form_token = form_token(Client(client.application).get(path))
    for sent in ({}, {"csrf_token": session_form_token(other)}, {"csrf_token": sign_in_form_token}):
        refused = client.post(f"{path}/sign-out", data=sent)
        assert refused.status_code == 403 and "CSRF token" in refused.json["error"]["message"]
        assert db.scalar(f"SELECT COUNT(*) AS n FROM {sessions}") == 2
    out = client.post(f"{path}/sign-out", data={"csrf_token": form_token(page)})
    assert out.status_code == 303 and out.headers["Location"].endswith(path)
    assert db.scalar(f"SELECT COUNT(*) AS n FROM {sessions}") == 1  # only the other browser's is left
    assert client.get(page_path).status_code == 401


def test_a_referral_link_opened_signed_out_lands_on_the_referral_after_signing_in(hospital):
    """A reader follows a referral's link while signed out: the form (401) carries the page as ``next``,
    a wrong password keeps it, and signing in lands on the referral, not the worklist."""
    client, _db = hospital
    asked = client.get(f"/reader/referrals/{CODE}")
    assert asked.status_code == 401 and f'name="next" value="/reader/referrals/{CODE}"' in asked.get_data(as_text=True)
    form = {"name": "dr-wang", "password": "not the password", "csrf_token": form_token(asked),
            "next": f"/reader/referrals/{CODE}"}
    wrong = client.post("/reader/sign-in", data=form)
    assert wrong.status_code == 401 and f'name="next" value="/reader/referrals/{CODE}"' in wrong.get_data(as_text=True)
    signed = client.post("/reader/sign-in", data={**form, "password": PASSWORD, "csrf_token": form_token(wrong)})
    assert signed.status_code == 303 and signed.headers["Location"] == f"/reader/referrals/{CODE}"
    landed = client.get(signed.headers["Location"])
    assert landed.status_code == 200 and CODE in landed.get_data(as_text=True)


@pytest.mark.parametrize("target", [
    "https://evil.example/reader", "//evil.example/reader", "/\\evil.example", "/%2F%2Fevil.example",
    "javascript:alert(1)", "/programme", "/readerx", "/reader/../programme", "/reader/%2e%2e/programme",
    "/reader/%252e%252e/programme", "reader/referrals", "/reader/\nx", ""])
def test_a_next_that_is_not_a_reader_page_lands_on_the_worklist(hospital, target):
    """Only a path under /reader: never another host, scheme, ``//``, a page of another door (also by
    dot segments, percent-encoded or not) or a relative path; the form then leads to the worklist."""
    client, _db = hospital
    token = form_token(client.get("/reader"))
    signed = client.post("/reader/sign-in", data={"name": "dr-wang", "password": PASSWORD, "csrf_token": token,
                                                  "next": target})
    assert signed.status_code == 303 and signed.headers["Location"] == "/reader/referrals"
