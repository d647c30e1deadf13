"""The two servers' page languages (English and Simplified Chinese): which one a request wants,
a catalog lookup, and how a page joins what it shows side by side (:func:`separators`). Each server keeps
its own catalog of words; this is the shared plumbing."""
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


#: How each language follows one sentence with the next: Chinese sentences take no space.
SENTENCE_SEPARATORS = {"en": " ", "zh-CN": ""}


def join_sentences(sentences, lang: str) -> str:
    """``sentences`` (already in ``lang``, each with its full stop) as one text in ``lang``."""
    return SENTENCE_SEPARATORS.get(lang, SENTENCE_SEPARATORS["en"]).join(sentences)


#: How each language sets apart two pieces a page shows side by side on one line, neither of them a sentence
#: (on the tablet: a step and its state, a take's verdict and its crackle probability, a visit's status and its
#: tier and the next PFTs due; at the hospital: a referral's must-not-miss markers): a space in English; the
#: full-width comma in Chinese, which has no spaces between words, so a bare join would run the two together
#: ("进行中高", in progress + high).
PIECE_SEPARATORS = {"en": " ", "zh-CN": "，"}


#: How each language puts a label before its value ("Chest piece: Bell"): the full-width colon, no space, in Chinese.
LABEL_SEPARATORS = {"en": ": ", "zh-CN": "："}


def separators(lang: str) -> dict[str, str]:
    """What a page puts between two things it shows side by side in ``lang`` (the pieces may sit in elements of
    their own, so the page puts the separator between the elements): ``sentence`` after a sentence (or a badge
    before its sentence), ``piece`` between two pieces of a line (``PIECE_SEPARATORS``), ``label`` between a label
    and its value (``LABEL_SEPARATORS``). Both servers' templates get it as ``gap``: a template never writes a bare
    space between two phrases, which Chinese has none of."""
    return {name: table.get(lang, table["en"]) for name, table in (
        ("sentence", SENTENCE_SEPARATORS), ("piece", PIECE_SEPARATORS), ("label", LABEL_SEPARATORS))}
