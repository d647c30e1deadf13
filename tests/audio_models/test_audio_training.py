"""Training helpers (no real training here): exact frame targets, AUC and its interval,
and real-background windows that keep patients apart."""

import numpy as np
import pytest

from audio_models import metrics
from audio_models.errors import AudioError
from audio_models.synthetic import Crackle

pytest.importorskip("torch", reason="training helpers need the training extra (torch)")
from audio_models import train  # noqa: E402


def test_frame_targets_mark_the_frames_a_crackle_touches():
    target = train.frame_targets([Crackle(onset_s=0.060, duration_s=0.010, kind="fine"),
                                  Crackle(onset_s=3.995, duration_s=0.010, kind="fine")])
    assert np.flatnonzero(target).tolist() == [1, 2, 124]  # 60-70 ms spans frames 1 and 2 (32 ms each)


def test_frame_targets_follow_the_window_offset():
    target = train.frame_targets([Crackle(onset_s=10.0, duration_s=0.005, kind="coarse")], offset_s=9.0)
    assert np.flatnonzero(target).tolist() == [31]


def test_auc_agrees_with_sklearn_and_the_interval_contains_it():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.4 * labels, 2)
    assert metrics.roc_auc(labels, scores) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))
    result = metrics.auc_with_ci(labels, scores, n_boot=200)
    assert result["auc_ci95"][0] <= result["auc"] <= result["auc_ci95"][1]


def test_auc_needs_both_classes():
    with pytest.raises(AudioError, match="AUC needs both classes, got 3 positives of 3"):
        metrics.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_operating_point_counts():
    point = metrics.operating_point([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], threshold=0.5)
    assert (point["sensitivity"], point["specificity"], point["n_positive"]) == (0.5, 0.5, 2)


def test_real_background_windows_only_use_crackle_free_cycles(icbhi_dir):
    from audio_models.datasets.icbhi import load_icbhi

    recordings = [r for r in load_icbhi(icbhi_dir) if r.patient_id in ("101", "103")]
    x, y = train.real_background_windows(recordings, 40, seed=0)
    assert x.shape == (40, 16000) and y.shape == (40, 125)
    positives = y.max(axis=1)
    assert 5 < positives.sum() < 35  # about half get synthetic crackles, the rest stay negative
