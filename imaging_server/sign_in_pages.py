"""The sign-in pages of the hospital server's people, shared by the programme view and the reader pages.

One form (``templates/sign_in.html``) that each door words and points at its own route
(:class:`SignInPage`), one lockout policy from the settings, one way to answer a locked name (429
with Retry-After: the form saying how long to wait, or JSON for a client that asks for it), and one
session cookie: HttpOnly, SameSite=Strict, limited to its door's path and Secure over HTTPS (and
always under the ``secure_cookies`` setting, :mod:`common.http_security`).

Both doors' forms carry a CSRF token, checked before anything is counted, audited or ended. The
sign-in form's is the login-form token both servers use (:class:`common.http_security.LoginFormToken`:
a random value in a cookie limited to the door's path and in the form), so another site cannot sign
a browser in under someone else's name; a sign-in without it answers 403 with a fresh form. A
signed-in page's (sign-out) token is derived from the session id (:func:`session_form_token`), which
only the browser holding the cookie knows; a sign-out without it is a 403 and the session stays.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable, Optional

from flask import Response, current_app, jsonify, render_template, request

from common.http_security import CSRF_FIELD, LoginFormToken, tokens_match
from common.lockout import LockoutPolicy
from common.passwords import MAX_PASSWORD_LENGTH
from imaging_server.browser_sign_in import SESSION_HOURS
from imaging_server.errors import Forbidden, TooManyAttempts, ValidationError
from imaging_server.programme_i18n import settle_page_language

SESSION_MAX_AGE_S = SESSION_HOURS * 3600  # the cookie lasts as long as the server-side session


@dataclass(frozen=True)
class SignInPage:
    """One door's pages: how its sign-in form reads (catalog keys of :mod:`imaging_server.programme_i18n`),
    where it posts (``sign_in_endpoint``), the path its cookies are limited to (``path``), the cookie
    of its session (``session_cookie``) and of its sign-in form's CSRF token (``form_cookie``);
    ``language_endpoint``: its language switch, if it has one."""

    title_key: str
    heading_key: str
    intro_key: str
    sign_in_endpoint: str
    path: str
    session_cookie: str
    form_cookie: str
    language_endpoint: Optional[str] = None

    @property
    def form_token(self) -> LoginFormToken:
        return LoginFormToken(self.form_cookie, self.path)


def lockout_policy(settings) -> LockoutPolicy:
    """The one lockout of every door's sign-in, from the settings."""
    return LockoutPolicy(settings.sign_in_lockout_threshold, settings.sign_in_lockout_minutes)


def sign_in_form(page: SignInPage, context: dict, *, message_key: Optional[str] = None,
                 message_values: Optional[dict] = None, status: int = 401, next_path: Optional[str] = None):
    """The sign-in form as a response carrying a fresh CSRF token (``context``: the page's
    :func:`programme_i18n.page_context`; ``next_path``: where the form asks to go once signed in)."""
    return page.form_token.issue(lambda token: current_app.make_response((render_template(
        "sign_in.html", door=page, message_key=message_key, message_values=message_values, form_token=token,
        next_path=next_path, **context), status)))


def sign_in_token_sent_back(page: SignInPage) -> bool:
    """Whether a sign-in posted to ``page``'s door carries its form's CSRF token (cookie and field)."""
    return page.form_token.sent_back()


def too_many_attempts(exc: TooManyAttempts, show_form: Callable[..., Response]) -> Response:
    """429 with Retry-After: JSON for a client that asks for it, else the door's sign-in form
    (``show_form``, taking :func:`sign_in_form`'s keyword options) saying how long to wait in whole minutes."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        body = exc.to_json()
        body["error"]["retry_after_s"] = exc.retry_after_s
        response = jsonify(body)
        response.status_code = 429
    else:
        minutes = max(1, -(-exc.retry_after_s // 60))
        response = show_form(message_key="too_many_attempts", message_values={"minutes": minutes}, status=429)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def refused_form(exc: ValidationError, show_form: Callable[..., Response]) -> Response:
    """422: the door's sign-in form (``show_form``) saying what was wrong with the input, an empty
    name or an overlong password (:meth:`SignInDoor.sign_in` stored nothing then)."""
    fields = [item["field"] for item in exc.fields]
    key = "name_required" if "name" in fields else "password_too_long"
    return show_form(message_key=key, message_values={"max": MAX_PASSWORD_LENGTH}, status=422)


def signed_in(page: SignInPage, response: Response, session_id: str) -> Response:
    """``response`` setting the session's cookie, limited to the door's path, and deleting the sign-in
    form's CSRF cookie (the session's own token takes over); a ``lang`` cookie an older version left at the
    door moves to the server's one (:func:`imaging_server.programme_i18n.settle_page_language`)."""
    settle_page_language(response, moving=True)
    page.form_token.clear(response)
    response.set_cookie(page.session_cookie, session_id, httponly=True, samesite="Strict", secure=request.is_secure,
                        path=page.path, max_age=SESSION_MAX_AGE_S)
    return response


def session_form_token(session_id: str) -> str:
    """The CSRF token of a signed-in page's forms: derived from the session id, which only the browser
    holding the session cookie knows (the store keeps the id's plain SHA-256, which does not give it)."""
    return hmac.new(session_id.encode(), b"ildscreen form", hashlib.sha256).hexdigest()


def check_sign_out(page: SignInPage, session_id: Optional[str]) -> None:
    """Raise ``Forbidden`` unless the sign-out form carries the token of the session ``session_id``
    (None: no session, so no token can match).

    Raises
    ------
    Forbidden
        No session, or the form's CSRF token is missing or not the session's: nothing is ended.
    """
    if session_id is None or not tokens_match(session_form_token(session_id), request.form.get(CSRF_FIELD)):
        raise Forbidden(f"sign out from a page of {page.path}: the form's CSRF token is missing or wrong")


def signed_out(page: SignInPage, response: Response) -> Response:
    """``response`` deleting the door's session cookie; a ``lang`` cookie an older version left at the door
    moves to the server's one, as at sign-in."""
    settle_page_language(response, moving=True)
    response.delete_cookie(page.session_cookie, path=page.path)
    return response
