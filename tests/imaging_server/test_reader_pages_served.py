"""The reader pages of a served ``imaging-server serve`` over HTTP (brief h98), on a data folder a server at
store version 8 left: the start fills the note kinds of its referrals once (store migration 10, saying so)
and the worklist then marks them without reading a bundle; the request log names the reader who acted by
their id, never their name, a referral code or a query; the language switch sets the language of every
page and comes back to the page, and clears a door's cookie an older server left; a bad worklist parameter
on the page answers the page, 422, naming it; an unknown referral or an unreadable one answers a page."""
from __future__ import annotations

import json
import re
import time

import pytest
import requests

from ct_served import CtServed
from imaging_server import store
from imaging_server.browser_sign_in import DOORS
from imaging_server.nodule_review import add_reader
from imaging_server.programme import add_viewer
from imaging_server.programme_i18n import CATALOG
from test_reader_worklist_pages import stored_as_at_version_8
from test_referral_notes import DISCORDANT, clinic_bundle

PASSWORD = "a long reader password"
CODE = "ILD-DDDDDDDDDD"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A served CT server whose database a server at store version 8 wrote: one referral with disagreeing
    HRCT reads, the reader dr-wang (a password and a token)."""
    data_dir = tmp_path_factory.mktemp("reader-pages") / "data"
    data_dir.mkdir()
    url = store.sqlite_url(data_dir / "imaging.db")
    db = store.open_database(url)
    store.apply_migrations(db, migrations=tuple(m for m in store.MIGRATIONS if m[0] <= 8))
    store.add_clinic(db, "clinic-north")
    token = add_reader(db, "dr-wang")
    DOORS["reader"].set_password(db, "dr-wang", PASSWORD)
    add_viewer(db, "lead")
    DOORS["programme viewer"].set_password(db, "lead", PASSWORD)
    bundle = clinic_bundle(CODE, advice="monitoring", discordant=DISCORDANT, reason="Second opinion")
    stored_as_at_version_8(db, "clinic-north", {CODE: json.dumps(bundle, sort_keys=True)})
    reader_id = db.scalar("SELECT id FROM readers WHERE name = 'dr-wang'")
    db.close()
    store.dispose_engine(url)
    served = CtServed(data_dir).start()
    served.reader = {"Authorization": f"Bearer {token}"}
    served.reader_id = reader_id
    served.database_url = url
    yield served
    served.stop()


def signed_in(server, session: requests.Session | None = None, *, door: str = "/reader",
              name: str = "dr-wang") -> requests.Session:
    """A browser session (``session``, else a new one) of dr-wang at the reader pages, or of ``name`` at
    ``door``: the form's CSRF cookie and field sent back, the session cookie kept; the sign-in's answer is
    ``session.signed_in``."""
    session = session or requests.Session()
    form = session.get(server.url + door, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = session.post(server.url + door + "/sign-in", data={"name": name, "password": PASSWORD,
                                                                "csrf_token": token}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    session.signed_in = answer
    return session


def lang_cookies(session: requests.Session) -> list[tuple[str, str]]:
    """The browser's ``lang`` cookies as (path, value)."""
    return sorted((cookie.path, cookie.value) for cookie in session.cookies if cookie.name == "lang")


def lang_set_cookies(answer: requests.Response) -> list[str]:
    """The ``lang`` cookies an answer sets or expires, each as ``Path=<path> <value or 'expired'>``."""
    found = []
    for header in answer.raw.headers.getlist("Set-Cookie"):
        if header.startswith("lang="):
            value = header.split(";", 1)[0].split("=", 1)[1]
            path = re.search(r"Path=([^;]+)", header).group(1)
            found.append(f"Path={path} {'expired' if 'Max-Age=0' in header or not value else value}")
    return sorted(found)


MOVED_TO_ZH = ["Path=/ zh-CN", "Path=/programme expired", "Path=/reader expired"]


def log_lines(server, route: str) -> list[str]:
    """The request log's lines of ``route`` (a route template) so far, waiting briefly for the last one."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in server.output.splitlines() if f" {route} " in line and "imaging_server.app" in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_the_start_fills_the_note_kinds_once_and_the_worklist_reads_no_bundle(server):
    assert "applied schema migration 10" in server.output
    assert "filled the note kinds of 1 referrals stored before store version 9" in server.output
    db = store.open_database(server.database_url)
    bundle = db.scalar("SELECT bundle FROM referrals WHERE code = :code", {"code": CODE})
    try:
        with db.write():  # a page that read the bundle now would fail
            db.execute("UPDATE referrals SET bundle = 'not a bundle' WHERE code = :code", {"code": CODE})
        rows = requests.get(server.url + "/api/v1/reader/referrals", headers=server.reader,
                            timeout=30).json()["referrals"]
        assert [(row["referral_code"], row["must_not_miss"]) for row in rows] == [(CODE, ["discordant_hrct_reads"])]
        page = requests.get(server.url + "/reader/referrals", headers=server.reader, timeout=30)
        assert page.status_code == 200 and 'data-marker="discordant_hrct_reads"' in page.text
    finally:
        with db.write():  # the referral's own page reads it: the other tests open it
            db.execute("UPDATE referrals SET bundle = :bundle WHERE code = :code", {"bundle": bundle, "code": CODE})
        db.close()


def test_the_request_log_names_the_reader_by_id_never_by_name(server):
    session = signed_in(server)
    assert session.get(server.url + "/reader/referrals?clinic=clinic-north", timeout=30).status_code == 200
    assert requests.get(server.url + f"/api/v1/reader/referrals/{CODE}", headers=server.reader,
                        timeout=30).status_code == 200
    page_lines = log_lines(server, "/reader/referrals")
    api_lines = log_lines(server, "/api/v1/reader/referrals/<code>")
    assert page_lines and api_lines
    for line in page_lines + api_lines:
        assert line.endswith(f" reader={server.reader_id}"), line
    reader_lines = [line for line in server.output.splitlines() if "/reader" in line]
    assert not any(word in line for line in reader_lines for word in ("dr-wang", CODE, "clinic=clinic-north"))
    # Before anyone is known (the sign-in form, the sign-in itself): nobody named.
    assert all(line.endswith(" clinic=-") for line in log_lines(server, "/reader/sign-in"))


def test_the_language_switch_sets_the_reader_pages_cookie_and_comes_back(server):
    session = signed_in(server)
    page = session.get(server.url + f"/reader/referrals/{CODE}", timeout=30).text
    link = re.search(r'id="language-switch"[^>]*href="([^"]+)"', page, re.S).group(1).replace("&amp;", "&")
    switched = session.get(server.url + link, allow_redirects=False, timeout=30)
    assert switched.status_code == 303 and switched.headers["Location"] == f"/reader/referrals/{CODE}"
    assert re.match(r"lang=zh-CN;.*Path=/;", switched.headers["Set-Cookie"])
    page = session.get(server.url + switched.headers["Location"], timeout=30).text
    assert '<html lang="zh-CN">' in page and CATALOG["note_kind_discordant_hrct_reads"]["zh-CN"] + "：" in page


def test_a_bad_worklist_parameter_on_the_page_answers_the_page_and_json_on_the_api(server):
    session = signed_in(server)
    page = session.get(server.url + "/reader/referrals?priority=stat", timeout=30)
    assert page.status_code == 422 and page.headers["Content-Type"].startswith("text/html")
    assert CATALOG["worklist_bad_parameter"]["en"].format(name='<span translate="no">priority</span>') in page.text
    api = requests.get(server.url + "/api/v1/reader/referrals?priority=stat", headers=server.reader, timeout=30)
    assert api.status_code == 422 and api.json()["error"]["fields"][0]["field"] == "priority"


def test_a_door_cookie_left_from_before_gives_way_to_a_switch_at_the_other_door(server):
    """A browser sends the narrower path's cookie first: a reader-pages cookie an older server set would
    outvote the one language a switch now chooses unless the switch clears it."""
    session = signed_in(server)
    session.cookies.set("lang", "en", domain="127.0.0.1", path="/reader")  # as older versions set it
    assert '<html lang="en">' in session.get(server.url + "/reader/referrals", timeout=30).text
    switched = session.get(server.url + "/programme/language?to=zh-CN&next=/programme", allow_redirects=False,
                           timeout=30)
    assert switched.status_code == 303
    assert [cookie.path for cookie in session.cookies if cookie.name == "lang"] == ["/"]
    assert '<html lang="zh-CN">' in session.get(server.url + "/reader/referrals", timeout=30).text


def test_a_door_cookie_left_from_before_moves_to_the_shared_one_at_sign_in(server):
    """Brief h111: a ``lang`` cookie an older version set at ``/reader`` (before one cookie for the server) is
    moved at the next sign-in: the shared cookie takes its language, the door's expires, and the programme's
    pages, which never saw the door's cookie, now follow it too."""
    session = requests.Session()
    session.cookies.set("lang", "zh-CN", domain="127.0.0.1", path="/reader")  # as older versions set it
    assert '<html lang="en">' in session.get(server.url + "/programme", timeout=30).text  # not sent there
    signed_in(server, session)
    assert lang_set_cookies(session.signed_in) == MOVED_TO_ZH
    assert lang_cookies(session) == [("/", "zh-CN")]
    assert '<html lang="zh-CN">' in session.get(server.url + "/reader/referrals", timeout=30).text
    assert '<html lang="zh-CN">' in session.get(server.url + "/programme", timeout=30).text


def test_a_door_cookie_shadowing_the_shared_one_goes_with_the_first_page_it_decides(server):
    """Sent first (the narrower path), a door's former cookie decided the page over the shared one: the page keeps
    that language, and its answer leaves the shared cookie holding it and the door's expired, so every page of
    the server agrees from then on, without waiting for a switch or a sign-in."""
    session = signed_in(server)
    session.cookies.set("lang", "en", domain="127.0.0.1", path="/")
    session.cookies.set("lang", "zh-CN", domain="127.0.0.1", path="/reader")
    page = session.get(server.url + "/reader/referrals", timeout=30)
    assert '<html lang="zh-CN">' in page.text and lang_set_cookies(page) == MOVED_TO_ZH
    assert lang_cookies(session) == [("/", "zh-CN")]
    assert '<html lang="zh-CN">' in session.get(server.url + "/programme", timeout=30).text
    # The shared cookie alone: a page sets no cookie (a lone cookie moves only at a sign-in or sign-out).
    assert lang_set_cookies(session.get(server.url + "/reader/referrals", timeout=30)) == []


def test_a_door_cookie_left_from_before_moves_at_the_programmes_sign_out(server):
    session = signed_in(server, door="/programme", name="lead")
    session.cookies.set("lang", "zh-CN", domain="127.0.0.1", path="/programme")
    page = session.get(server.url + "/programme", timeout=30)
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and lang_set_cookies(page) == []
    token = re.search(r'id="sign-out".*?name="csrf_token" value="([^"]+)"', page.text, re.S).group(1)
    answer = session.post(server.url + "/programme/sign-out", data={"csrf_token": token}, allow_redirects=False,
                          timeout=30)
    assert answer.status_code == 303 and lang_set_cookies(answer) == MOVED_TO_ZH
    assert lang_cookies(session) == [("/", "zh-CN")]


def test_a_door_cookie_naming_no_language_is_left_alone(server):
    """A cookie that names no language the server speaks is not made into a choice (the page answers in the
    browser's language, and no cookie claims it was chosen)."""
    session = requests.Session()
    session.cookies.set("lang", "fr", domain="127.0.0.1", path="/reader")
    signed_in(server, session)
    assert lang_set_cookies(session.signed_in) == []


def test_an_unknown_or_unreadable_referral_answers_a_page_and_the_log_names_the_row_by_id(server):
    session = signed_in(server)
    missing = session.get(server.url + "/reader/referrals/ILD-ZZZZZZZZZZ", timeout=30)
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/html")
    assert 'id="referral-missing"' in missing.text
    db = store.open_database(server.database_url)
    row_id, bundle = db.row("SELECT id, bundle FROM referrals WHERE code = :code", {"code": CODE}).values()
    try:
        with db.write():
            db.execute("UPDATE referrals SET bundle = '{}' WHERE code = :code", {"code": CODE})
        page = session.get(server.url + f"/reader/referrals/{CODE}", timeout=30)
        assert page.status_code == 500 and page.headers["Content-Type"].startswith("text/html")
        assert 'id="referral-unreadable"' in page.text and 'data-marker="discordant_hrct_reads"' in page.text
        api = requests.get(server.url + f"/api/v1/reader/referrals/{CODE}", headers=server.reader, timeout=30)
        assert api.status_code == 500 and api.json()["error"]["code"] == "referral_unreadable"
    finally:
        with db.write():
            db.execute("UPDATE referrals SET bundle = :bundle WHERE code = :code", {"bundle": bundle, "code": CODE})
        db.close()
    warnings = [line for line in server.output.splitlines() if "its stored bundle cannot be read (" in line]
    assert len(warnings) == 2 and all(f"referral id {row_id}:" in line for line in warnings)
    assert "unhandled" not in server.output
