"""Every Markdown page of the repository is free of merge-conflict markers, and every
``ildscreen ...`` command it shows in code exists in the command line (issue 26: the README
carried conflict markers and its tests passed anyway).

A command is read from code spans and code blocks only: after ``ildscreen`` (alone, or at the
end of a path such as ``.venv/bin/ildscreen``) each lower-case word must name a subcommand of
the group before it, until a command (not a group) is reached or an option, a placeholder
(``NAME``, ``[--json]``) or the end of the command comes. Every ``--option`` shown after the command
(up to the next ``&&``, ``;`` or pipe) must be one it takes, and a choice list shown with it
(``--role nurse|clinician``) only values it accepts (a newcomer copies them as written).
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


# Where one shell command ends and the next begins: `&&`, `||`, `;`, or a pipe that is not part of a
# shown choice list (`adults|children`, `nurse\|clinician` in a table).
COMMAND_END = re.compile(r"&&|\|\||;|(?<![\\\w.-])\|(?![\w.-])")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?:[ =]([\w.-]+(?:\\?\|[\w.-]+)+))?")


def unknown_options(code: str) -> list[str]:
    """The options of ``ildscreen`` commands in ``code`` that the command does not take, and the values
    of a shown choice list (``--population adults|children``) that it does not accept."""
    problems = []
    for line in code.splitlines():
        line = SHELL_COMMENT.split(line)[0]
        for match in INVOCATION.finditer(line):
            node: click.Command = cli
            for word in match.group(1).split():
                if not isinstance(node, click.Group) or word not in node.commands:
                    break
                node = node.commands[word]
            if isinstance(node, click.Group):
                continue
            params = {name: param for param in node.params for name in (*param.opts, *param.secondary_opts)}
            for option in OPTION.finditer(COMMAND_END.split(line[match.end():])[0]):
                name, shown = option.group(1), option.group(2)
                if name not in params:
                    problems.append(f"ildscreen {node.name} has no option {name} (in: {line.strip()})")
                elif shown and isinstance(params[name].type, click.Choice):
                    refused = [value for value in shown.replace("\\|", "|").split("|")
                               if value not in params[name].type.choices]
                    if refused:
                        problems.append(f"ildscreen {node.name} {name} does not accept {refused} (in: {line.strip()})")
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


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_option_a_page_shows_is_taken_by_its_command(page):
    problems = [problem for code in code_of(page.read_text(encoding="utf-8")) for problem in unknown_options(code)]
    assert problems == [], f"{page.relative_to(ROOT)} shows options the CLI does not take:\n" + "\n".join(problems)


@pytest.mark.parametrize(("code", "found"), [
    ("ildscreen audio evaluate --data ../shared/data --population adults --json", []),
    ("ildscreen screen --ctd SSc\\|RA\\|undetermined --age N", []),
    ("ildscreen db backup --data-dir D && ildscreen users list --json", []),
    ("ildscreen users add NAME --role nurse\\|doctor", ["ildscreen add --role does not accept ['doctor']"]),
    ("ildscreen outcomes simulate --patient 300", ["ildscreen simulate has no option --patient"]),
])
def test_the_checker_finds_options_that_commands_do_not_take(code, found):
    assert [problem.split(" (in:")[0] for problem in unknown_options(code)] == found


def test_the_marker_check_finds_a_conflict():
    assert CONFLICT_MARKER.findall("text\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> branch\n") == [
        "<<<<<<<", "=======", ">>>>>>>"]
    assert CONFLICT_MARKER.findall("| a |\n|===|\n======== heading underline\n") == []
