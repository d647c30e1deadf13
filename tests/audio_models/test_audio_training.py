"""Training helpers (no real training here): frame targets from expert events, the window
sampler's masks, augmentation that never changes labels, and the operating-point choices."""

import numpy as np
import pytest

from audio_models.datasets.sprsound import Event, SprsoundRecording
from audio_models.synthetic import Crackle

pytest.importorskip("torch", reason="training helpers need the training extra (torch)")
from audio_models import train  # noqa: E402


def _recording(label, events, name="1_5.0_0_p1_1"):
    return SprsoundRecording(path=None, patient_id="1", age_y=5.0, sex="M", location="p1", recording_number="1",
                             record_label=label, events=tuple(events))


def test_frame_targets_mark_the_frames_an_event_touches():
    target = train.frame_targets([Crackle(onset_s=0.060, duration_s=0.010, kind="fine"),
                                  Crackle(onset_s=3.995, duration_s=0.010, kind="fine")])
    assert np.flatnonzero(target).tolist() == [1, 2, 124]  # 60-70 ms spans frames 1 and 2 (32 ms each)


def test_frame_targets_follow_the_window_offset_and_the_event_type():
    events = [Event(10.0, 10.005, "Fine Crackle"), Event(9.5, 9.6, "Wheeze")]
    assert np.flatnonzero(train.frame_targets(events, offset_s=9.0)).tolist() == [31]
    assert np.flatnonzero(train.frame_targets(events, offset_s=9.0, types=("Wheeze",))).tolist() == [15, 16, 17, 18]


def test_sampled_windows_hold_the_crackle_and_leave_other_crackles_and_poor_records_out_of_the_loss():
    rate = 4000
    positive = _recording("DAS", [Event(5.0, 5.8, "Fine Crackle"), Event(7.0, 7.5, "Coarse Crackle")])
    poor = _recording("Poor Quality", [])
    normal = _recording("Normal", [Event(0.5, 3.0, "Normal")])
    sampler = train.WindowSampler([positive, poor, normal], [np.ones(10 * rate, np.float32)] * 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        pcm, target, mask, quality = sampler.window(0, rng)
        assert pcm.shape == (16000,) and target.sum() > 0 and quality == 0.0
        coarse_only = (train.frame_targets(positive.events, types=("Coarse Crackle",)) > 0)
        assert mask.min() == 0.0 or not coarse_only.any()
    pcm, target, mask, quality = sampler.window(1, rng)
    assert quality == 1.0 and mask.sum() == 0
    _, target, mask, _ = sampler.window(2, rng)
    assert target.sum() == 0 and mask.min() == 1.0


def test_augmentation_keeps_shape_and_never_silences_a_window():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16000)).astype(np.float32)
    out = train.augment(x.copy(), rng, [rng.standard_normal(16000)])
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert (np.sqrt((out**2).mean(axis=1)) > 1e-3).all()


def test_threshold_at_specificity_is_the_lowest_that_keeps_it():
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    scores = np.array([.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, .85, .97, .99])
    threshold = train.threshold_at_specificity(labels, scores, 0.9)
    assert threshold == 0.95
    assert ((scores >= threshold) & (labels == 0)).sum() <= 1
