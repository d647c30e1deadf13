"""Security headers and cookie hardening for both servers' responses, in one place.

Every page and API answer of the clinic service and of the hospital server may show patient or
programme data, so none is cached: Back after signing out reloads from the server instead of
showing an old page. Only static assets stay cacheable. Cookies are marked Secure whenever the
request came over HTTPS (waitress rewrites the scheme from X-Forwarded-Proto only for the
configured trusted proxy) or the service is configured to always mark them.
"""
from __future__ import annotations

from typing import Callable

from flask import Flask, request

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
