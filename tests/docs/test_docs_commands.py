"""Every Markdown page of the repository is free of merge-conflict markers, and every
``ildscreen ...`` command it shows in code exists in the command line (issue 26: the README
carried conflict markers and its tests passed anyway).

A command is read from code spans and code blocks only: after ``ildscreen`` (alone, or at the
end of a path such as ``.venv/bin/ildscreen``) each lower-case word must name a subcommand of
the group before it, until a command (not a group) is reached or an option, a placeholder
(``NAME``, ``[--json]``) or the end of the command comes.
"""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from edge.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# ``ildscreen`` as a command: not part of a word, a file name (ildscreen.pid) or a path segment.
INVOCATION = re.compile(r"(?:^|(?<=[\s(\"'=/]))ildscreen((?:[ \t]+[a-z][a-z0-9-]*\b(?![./]))+)")
SHELL_COMMENT = re.compile(r"(?:^|\s)#")
SKIPPED_FOLDERS = {".git", ".venv", ".venv-ort122", "node_modules", ".ci"}


def markdown_pages() -> list[Path]:
    pages = []
    for path in sorted(ROOT.rglob("*.md")):
        relative = path.relative_to(ROOT)
        if not SKIPPED_FOLDERS.intersection(relative.parts):
            pages.append(path)
    return pages


def code_of(text: str) -> list[str]:
    """The code blocks and code spans of a Markdown text."""
    blocks = [match.group(2) for match in FENCE.finditer(text)]
    return blocks + CODE_SPAN.findall(FENCE.sub("", text))


def unknown_commands(code: str) -> list[str]:
    """The ``ildscreen`` invocations in ``code`` that name a subcommand the CLI does not have."""
    problems = []
    for line in code.splitlines():
        line = SHELL_COMMENT.split(line)[0]  # a shell comment is prose
        for match in INVOCATION.finditer(line):
            words = match.group(1).split()
            node: click.Command = cli
            path = ["ildscreen"]
            for word in words:
                if not isinstance(node, click.Group):
                    break
                child = node.commands.get(word)
                if child is None:
                    problems.append(f"{' '.join(path)} has no command {word!r} (in: {line.strip()})")
                    break
                node = child
                path.append(word)
    return problems


def test_the_pages_are_found():
    names = {page.relative_to(ROOT).as_posix() for page in markdown_pages()}
    assert {"README.md", "deploy/README.md", "docs/reference/cli.md", "imaging_server/README.md"} <= names


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: page.relative_to(ROOT).as_posix())
def test_no_page_has_merge_conflict_markers(page):
    markers = [f"line {page.read_text(encoding='utf-8')[:m.start()].count(chr(10)) + 1}: {m.group(0).strip()}"
               for m in CONFLICT_MARKER.finditer(page.read_text(encoding="utf-8"))]
    assert markers == [], f"{page.relative_to(ROOT)} has merge-conflict markers: {markers}"


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_command_a_page_shows_exists(page):
    problems = [problem for code in code_of(page.read_text(encoding="utf-8")) for problem in unknown_commands(code)]
    assert problems == [], f"{page.relative_to(ROOT)} shows commands the CLI does not have:\n" + "\n".join(problems)


@pytest.mark.parametrize(("code", "found"), [
    ("ildscreen serve --port 8080", []),
    (".venv/bin/ildscreen db restore BACKUP.db --data-dir DRILL", []),
    ("ildscreen imaging-server clinics add NAME", []),
    ("docker compose exec edge ildscreen users add nurse1 --role nurse", []),
    ("ildscreen.pid beside /opt/ildscreen/deploy and ildscreen-ct", []),
    ("ildscreen db reset", ["ildscreen db has no command 'reset'"]),
    ("# 4. the ildscreen commands run inside\nildscreen serve  # then ildscreen does it", []),
    ("sudo ildscreen imaging-server clinic add x", ["ildscreen imaging-server has no command 'clinic'"]),
])
def test_the_checker_finds_commands_that_do_not_exist(code, found):
    assert [problem.split(" (in:")[0] for problem in unknown_commands(code)] == found


def test_the_marker_check_finds_a_conflict():
    assert CONFLICT_MARKER.findall("text\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> branch\n") == [
        "<<<<<<<", "=======", ">>>>>>>"]
    assert CONFLICT_MARKER.findall("| a |\n|===|\n======== heading underline\n") == []
