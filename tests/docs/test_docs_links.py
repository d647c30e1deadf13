"""Every link of the README, docs/ and the packages' own pages works in a clone of the repository,
and no link leaves it except to a cited source.

The rule: a relative link must name a file or folder inside the repository, and its ``#anchor``
a heading of that Markdown file (GitHub's slugs). An ``http(s)`` link (inline, ``<autolink>`` or a
bare URL in prose) is allowed only to the hosts of :data:`CITED_SOURCE_HOSTS`: DOI and PubMed,
journal publishers, the standards the code cites (LOINC, UCUM, SNOMED, HL7 FHIR) and the homes of
the datasets the code downloads. URLs inside code (examples such as ``http://127.0.0.1:8080``) are
commands, not links, and are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]

CITED_SOURCE_HOSTS = frozenset({
    # literature
    "doi.org", "dx.doi.org", "pubmed.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov", "pmc.ncbi.nlm.nih.gov",
    "acrjournals.onlinelibrary.wiley.com", "onlinelibrary.wiley.com", "www.atsjournals.org",
    "erj.ersjournals.com", "journal.chestnet.org", "academic.oup.com", "www.thelancet.com", "www.nejm.org",
    "jamanetwork.com", "www.bmj.com", "ard.bmj.com", "www.nature.com", "link.springer.com",
    "www.sciencedirect.com", "journals.plos.org", "www.frontiersin.org", "www.mdpi.com", "arxiv.org",
    # standards cited by the code
    "loinc.org", "ucum.org", "unitsofmeasure.org", "snomed.info", "www.snomed.org", "hl7.org",
    "terminology.hl7.org",
    # homes of the datasets the code fetches or cites
    "bhichallenge.med.auth.gr", "data.mendeley.com",
})
# The SPRSound home is a repository on GitHub; no other GitHub page is a cited source.
CITED_SOURCE_PREFIXES = ("https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound",)

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]+`")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
BARE_URL = re.compile(r"(?<![(<\w])(https?://[^\s)<>\]]+)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def documents() -> list[Path]:
    """The README, docs/ and each package's own pages (audio_models/README.md, PROTOCOL.md, ...)."""
    packages = sorted(path for path in ROOT.glob("*/*.md") if not path.parent.name.startswith("."))
    return list(dict.fromkeys([ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *packages]))


def prose(text: str) -> str:
    """The text without code blocks, code spans and comments, where links are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", HTML_COMMENT.sub("", text)))


def links(text: str) -> list[str]:
    body = prose(text)
    found = INLINE_LINK.findall(body) + REFERENCE_DEFINITION.findall(body) + AUTOLINK.findall(body)
    found += [url.rstrip(".,;:") for url in BARE_URL.findall(INLINE_LINK.sub("", AUTOLINK.sub("", body)))]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to dashes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[`*_~]|<[^>]+>", "", text).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def link_problem(source: Path, target: str) -> str | None:
    """Why ``target``, linked from ``source``, breaks the rule; None when it is fine."""
    parsed = urlparse(target)
    if parsed.scheme in ("http", "https"):
        if parsed.hostname in CITED_SOURCE_HOSTS or target.startswith(CITED_SOURCE_PREFIXES):
            return None
        return f"leaves the repository to {parsed.hostname} (not a cited source)"
    if parsed.scheme or target.startswith("//"):
        return f"{parsed.scheme or 'protocol-relative'} link"
    path_part, _, anchor = target.partition("#")
    resolved = (source.parent / unquote(path_part)).resolve() if path_part else source
    if ROOT not in resolved.parents and resolved != ROOT:
        return "points outside the repository"
    if not resolved.exists():
        return "no such file"
    if anchor:
        if resolved.suffix != ".md":
            return "anchor into a file that is not Markdown"
        if anchor not in anchors(resolved):
            return f"no heading #{anchor} in {resolved.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository_or_to_a_cited_source(document):
    problems = [f"{target}: {problem}" for target in links(document.read_text(encoding="utf-8"))
                if (problem := link_problem(document, target))]
    assert not problems, f"{document.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_the_readme_links_to_the_architecture_page_in_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in prose(readme), "the README must not depend on files outside the repository"
    assert "docs/architecture.md" in links(readme) and "docs/models.md" in links(readme)


@pytest.mark.parametrize(("target", "reason"), [
    ("docs/nowhere.md", "no such file"),
    ("docs/models.md#no-such-heading", "no heading #no-such-heading"),
    ("../shared/ARCHITECTURE.md", "outside the repository"),
    ("https://example.com/page", "not a cited source"),
    ("https://github.com/someone/else", "not a cited source"),
    ("ftp://files.example/x", "ftp link"),
])
def test_broken_and_outside_links_are_named(target, reason):
    assert reason in link_problem(ROOT / "README.md", target)


@pytest.mark.parametrize("target", [
    "docs/models.md#4-install-activate-roll-back",
    "#installing-and-rolling-back-model-versions",
    "https://doi.org/10.1002/art.42860",
    "deploy/",
])
def test_good_links_pass(target):
    assert link_problem(ROOT / "README.md", target) is None


def test_links_in_code_are_examples_not_links():
    text = "Run `curl http://127.0.0.1:8080/healthz`.\n\n```sh\ncurl https://example.com\n```\nSee [x](a.md) and https://doi.org/10.1/x.\n"
    assert links(text) == ["a.md", "https://doi.org/10.1/x"]


def test_slugs_follow_github():
    assert slug("Quickstart: from `make run` to the first screening") == "quickstart-from-make-run-to-the-first-screening"
    assert slug("4. Install, activate, roll back") == "4-install-activate-roll-back"
