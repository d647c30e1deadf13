"""Shared fixtures: the real ICBHI sample folder (skipped where a clone lacks it) and
small synthetic signals written as files of every supported format."""

import os
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = pathlib.Path(os.environ.get("ILDSCREEN_SHARED_DATA", REPO.parent / "shared" / "data"))
ICBHI_SAMPLE = SHARED_DATA / "icbhi_sample"
ICBHI_FILES = {
    "101_1b1_Al_sc_Meditron": (44100, "PCM_32", 20.0),
    "103_2b2_Ar_mc_LittC2SE": (44100, "PCM_24", 20.0),
    "104_1b1_Ar_sc_Litt3200": (4000, "PCM_16", 25.584),
    "104_1b1_Ll_sc_Litt3200": (4000, "PCM_16", 18.48),
}


@pytest.fixture
def icbhi_dir():
    """The four real ICBHI 2017 sample recordings with their annotations."""
    if not (ICBHI_SAMPLE / "101_1b1_Al_sc_Meditron.wav").is_file():
        pytest.skip(
            f"real ICBHI samples not found at {ICBHI_SAMPLE} (set ILDSCREEN_SHARED_DATA to the "
            "folder holding icbhi_sample/ to run this test)"
        )
    return ICBHI_SAMPLE


SPRSOUND = SHARED_DATA / "sprsound2022"


def shared_folder_or_skip(folder, what):
    """``folder`` if it holds data; else skip, except in CI, where ``../shared/data`` is always
    there and a missing folder must fail rather than quietly skip the real-data tests."""
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    message = f"{what} not found at {folder} (set ILDSCREEN_SHARED_DATA to the folder holding it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sprsound_dir():
    """The real SPRSound 2022 recordings (1,343 files, 190 patients) in ``../shared/data``."""
    return shared_folder_or_skip(SPRSOUND, "SPRSound 2022")


@pytest.fixture
def breath_like():
    """12 s of low-pass noise with a 4 s breathing envelope at -26 dBFS, 4 kHz."""
    rng = np.random.default_rng(7)
    n = 12 * 4000
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    envelope = 0.4 + 0.6 * np.sin(np.pi * np.arange(n) / 16000) ** 2
    x = noise * envelope
    return (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


SPRSOUND_TEST = SHARED_DATA / "sprsound2022_test"
KAUH = SHARED_DATA / "kauh"


@pytest.fixture(scope="session")
def shared_data_dir():
    """``../shared/data`` with both SPRSound releases and the KAUH adults (the crackle model's corpus)."""
    for folder, what in ((SPRSOUND, "SPRSound 2022"), (SPRSOUND_TEST, "SPRSound 2022 test release"), (KAUH, "KAUH")):
        shared_folder_or_skip(folder, what)
    return SHARED_DATA


@pytest.fixture(scope="session")
def kauh_dir():
    """The real KAUH adult recordings (107 files, 37 patients) in ``../shared/data``."""
    return shared_folder_or_skip(KAUH, "KAUH lung sounds")
