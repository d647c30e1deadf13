"""The two servers' page languages (English and Simplified Chinese): which one a request wants,
and a catalog lookup. Each server keeps its own catalog of words; this is the shared plumbing."""
from __future__ import annotations

from flask import Response, request

LANGUAGES = ("en", "zh-CN")
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 24 * 3600  # a person's choice lasts a year on that browser


def negotiate_language() -> str:
    """The request's language: the ``lang`` cookie, else Accept-Language, else English."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "zh-CN" if best and best.startswith("zh") else "en"


def remember_language(response: Response, code: str, *, path: str = "/") -> Response:
    """``response`` (a language switch's redirect) setting the ``lang`` cookie to ``code`` for the pages
    under ``path`` (SameSite=Lax: a link from elsewhere still opens the page in the chosen language;
    Secure over HTTPS), unless ``code`` is not one of ``LANGUAGES`` (then no cookie: the caller says why)."""
    if code in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=LANGUAGE_COOKIE_MAX_AGE_S, samesite="Lax",
                            secure=request.is_secure, path=path)
    return response


def lookup(catalog: dict[str, dict[str, str]], key: str, lang: str, **values) -> str:
    """``catalog[key]`` in ``lang`` (English when missing), filled with ``values``; the key itself
    when the catalog has no such entry (visible, so a missing word is noticed)."""
    entry = catalog.get(key)
    if entry is None:
        return key
    return entry.get(lang, entry["en"]).format(**values)
