"""Windowing and chest sites: every sample is covered, and ICBHI site codes are read as lung bases and sides."""

import numpy as np
import pytest

from audio_models import aggregation, windows
from audio_models.errors import AudioError


def test_windows_cover_the_whole_recording_with_the_last_aligned_to_the_end():
    x = np.arange(4000 * 11, dtype=np.float32)
    wins, starts = windows.split_windows(x, sample_rate=4000)
    assert starts.tolist() == [0.0, 2.0, 4.0, 6.0, 7.0]
    assert wins[-1][-1] == x[-1] and wins.shape == (5, 16000)


def test_short_recording_is_zero_padded_into_one_window():
    wins, starts = windows.split_windows(np.ones(100), sample_rate=4000)
    assert wins.shape == (1, 16000) and wins[0, 99] == 1 and wins[0, 100] == 0 and starts.tolist() == [0.0]


@pytest.mark.parametrize("hop", [0.0, 5.0])
def test_bad_hop_is_rejected(hop):
    with pytest.raises(AudioError, match=f"need 0 < hop_s <= window_s, got hop_s={hop}"):
        windows.split_windows(np.zeros(100), sample_rate=4000, hop_s=hop)


def test_recording_probability_is_the_top_two_mean():
    assert windows.aggregate_windows([0.1, 0.95, 0.05]) == pytest.approx(0.525)
    assert windows.aggregate_windows([0.3]) == pytest.approx(0.3)
    with pytest.raises(AudioError, match="no window probabilities"):
        windows.aggregate_windows([])


def test_frame_map_averages_overlapping_windows():
    frames = np.array([[0.2, 0.4, 0.6, 0.8], [1.0, 1.0, 1.0, 1.0]])
    out = windows.stitch_frame_map(frames, [0.0, 0.5], frame_s=0.25, duration_s=1.5)
    np.testing.assert_allclose(out, [0.2, 0.4, 0.8, 0.9, 1.0, 1.0])


def test_icbhi_site_codes_are_understood():
    assert aggregation.is_basal("Lr") and aggregation.site_side("Lr") == "right"
    assert not aggregation.is_basal("Tc") and aggregation.site_side("Tc") is None
