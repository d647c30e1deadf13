"""Whether a page's visible Chinese text has an English space between Chinese words (briefs h128, h133): the text
reader both servers' page checks use (``tests/edge/test_chinese_spacing.py``, the clinic's;
``tests/imaging_server/test_chinese_spacing_hospital.py``, the hospital's)."""
from __future__ import annotations

import html.parser
import re

from common.i18n import FULL_WIDTH

CJK = "\u3400-\u4dbf\u4e00-\u9fff"
#: An ASCII space between two Chinese characters, or beside full-width punctuation (the rule
#: ``common.i18n.lookup`` keeps inside one phrase), or after an ASCII comma, semicolon or colon between Chinese words
#: (Chinese takes the full-width ones, with no space: ``join_list``, ``join_groups``).
SPACE_IN_CHINESE = re.compile(f"(?<=[{CJK}])( +)(?=[{CJK}])|(?<=[{FULL_WIDTH}])( +)(?=\\S)|(?<=\\S)( +)(?=[{FULL_WIDTH}])"
                              f"|(?<=[{CJK}][,;:])( +)(?=[{CJK}])")
#: Elements that start a new line (or box) of text (labels are blocks in edge/static/app.css, the choices' wrap an
#: input): the whitespace around them is not a space a reader sees between words.
BREAKING = {"address", "article", "aside", "blockquote", "br", "button", "caption", "dd", "details", "dialog", "div",
            "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
            "header", "hr", "input", "label", "legend", "li", "main", "nav", "ol", "option", "p", "pre", "section",
            "select", "summary", "table", "td", "textarea", "th", "tr", "ul", "img", "meter", "progress", "title"}
HIDDEN = {"script", "style", "template"}
BREAK = "\x00"


class VisibleText(html.parser.HTMLParser):
    """A page's text as a browser lays it out: runs of whitespace are one space, each block its own line."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in HIDDEN:
            self.hidden += 1
        elif tag in BREAKING:
            self.parts.append(BREAK)

    def handle_endtag(self, tag):
        if tag in HIDDEN:
            self.hidden -= 1
        elif tag in BREAKING:
            self.parts.append(BREAK)

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)

    def lines(self) -> list[str]:
        text = "".join(self.parts)
        return [line for line in (re.sub(r"\s+", " ", block).strip() for block in text.split(BREAK)) if line]


#: Spaces that are meant, each with why: a match of one of these (around the marked space) is not reported.
DELIBERATE = (
    # The pages' separator between the items of a line (" · "), in every language: a Latin middle dot set off by
    # spaces as in English, whatever stands before it (a sentence's 。, a full-width bracket).
    re.compile(r"␣·|·␣"),
)


def spaces_in_chinese(page: str, *, also_allowed: tuple = ()) -> list[str]:
    """Each line of ``page``'s visible text that spaces two Chinese characters apart, the space marked ``␣``;
    ``also_allowed``: patterns of a check's own deliberate spaces (as ``DELIBERATE``), e.g. words a person typed."""
    parser = VisibleText()
    parser.feed(page)
    found = []
    for line in parser.lines():
        for match in SPACE_IN_CHINESE.finditer(line):
            start = max(0, match.start() - 20)
            spot = line[start:match.start()] + "␣" + line[match.end():match.end() + 20]
            if not any(allowed.search(spot) for allowed in (*DELIBERATE, *also_allowed)):
                found.append(spot)
    return found
