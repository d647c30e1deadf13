"""The sign-in pages of the hospital server's people, shared by the programme view and the reader pages.

One form (``templates/sign_in.html``) that each door words and points at its own route
(:class:`SignInPage`), one lockout policy from the settings, one way to answer a locked name (429
with Retry-After: the form saying how long to wait, or JSON for a client that asks for it), and one
session cookie: HttpOnly, SameSite=Strict, limited to its door's path and Secure over HTTPS (and
always under the ``secure_cookies`` setting, :mod:`common.http_security`).

The reader pages' forms also carry a CSRF token. The sign-in form's is a random value that the page
puts both in a cookie (HttpOnly, SameSite=Strict, the door's path) and in the form; a sign-in whose
two differ or lack one is refused before its password is checked, so another site cannot sign a
browser in under someone else's name. A signed-in page's (sign-out) token is derived from the session
id (:func:`session_form_token`), which only the browser holding the cookie knows.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable, Optional

from flask import Response, current_app, jsonify, render_template, request

from common.lockout import LockoutPolicy
from imaging_server.browser_sign_in import MAX_PASSWORD_LENGTH, SESSION_HOURS
from imaging_server.errors import TooManyAttempts, ValidationError

SESSION_MAX_AGE_S = SESSION_HOURS * 3600  # the cookie lasts as long as the server-side session
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SignInPage:
    """How one door's sign-in form reads (catalog keys of :mod:`imaging_server.programme_i18n`) and
    where it posts (``sign_in_endpoint``); ``language_endpoint``: its language switch, if it has one."""

    title_key: str
    heading_key: str
    intro_key: str
    sign_in_endpoint: str
    language_endpoint: Optional[str] = None


def lockout_policy(settings) -> LockoutPolicy:
    """The one lockout of every door's sign-in, from the settings."""
    return LockoutPolicy(settings.programme_sign_in_lockout_threshold, settings.programme_sign_in_lockout_minutes)


def sign_in_form(page: SignInPage, context: dict, *, message_key: Optional[str] = None,
                 message_values: Optional[dict] = None, status: int = 401, form_token: Optional[str] = None):
    """The sign-in form as a response (``context``: the page's :func:`programme_i18n.page_context`)."""
    return current_app.make_response((render_template(
        "sign_in.html", door=page, message_key=message_key, message_values=message_values, form_token=form_token,
        **context), status))


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


def set_session_cookie(response, cookie: str, session_id: str, path: str):
    """The session's cookie on ``response``, limited to ``path``."""
    response.set_cookie(cookie, session_id, httponly=True, samesite="Strict", secure=request.is_secure, path=path,
                        max_age=SESSION_MAX_AGE_S)
    return response


def sign_in_form_with_token(page: SignInPage, context: dict, cookie: str, path: str, **form):
    """:func:`sign_in_form` carrying a fresh random CSRF token, also set as ``cookie`` (HttpOnly,
    SameSite=Strict, ``path``; for this browser session only)."""
    token = secrets.token_urlsafe(24)
    response = sign_in_form(page, context, form_token=token, **form)
    response.set_cookie(cookie, token, httponly=True, samesite="Strict", secure=request.is_secure, path=path)
    return response


def tokens_match(expected: Optional[str], presented: Optional[str]) -> bool:
    """Whether a form sent back the token expected (both present and equal, compared in constant time)."""
    return bool(expected) and bool(presented) and hmac.compare_digest(expected, presented)


def session_form_token(session_id: str) -> str:
    """The CSRF token of a signed-in page's forms: derived from the session id, which only the browser
    holding the session cookie knows (the store keeps the id's plain SHA-256, which does not give it)."""
    return hmac.new(session_id.encode(), b"ildscreen form", hashlib.sha256).hexdigest()
