"""Shared fixtures: the real ICBHI and SPRSound folders (``support.shared_data_or_skip``: skipped,
naming what is missing, where a clone lacks them; a failure in CI) and small synthetic signals
written as files of every supported format."""

import numpy as np
import pytest

from support import SHARED_DATA, shared_data_or_skip

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
    return shared_data_or_skip(ICBHI_SAMPLE, "the real ICBHI 2017 samples (icbhi_sample/)")


SPRSOUND = SHARED_DATA / "sprsound2022"


@pytest.fixture(scope="session")
def sprsound_dir():
    """The real SPRSound 2022 recordings (1,343 files, 190 patients) in ``../shared/data``."""
    return shared_data_or_skip(SPRSOUND, "SPRSound 2022")


@pytest.fixture
def breath_like():
    """12 s of low-pass noise with a 4 s breathing envelope at -26 dBFS, 4 kHz."""
    rng = np.random.default_rng(7)
    n = 12 * 4000
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    envelope = 0.4 + 0.6 * np.sin(np.pi * np.arange(n) / 16000) ** 2
    x = noise * envelope
    return (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32)
