"""The input noise an adult's recording is scored with (``audio_models.scoring.noisy_copies``): white, or
shaped like the recording's own spectrum (issue 24), seeded, and refused when the manifest names a shape
the scorer does not know."""

import numpy as np
import pytest

from audio_models import scoring
from audio_models.errors import ModelError

RATE = 4000


def _bell_like(seconds=20, seed=3):
    """Noise whose energy sits low, as through a bell: 0-300 Hz about 30 dB above 800-1600 Hz."""
    rng = np.random.default_rng(seed)
    n = seconds * RATE
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum *= np.where(freqs < 300, 1.0, 10 ** (-30 / 20))
    return np.fft.irfft(spectrum, n=n)


def _band_db(x, low, high):
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return 10 * np.log10(np.mean(power[(freqs >= low) & (freqs < high)]))


def _tilt_db(x):
    """Low band (0-300 Hz) over the crackle band (800-1600 Hz), in dB."""
    return _band_db(x, 20, 300) - _band_db(x, 800, 1600)


def test_shaped_noise_keeps_each_bands_ratio_to_the_recording_and_white_noise_does_not():
    x = _bell_like()
    setting = {"snr_db": 20.0, "draws": 2, "seed": 0}
    for copy in scoring.noisy_copies(x, {**setting, "shape": "recording"}):
        noise = copy - x
        # The level is 20 dB below the recording's, and the spectrum is the recording's: every band
        # keeps its 20 dB signal-to-noise ratio, the crackle band too.
        assert 20 * np.log10(np.sqrt(np.mean(x**2)) / np.sqrt(np.mean(noise**2))) == pytest.approx(20.0, abs=0.01)
        assert _tilt_db(noise) == pytest.approx(_tilt_db(x), abs=1.0)
        assert _band_db(x, 800, 1600) - _band_db(noise, 800, 1600) == pytest.approx(20.0, abs=1.0)
    # White noise at the same broadband level is flat, so it lies far above the bell's crackle band.
    white = scoring.noisy_copies(x, setting)[0] - x
    assert abs(_tilt_db(white)) < 1.0 and _tilt_db(x) > 25
    assert _band_db(x, 800, 1600) - _band_db(white, 800, 1600) < 0


def test_shaped_noise_is_seeded_each_copy_its_own_draw():
    x = _bell_like(seconds=2)
    setting = {"snr_db": 25.0, "draws": 2, "seed": 4, "shape": "recording"}
    first, second = scoring.noisy_copies(x, setting)
    again = scoring.noisy_copies(x, setting)
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1])
    assert not np.allclose(first, second)
    assert not np.allclose(first, scoring.noisy_copies(x, {**setting, "seed": 5})[0])
    # Draw k is seeded seed + k, as the white noise is.
    assert np.array_equal(second, scoring.noisy_copies(x, {**setting, "seed": 5, "draws": 1})[0])
    # The copies keep the recording's dtype (float32 in the service).
    assert scoring.noisy_copies(x.astype(np.float32), setting)[0].dtype == np.float32


def test_white_stays_the_default_and_the_shipped_noise_is_unchanged():
    x = _bell_like(seconds=2)
    setting = {"snr_db": 20.0, "draws": 2, "seed": 0}
    plain = scoring.noisy_copies(x, setting)
    assert all(np.array_equal(a, b) for a, b in zip(plain, scoring.noisy_copies(x, {**setting, "shape": "white"})))
    level = np.sqrt(np.mean(x**2)) * 10 ** (-20 / 20)
    expected = x + level * np.random.default_rng(0).standard_normal(len(x))
    assert np.array_equal(plain[0], expected)


def test_an_unknown_shape_is_refused_naming_it():
    with pytest.raises(ModelError, match="unknown input-noise shape 'pink'; expected one of white, recording"):
        scoring.noisy_copies(np.ones(100), {"snr_db": 20.0, "draws": 1, "seed": 0, "shape": "pink"})


def test_silence_stays_silent_under_shaped_noise():
    assert not np.any(scoring.noisy_copies(np.zeros(400), {"snr_db": 20.0, "draws": 1, "seed": 0,
                                                            "shape": "recording"})[0])
