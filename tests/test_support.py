"""The tests' own shared helpers (tests/support.py) that other tests rely on to be right."""
from __future__ import annotations

import os

import pytest

from support import clean_env, drop_env_settings


def test_clean_env_drops_the_runners_ildscreen_settings_and_adds_the_tests_own(monkeypatch):
    """A child process must read only the settings its test gives it: the runner's ILDSCREEN_
    variables go, everything else stays, ``extra`` is added (its ILDSCREEN_ ones included), and
    this process's own environment is left as it was."""
    monkeypatch.setenv("ILDSCREEN_DATA_DIR", "/somewhere/else")
    monkeypatch.setenv("ILDSCREEN_IMAGING_PORT", "1")
    monkeypatch.setenv("NOT_ILDSCREEN_SETTING", "kept")
    env = clean_env(ILDSCREEN_IMAGING_PORT="8090", PYTHONUNBUFFERED="1")
    assert "ILDSCREEN_DATA_DIR" not in env
    assert env["ILDSCREEN_IMAGING_PORT"] == "8090" and env["PYTHONUNBUFFERED"] == "1"
    assert env["NOT_ILDSCREEN_SETTING"] == "kept" and env["PATH"] == os.environ["PATH"]
    assert os.environ["ILDSCREEN_DATA_DIR"] == "/somewhere/else" and os.environ["ILDSCREEN_IMAGING_PORT"] == "1"
    assert {key for key in clean_env() if key.startswith("ILDSCREEN_")} == set()


def test_drop_env_settings_removes_the_runners_ildscreen_settings_for_the_test_only(monkeypatch):
    """The ``no_env_settings`` fixture: during the test this process has no ILDSCREEN_ variable and
    keeps every other one; afterwards the runner's are back as they were."""
    monkeypatch.setenv("ILDSCREEN_DATA_DIR", "/somewhere/else")
    monkeypatch.setenv("NOT_ILDSCREEN_SETTING", "kept")
    before = dict(os.environ)
    with pytest.MonkeyPatch.context() as inner:
        drop_env_settings(inner)
        assert {key for key in os.environ if key.startswith("ILDSCREEN_")} == set()
        assert os.environ["NOT_ILDSCREEN_SETTING"] == "kept" and os.environ["PATH"] == before["PATH"]
    assert dict(os.environ) == before
