"""The serving code runs on Python 3.10-3.12 (JetPack 6 ships 3.10; this machine has 3.11 only).

Only 3.11 is installed here, so the other versions are checked statically: vermin finds any
syntax, module or function newer than 3.10, and the imports are checked against the
standard-library modules removed in 3.12 and 3.13.
"""
import ast
import pathlib
import re
import subprocess
import sys
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("common", "edge", "audio_models", "tabular_models", "firmware_interface", "imaging_client", "imaging_server",
            "evaluation", "federated")
REMOVED = {"distutils", "imp", "asynchat", "asyncore", "smtpd",  # 3.12
           "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib", "nis", "nntplib",
           "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib", "lib2to3"}  # 3.13


def test_nothing_newer_than_python_3_10_is_used():
    pytest.importorskip("vermin", reason="vermin is in the dev extra")
    vermin = pathlib.Path(sys.executable).with_name("vermin")
    result = subprocess.run([str(vermin), "-t=3.10-", "--no-tips", "--violations",
                             *PACKAGES], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_standard_library_module_removed_in_3_12_or_3_13_is_imported():
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                found += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] in REMOVED]
    assert not found, found


def test_no_source_compiles_with_a_warning():
    """An invalid escape in a string (a backslash before a space, say) is a SyntaxWarning from 3.12 and
    is to become an error; 3.11 compiles it silently unless warnings are errors."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
                except (SyntaxError, SyntaxWarning, DeprecationWarning) as warning:  # 3.11 raises the first
                    found.append(f"{path.relative_to(ROOT)}: {warning}")
    assert not found, found


def test_the_package_declares_the_python_range_the_readme_states():
    """Issue 26: the README said 3.10-3.12 while pyproject.toml allowed any Python from 3.10 on."""
    import tomllib

    stated = re.search(r"needs Python (3\.\d+)\u2013(3\.(\d+))", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "the README no longer states its Python range as 'needs Python 3.X-3.Y'"
    oldest, newest_minor = stated.group(1), int(stated.group(3))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert declared == f">={oldest},<3.{newest_minor + 1}"
