"""The numpy polyphase resampler must match scipy.signal.resample_poly (the reference
implementation) so the serving path gets the same anti-aliased 4 kHz signal as training."""

import tracemalloc

import numpy as np
import pytest

from audio_models.errors import AudioError
from audio_models.resample import resample

scipy_signal = pytest.importorskip("scipy.signal", reason="the reference resampler is scipy (train extra)")


@pytest.mark.parametrize("orig_sr", [44100, 48000, 22050, 16000, 8000, 3000, 2000])
def test_matches_scipy_resample_poly(orig_sr):
    x = np.random.default_rng(orig_sr).standard_normal(orig_sr * 2 + 13)
    ours = resample(x, orig_sr=orig_sr, target_sr=4000)
    reference = scipy_signal.resample_poly(x, 4000, orig_sr)
    assert ours.shape == reference.shape
    assert np.max(np.abs(ours - reference)) < 1e-5


def test_removes_content_above_new_nyquist():
    t = np.arange(44100) / 44100
    tone_in_band = np.sin(2 * np.pi * 300 * t)
    alias = np.sin(2 * np.pi * 3100 * t)  # would fold to 900 Hz without the low-pass
    y = resample(tone_in_band + alias, orig_sr=44100, target_sr=4000)
    spectrum = np.abs(np.fft.rfft(y[400:-400]))
    freqs = np.fft.rfftfreq(len(y) - 800, 1 / 4000)
    assert spectrum[np.argmin(np.abs(freqs - 900))] < 1e-3 * spectrum.max()


def test_same_rate_is_identity():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(resample(x, orig_sr=4000, target_sr=4000), x)


@pytest.mark.parametrize("bad", [0, -44100, 4000.5])
def test_rejects_bad_rate_with_value_in_message(bad):
    with pytest.raises(AudioError, match=f"orig_sr must be a positive integer, got {bad}"):
        resample(np.zeros(10), orig_sr=bad, target_sr=4000)


def test_rejects_multichannel_input():
    with pytest.raises(AudioError, match=r"1-D signal, got shape \(10, 2\)"):
        resample(np.zeros((10, 2)), orig_sr=8000, target_sr=4000)


@pytest.mark.parametrize("orig_sr", [44101, 191999])
def test_rates_without_common_factors_match_scipy(orig_sr):
    """Issue 26: 44,101 Hz shares no factor with 4 kHz (4000 phases); the result is still scipy's."""
    x = np.random.default_rng(1).standard_normal(int(orig_sr * 0.6))
    ours = resample(x, orig_sr=orig_sr, target_sr=4000)
    reference = scipy_signal.resample_poly(x, 4000, orig_sr)
    assert ours.shape == reference.shape
    assert np.max(np.abs(ours - reference)) < 1e-5


@pytest.mark.parametrize(("orig_sr", "seconds"), [(44101, 0.6), (191999, 0.6), (191999, 120), (192000, 120)])
def test_working_memory_does_not_depend_on_the_rates_factors_or_the_length(orig_sr, seconds):
    """Issue 26: a 0.6 s WAV at 44,101 Hz made the old padding allocate 1.3 GiB (5.7 GiB at
    191,999 Hz). Beyond its float32 output, resampling now needs a bounded working set: a
    16 MB input segment and at most a 32 MB phase table."""
    x = np.zeros(int(orig_sr * seconds), dtype=np.float32)
    x[::7] = 0.5
    tracemalloc.start()
    try:
        y = resample(x, orig_sr=orig_sr, target_sr=4000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(y) == -(-len(x) * 4000 // orig_sr)
    assert peak - y.nbytes < 80 * 2**20, f"peak {peak / 2**20:.0f} MB"
