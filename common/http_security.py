"""Security headers, cookie hardening and the browser forms' guards for both servers, in one place.

Every page and API answer of the clinic service and of the hospital server may show patient or
programme data, so none is cached: Back after signing out reloads from the server instead of
showing an old page. Only static assets stay cacheable. Cookies are marked Secure whenever the
request came over HTTPS (waitress rewrites the scheme from X-Forwarded-Proto only for the
configured trusted proxy) or the service is configured to always mark them.

The sign-in forms of both servers (the tablet's login, the hospital's programme and reader doors)
carry a CSRF token that no session backs yet (:class:`LoginFormToken`), and where a form sends the
browser after signing in (``next``) is checked by one rule (:func:`safe_next`).
"""
from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import unquote

from flask import Flask, Response, request

# Scripts and styles come only from /static (no inline code), nothing may frame a page, and
# the pages talk to no other host. Inline SVG presentation attributes are not styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def register_security_headers(app: Flask, *, secure_cookies: Callable[[], bool]) -> None:
    """Add the headers to every response, ``no-store`` to all but static files, and ``Secure``
    to every cookie set over HTTPS or when ``secure_cookies()`` says so."""

    @app.after_request
    def add_security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if secure_cookies() or request.is_secure:
            cookies = response.headers.getlist("Set-Cookie")
            if cookies:
                response.headers.remove("Set-Cookie")
                for cookie in cookies:
                    secure = "; secure" in cookie.lower()
                    response.headers.add("Set-Cookie", cookie if secure else cookie + "; Secure")
        return response


#: The form field that carries a CSRF token back, in both servers' forms.
CSRF_FIELD = "csrf_token"


def tokens_match(expected: Optional[str], presented: Optional[str]) -> bool:
    """Whether a form sent back the token expected: both present and equal, compared in constant time
    (as bytes: ``hmac.compare_digest`` raises on a str with a non-ASCII character, which a forged form may send)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), presented.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class LoginFormToken:
    """The CSRF token of a sign-in form, which no session backs yet ("double submit"): a random value
    that the page puts both in a cookie (HttpOnly, SameSite=Strict, limited to ``path``; for this
    browser session only) and in the form. A sign-in whose two differ or lack one is refused before
    its password is checked, so another site cannot sign a browser in under someone else's name."""

    cookie: str
    path: str = "/"

    def issue(self, render: Callable[[str], Response]) -> Response:
        """``render(token)``, the form carrying a fresh token, with the token's cookie set on it."""
        token = secrets.token_urlsafe(24)
        response = render(token)
        response.set_cookie(self.cookie, token, httponly=True, samesite="Strict", secure=request.is_secure,
                            path=self.path)
        return response

    def sent_back(self) -> bool:
        """Whether this request's form (field :data:`CSRF_FIELD`) carries the token of its cookie."""
        return tokens_match(request.cookies.get(self.cookie), request.form.get(CSRF_FIELD))

    def clear(self, response: Response) -> Response:
        """``response`` deleting the token's cookie (once signed in, the session's own token takes over)."""
        response.delete_cookie(self.cookie, path=self.path)
        return response


# A path of this site: one leading slash not followed by another slash or a backslash (browsers
# read "/\\evil.com" as "//evil.com"), and no backslash or control character anywhere.
SAME_ORIGIN_PATH = re.compile(r"^/(?![/\\])[^\\\x00-\x1f\x7f]*$")
# Percent-decodings checked: "/%255C" decodes to "/%5C", then to "/\\"; a deeper one is refused.
PERCENT_LAYERS = 3


def safe_next(target: Optional[str], *, fallback: str, under: str = "/") -> str:
    """``target`` when it is a path of this site at or below ``under`` (``"/reader"``: ``/reader`` or
    ``/reader/...``), however percent-encoded, else ``fallback``: never another host, scheme or
    ``//``, and no way out of ``under`` through dot segments (``/reader/%2e%2e/programme``)."""
    layer = target
    for _ in range(PERCENT_LAYERS):
        if not layer or not SAME_ORIGIN_PATH.match(layer) or not _at_or_below(layer, under):
            return fallback
        decoded = unquote(layer)
        if decoded == layer:
            return target
        layer = decoded
    return fallback


def _at_or_below(target: str, under: str) -> bool:
    """Whether ``target``'s path (before any ``?`` or ``#``), its dot segments resolved as a browser
    resolves them (RFC 3986 section 5.2.4), is ``under`` or below it."""
    segments = re.split(r"[?#]", target, maxsplit=1)[0].split("/")[1:]
    resolved: list[str] = []
    for segment in segments:
        if segment == "..":
            resolved = resolved[:-1]
        elif segment != ".":
            resolved.append(segment)
    path = "/" + "/".join(resolved)
    if resolved and segments[-1] in (".", ".."):
        path += "/"  # "/reader/x/.." is "/reader/"
    root = under.rstrip("/")
    return path == root or path.startswith(root + "/")
