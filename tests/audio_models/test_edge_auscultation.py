"""edge.auscultation: what the service gets back for good, poor and unusable recordings,
and what the shipped model does on the real ICBHI sample files."""

import io

import numpy as np
import pytest
import soundfile as sf

from audio_models import synthetic
from audio_models.errors import UnreadableAudioError
from edge import auscultation


def _wav_bytes(x, rate=4000, subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def _synthetic_bytes(seed, crackles, duration_s=12.0):
    rec = synthetic.synthesize(np.random.default_rng(seed), duration_s=duration_s, crackles=crackles, kind="fine",
                               snr_db_range=(20.0, 30.0))
    return _wav_bytes(rec.samples, subtype="FLOAT")


def test_result_has_the_documented_shape():
    result = auscultation.score_recording(_synthetic_bytes(1, True), chest_site="posterior_basal_left")
    assert set(result) >= {"crackle_probability", "crackle_detected", "quality", "windows", "frame_map", "model", "chest_site"}
    assert 0.0 <= result["crackle_probability"] <= 1.0
    assert result["quality"] == {"ok": True, "issues": []}
    assert [w["start_s"] for w in result["windows"]] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert result["frame_map"]["frame_s"] == pytest.approx(0.032) and len(result["frame_map"]["values"]) == 375
    assert result["model"]["name"] == "auscultation" and result["model"]["synthetic"] is True
    assert result["chest_site"] == "posterior_basal_left"


def test_unreadable_recording_raises_a_domain_error():
    with pytest.raises(UnreadableAudioError, match="cannot decode"):
        auscultation.score_recording(b"not audio at all")


def test_poor_quality_recording_is_scored_and_reports_its_issues():
    short = synthetic.synthesize(np.random.default_rng(2), duration_s=3.0).samples
    result = auscultation.score_recording(_wav_bytes(short))
    assert result["quality"]["ok"] is False
    assert result["quality"]["issues"] == ["too_short: 3.00 s recorded, at least 6.0 s needed"]
    assert 0.0 <= result["crackle_probability"] <= 1.0 and len(result["windows"]) == 1


def test_silent_recording_gets_no_probability():
    result = auscultation.score_recording(_wav_bytes(np.zeros(40000)))
    assert result["crackle_probability"] is None and result["windows"] == []
    assert result["quality"]["issues"][0].startswith("silent:")


def test_visit_aggregation_skips_poor_recordings():
    good = {"chest_site": "posterior_basal_left", "crackle_probability": 0.9, "quality": {"ok": True, "issues": []},
            "model": {"threshold": 0.5}}
    bad = {"chest_site": "posterior_basal_right", "crackle_probability": 0.95,
           "quality": {"ok": False, "issues": ["clipped: 5.0% ..."]}, "model": {"threshold": 0.5}}
    visit = auscultation.aggregate_visit_recordings([good, bad])
    assert visit["unusable_sites"] == ["posterior_basal_right"]
    assert visit["bilateral_basal_probability"] is None and visit["missing_basal_sides"] == ["right"]


# What the shipped model does on the four real ICBHI sample files (see the metrics in
# edge/bundled_models/auscultation_eval.json). Patients 101 and 103 gave crackle-free
# training backgrounds; patient 104 (Littmann 3200, native 4 kHz) was held out.


def _cycle_probabilities(path, model):
    from audio_models.datasets.icbhi import read_cycles
    from audio_models.io import load_audio

    samples, _ = load_audio(path)
    out = []
    for cycle in read_cycles(path.with_suffix(".txt")):
        centre = int((cycle.start_s + cycle.end_s) / 2 * 4000)
        start = int(np.clip(centre - 8000, 0, max(len(samples) - 16000, 0)))
        window = np.pad(samples[start : start + 16000], (0, max(0, start + 16000 - len(samples))))
        p = float(model.run({"pcm": window[None]})["crackle_probability"][0])
        out.append((cycle, p))
    return out


@pytest.fixture
def real_scores(icbhi_dir):
    model = auscultation.default_model()
    return {path.stem: (auscultation.score_recording(path, backend=model), _cycle_probabilities(path, model))
            for path in sorted(icbhi_dir.glob("*.wav"))}


def test_all_four_real_files_score_with_full_window_coverage(real_scores):
    for stem, (result, _) in real_scores.items():
        assert result["quality"]["ok"], stem
        assert 0.0 <= result["crackle_probability"] <= 1.0
        assert result["windows"][-1]["end_s"] == pytest.approx(result["duration_s"], abs=1e-3)


def test_training_patients_without_crackles_score_low_including_wheeze_cycles(real_scores):
    for stem in ("101_1b1_Al_sc_Meditron", "103_2b2_Ar_mc_LittC2SE"):
        result, cycles = real_scores[stem]
        assert result["crackle_probability"] < 0.1 and not result["crackle_detected"]
        assert max(p for _, p in cycles) < 0.15
    wheeze_cycles = [p for c, p in real_scores["103_2b2_Ar_mc_LittC2SE"][1] if c.wheezes]
    assert len(wheeze_cycles) == 4 and max(wheeze_cycles) < 0.15


def test_held_out_patient_104_is_not_separated_known_limitation(real_scores):
    """On the unseen Littmann 3200 recordings every cycle sits in the middle (0.2-0.75):
    the one annotated crackle cycle is not ranked above the crackle-free ones, and the
    wheeze-only recording 104 Ar reaches the threshold (a false positive)."""
    ll_result, ll_cycles = real_scores["104_1b1_Ll_sc_Litt3200"]
    crackle = [p for c, p in ll_cycles if c.crackles]
    others = [p for c, p in ll_cycles if not c.crackles]
    assert len(crackle) == 1 and 0.3 < crackle[0] < 0.75
    assert max(others) > crackle[0]
    ar_result, ar_cycles = real_scores["104_1b1_Ar_sc_Litt3200"]
    assert all(0.05 < p < 0.8 for _, p in ar_cycles)
    assert ar_result["crackle_detected"] is True
