"""The tree passes ruff's pyflakes checks and has no syntax error: ``python -m ruff check .`` with the
``[tool.ruff]`` settings of pyproject.toml (undefined names, unused imports and variables,
redefinitions), ruff pinned in the dev extra. CI runs it here, as part of the test suite."""
import ast
import collections
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    if importlib.util.find_spec("ruff") is None:
        message = "ruff is not installed (it is in the dev extra: pip install -e '.[dev]')"
        # Under CI a missing linter must not pass as a skipped test.
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    # --no-cache: a test writes nothing into the checkout.
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_test_module_defines_a_test_or_fixture_twice():
    """The tests are exempt from ruff's F811 (a fixture imported by name is a test's parameter, which
    pyflakes reads as a redefinition); what F811 would also catch there is a second function of the
    same name, which silently replaces the first so that it never runs. Checked here instead."""
    twice = []
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scopes = [tree.body] + [node.body for node in tree.body if isinstance(node, ast.ClassDef)]
        for body in scopes:
            names = collections.Counter(node.name for node in body
                                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
            twice += [f"{path.relative_to(ROOT)}: {name}" for name, count in names.items() if count > 1]
    assert not twice, twice
