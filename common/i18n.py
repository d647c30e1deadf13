"""The two servers' page languages (English and Simplified Chinese): which one a request wants,
and a catalog lookup. Each server keeps its own catalog of words; this is the shared plumbing."""
from __future__ import annotations

import re

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


#: Full-width punctuation as character ranges: CJK symbols and punctuation, and the full-width forms' punctuation.
FULL_WIDTH = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
#: ASCII spaces touching full-width punctuation (（）：；，。、 and the like). A Chinese
#: sentence spaces a Latin value off its characters (``经 {device} 的录音``), but a value that ends in a
#: full-width bracket (``Littmann 3200（钟型面）``) must not then be followed by a space: Chinese text has
#: none around full-width punctuation.
SPACE_BY_FULL_WIDTH_PUNCTUATION = re.compile(f" +(?=[{FULL_WIDTH}])|(?<=[{FULL_WIDTH}]) +")


def lookup(catalog: dict[str, dict[str, str]], key: str, lang: str, **values) -> str:
    """``catalog[key]`` in ``lang`` (English when missing), filled with ``values``; the key itself
    when the catalog has no such entry (visible, so a missing word is noticed). Chinese text drops the
    ASCII spaces a filled value leaves beside full-width punctuation (``SPACE_BY_FULL_WIDTH_PUNCTUATION``)."""
    entry = catalog.get(key)
    if entry is None:
        return key
    text = entry.get(lang, entry["en"]).format(**values)
    return SPACE_BY_FULL_WIDTH_PUNCTUATION.sub("", text) if lang.startswith("zh") else text
