"""Every docstring example in the project's packages runs and gives what it shows: an ``Examples``
section is documentation a reader trusts, and one that no test runs drifts from the code it describes.
(``tests/firmware_interface/test_fw_docs.py`` ran the board package's alone.)"""
import doctest
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("common", "edge", "audio_models", "tabular_models", "evaluation", "imaging_client", "imaging_server",
            "federated", "firmware_interface")
MODULES = sorted(".".join(path.relative_to(ROOT).with_suffix("").parts)
                 for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                 if ">>> " in path.read_text(encoding="utf-8"))


def test_the_packages_have_examples_to_run():
    assert "common.model_entries" in MODULES and "edge.fusion.evidence" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples fail (run python -m doctest -v)"
