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
    assert set(result["quality"]) == {"ok", "issues"} and 0.0 <= result["poor_quality_probability"] <= 1.0
    assert [w["start_s"] for w in result["windows"]] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert result["frame_map"]["frame_s"] == pytest.approx(0.032) and len(result["frame_map"]["values"]) == 375
    assert result["model"]["name"] == "auscultation" and result["model"]["synthetic"] is False
    assert "children" in result["model"]["validation"]
    assert result["chest_site"] == "posterior_basal_left"


def test_unreadable_recording_raises_a_domain_error():
    with pytest.raises(UnreadableAudioError, match="cannot decode"):
        auscultation.score_recording(b"not audio at all")


def test_poor_quality_recording_is_scored_and_reports_its_issues():
    short = synthetic.synthesize(np.random.default_rng(2), duration_s=3.0).samples
    result = auscultation.score_recording(_wav_bytes(short))
    assert result["quality"]["ok"] is False
    assert result["quality"]["issues"][0] == "too_short: 3.00 s recorded, at least 6.0 s needed"
    assert {issue.split(":")[0] for issue in result["quality"]["issues"]} <= {"too_short", "poor_signal"}
    assert 0.0 <= result["crackle_probability"] <= 1.0 and len(result["windows"]) == 1


def test_silent_recording_gets_no_probability():
    result = auscultation.score_recording(_wav_bytes(np.zeros(40000)))
    assert result["crackle_probability"] is None and result["windows"] == []
    assert result["quality"]["issues"][0].startswith("silent:")


def test_every_real_icbhi_file_scores_with_full_window_coverage(icbhi_dir):
    """Adult recordings at 44.1 kHz (32- and 24-bit) and 4 kHz decode, resample and score end to
    end; how the model calls them is measured by ``ildscreen audio evaluate`` (tests/audio_models/
    test_audio_validation.py), not pinned here."""
    model = auscultation.default_model()
    for path in sorted(icbhi_dir.glob("*.wav")):
        result = auscultation.score_recording(path, backend=model)
        assert 0.0 <= result["crackle_probability"] <= 1.0, path.stem
        assert 0.0 <= result["poor_quality_probability"] <= 1.0
        assert result["windows"][-1]["end_s"] == pytest.approx(result["duration_s"], abs=1e-3)
        assert len(result["frame_map"]["values"]) >= len(result["windows"])


def test_a_screened_patients_recording_is_scored_over_the_manifests_noisy_copies(icbhi_dir):
    """The service scores a screened (adult) patient's recording as the manifest's ``input_noise``
    says: every noisy copy in one batch, each window's outputs averaged over the copies; a child's
    operating point (no input noise) scores the recording as it is."""
    from audio_models import scoring, windows
    from audio_models.io import load_audio, read_audio
    from audio_models.limits import MODEL_SAMPLE_RATE

    model = auscultation.default_model()
    entry = model.entry
    noise = entry["input_noise"]
    assert noise is not None and noise["draws"] >= 2 and entry["population_input_noise"]["adults"] == noise
    path = sorted(icbhi_dir.glob("*.wav"))[0]
    batches = []

    def run(feed):
        batches.append(len(next(iter(feed.values()))))
        return model.run(feed)

    result = auscultation.score_recording(path, backend=type("Spy", (), {"run": staticmethod(run), "entry": entry,
                                                                          "variant": model.variant})())
    samples, _ = load_audio(path)
    split = [windows.split_windows(copy, sample_rate=MODEL_SAMPLE_RATE, window_s=entry["window_s"],
                                   hop_s=entry["hop_s"])[0] for copy in scoring.noisy_copies(samples, noise)]
    assert batches == [noise["draws"] * len(split[0])]
    name = entry["outputs"][0]["name"]
    by_copy = [np.asarray(model.run({entry["inputs"][0]["name"]: wins})[name], dtype=np.float64) for wins in split]
    expected = scoring.calibrate_score(windows.aggregate_windows(np.mean(by_copy, axis=0)), entry["calibration"])
    assert result["crackle_probability"] == pytest.approx(expected, abs=1e-5)

    child = scoring.entry_for_population(entry, "children")
    assert child["input_noise"] is None
    plain = windows.split_windows(samples, sample_rate=MODEL_SAMPLE_RATE, window_s=entry["window_s"], hop_s=entry["hop_s"])[0]
    as_child = scoring.score_samples(*read_audio(path), run=model.run, entry=child)
    direct = np.asarray(model.run({entry["inputs"][0]["name"]: plain})[name], dtype=np.float64)
    assert as_child["recording_score"] == pytest.approx(windows.aggregate_windows(direct), abs=1e-6)
