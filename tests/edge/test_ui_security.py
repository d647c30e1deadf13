"""Security headers of a real ``ildscreen serve``: every response, pages and API alike.

Protects the shared tablet: nothing cached (Back after logout or a recalculation reloads
from the server), no framing, no inline script, no sniffing, no Referer leaving the page,
and cookies marked Secure whenever the request came over HTTPS.
"""
from __future__ import annotations

import pytest
import requests

from served import ServedProcess, run_cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("served") / "data"
    run_cli(data_dir, "db", "init")
    run_cli(data_dir, "users", "add", "nurse1", "--role", "nurse", "--password-stdin", input="nurse password 1\n")
    process = ServedProcess(data_dir)
    yield process
    process.stop()


PATHS = ["/login", "/", "/patients/new", "/api/v1/auth/me", "/api/v1/patients", "/healthz", "/readyz", "/nowhere",
         "/api/v1/nowhere"]


@pytest.mark.parametrize("path", PATHS)
def test_every_response_carries_the_security_headers_and_is_never_cached(served, path):
    response = requests.get(served.url + path, allow_redirects=False, timeout=10)
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_static_assets_keep_the_headers_but_may_be_cached(served):
    response = requests.get(served.url + "/static/app.js", timeout=10)
    assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_no_page_has_inline_script_or_style(served):
    page = requests.get(served.url + "/login", timeout=10).text
    assert "<script>" not in page and " onclick=" not in page and "<style" not in page and ' style="' not in page


def _login_cookies(served, headers=None) -> list[str]:
    response = requests.get(served.url + "/login", headers=headers or {}, timeout=10)
    return [value for name, value in response.raw.headers.items() if name.lower() == "set-cookie"]


def test_cookies_over_plain_http_on_loopback_are_not_marked_secure(served):
    cookies = _login_cookies(served)
    assert cookies and not any("secure" in cookie.lower() for cookie in cookies)


def test_cookies_through_the_tls_proxy_are_secure_including_the_login_csrf_cookie(served):
    cookies = _login_cookies(served, {"X-Forwarded-Proto": "https"})
    assert any(cookie.startswith("ildscreen_login_csrf=") for cookie in cookies)
    assert all("; Secure" in cookie for cookie in cookies)
    page = requests.get(served.url + "/login", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    # A browser sends a Secure cookie back over HTTPS only; requests (over plain HTTP) needs it spelt out.
    login = requests.post(served.url + "/login", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False,
                          cookies={"ildscreen_login_csrf": token},
                          data={"csrf_token": token, "username": "nurse1", "password": "nurse password 1"}, timeout=10)
    session_cookie = [v for n, v in login.raw.headers.items() if n.lower() == "set-cookie" and "ildscreen_session" in v]
    assert login.status_code == 302 and session_cookie and "; Secure" in session_cookie[0]


def test_back_after_logout_reloads_and_asks_to_log_in(served):
    session = requests.Session()
    page = session.get(served.url + "/login", timeout=10)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    session.post(served.url + "/login", data={"csrf_token": token, "username": "nurse1",
                                              "password": "nurse password 1"}, timeout=10)
    home = session.get(served.url + "/", timeout=10)
    assert home.status_code == 200 and home.headers["Cache-Control"] == "no-store"
    csrf = home.text.split('name="csrf-token" content="')[1].split('"')[0]
    session.post(served.url + "/logout", data={"csrf_token": csrf}, timeout=10)
    again = session.get(served.url + "/", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/login" in again.headers["Location"]


def test_the_login_forms_cookie_is_deleted_once_logged_in_and_its_token_cannot_log_in_again(served):
    """The login form's CSRF cookie (common.http_security.LoginFormToken) goes at a successful login, as
    at the hospital's sign-in doors: the session's own token takes over. The same form posted again then
    carries a token no cookie backs, so it is refused like any login without its form's token."""
    session = requests.Session()
    page = session.get(served.url + "/login", timeout=10)
    assert "ildscreen_login_csrf" in session.cookies
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "username": "nurse1", "password": "nurse password 1"}
    login = session.post(served.url + "/login", data=form, allow_redirects=False, timeout=10)
    set_cookies = [v for n, v in login.raw.headers.items() if n.lower() == "set-cookie"]
    assert login.status_code == 302 and any(cookie.startswith("ildscreen_session=") for cookie in set_cookies)
    deleted = [cookie for cookie in set_cookies if cookie.startswith("ildscreen_login_csrf=")]
    assert deleted and deleted[0].startswith('ildscreen_login_csrf=;') and "Max-Age=0" in deleted[0], set_cookies
    assert "ildscreen_login_csrf" not in session.cookies and "ildscreen_session" in session.cookies
    again = session.post(served.url + "/login", data=form, allow_redirects=False, timeout=10)
    assert again.status_code == 403 and "ildscreen_session" not in again.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("case", ["no token", "wrong token", "no cookie", "non-ASCII token"])
def test_a_login_without_its_forms_token_is_refused_before_the_password_is_checked(served, case):
    """Login CSRF (common.http_security.LoginFormToken, shared with the hospital's sign-in forms): the
    form's token must come back in the field and the cookie alike; a non-ASCII one is a 403, not a 500."""
    session = requests.Session()
    page = session.get(served.url + "/login", timeout=10)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "username": "nurse1", "password": "nurse password 1"}
    if case == "no token":
        del form["csrf_token"]
    elif case == "wrong token":
        form["csrf_token"] = token[::-1]
    elif case == "no cookie":
        session.cookies.clear()
    else:
        form["csrf_token"] = "é" * len(token)
    refused = session.post(served.url + "/login", data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    assert "ildscreen_session" not in refused.headers.get("Set-Cookie", "")
