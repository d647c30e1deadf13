"""Fixtures for browser tests: a real ``ildscreen serve`` and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from e2e_support import CHROMIUM, NURSE_PASSWORD, STETHOSCOPES
from support import clean_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
from served import ServedProcess, ildscreen_command  # noqa: E402

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory) -> Path:
    """25 s of breath-like noise that Chromium plays as the microphone."""
    path = tmp_path_factory.mktemp("audio") / "breath.wav"
    rng = np.random.default_rng(5)
    rate = 48_000
    t = np.arange(25 * rate) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * t / 4.0)  # one breath every 4 s
    soundfile.write(path, 0.2 * envelope * rng.standard_normal(t.size), rate, subtype="PCM_16")
    return path


def _new_clinic(data_dir: Path, env: dict) -> None:
    """Make a clinic's data folder with the nurse ``nurse1``, as an operator would."""
    subprocess.run([*ildscreen_command(), "db", "init", "--data-dir", str(data_dir)], check=True, capture_output=True,
                   env=env)
    subprocess.run([*ildscreen_command(), "users", "add", "nurse1", "--role", "nurse", "--password-stdin",
                    "--data-dir", str(data_dir)], input=NURSE_PASSWORD + "\n", text=True, check=True,
                   capture_output=True, env=env)


@pytest.fixture
def server(tmp_path):
    data_dir = tmp_path / "data"
    _new_clinic(data_dir, clean_env())
    served = ServedProcess(data_dir)
    yield served
    served.stop()


@pytest.fixture
def clinic_with_stethoscopes(tmp_path):
    """A served clinic that names its stethoscopes (``STETHOSCOPES``; uploads through the first), with ``nurse1``."""
    data_dir = tmp_path / "data"
    _new_clinic(data_dir, clean_env())
    served = ServedProcess(data_dir, env={"ILDSCREEN_STETHOSCOPES": json.dumps(STETHOSCOPES),
                                          "ILDSCREEN_UPLOAD_STETHOSCOPE": STETHOSCOPES[0]})
    yield served
    served.stop()


def served_clinic(data_dir: Path, *, board_speed: str, env: dict | None = None):
    """Serve a new clinic with the nurse ``nurse1`` and a simulated stethoscope registered (not yet
    connected) streaming at ``board_speed`` (0: as fast as read; 1: real time); yields the server."""
    env_free = clean_env()
    _new_clinic(data_dir, env_free)
    board = subprocess.Popen([*ildscreen_command(), "device", "simulate", "--kind", "stethoscope", "--speed",
                              board_speed, "--run-for", "900"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=env_free)
    port = board.stdout.readline().split(" on ")[-1].strip()
    served = ServedProcess(data_dir, env={**(env or {}), "ILDSCREEN_DEVICE_PORTS": f'["{port}"]',
                                          "ILDSCREEN_DEVICE_SIMULATOR": "true"})
    served.data_dir = data_dir
    try:
        yield served
    finally:
        served.stop()
        board.terminate()
        board.wait(timeout=10)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """One served clinic shared by a test module: Shanghai time, a named clinic, a simulated
    stethoscope registered but not connected, and the nurse ``nurse1``."""
    yield from served_clinic(tmp_path_factory.mktemp("clinic") / "data", board_speed="0",
                             env={"ILDSCREEN_CLINIC_TIMEZONE": "Asia/Shanghai", "ILDSCREEN_CLINIC_NAME": "Clinic 7",
                                  "ILDSCREEN_CLINIC_CONTACT": "021-5555"})


@pytest.fixture(scope="module")
def board_clinic(tmp_path_factory):
    """A served clinic whose stethoscope streams in real time (20 s of synthetic lung sound), so a
    capture is still running when the nurse cancels it."""
    yield from served_clinic(tmp_path_factory.mktemp("board-clinic") / "data", board_speed="1")


@pytest.fixture(scope="module")
def browser(fake_microphone):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-audio-capture={fake_microphone}"],
        )
        yield browser
        browser.close()
