"""The seed-spread command: per-population validation AUCs of each model under the screening's patient
rule, the spread over models, and the command end to end on a tiny corpus (two training steps)."""

import json

import numpy as np
import pytest
import soundfile

from audio_models.datasets.sprsound import Event, SprsoundRecording
from audio_models.quality import QualityReport

pytest.importorskip("torch", reason="the seed-spread command trains models (torch)")
import torch  # noqa: E402

from audio_models import seed_spread, train  # noqa: E402
from audio_models.model import CrackleNet  # noqa: E402


def _row(patient, site, label, probability, *, population="adults", ok=True):
    return {"patient": patient, "location": site, "label": label, "poor_quality": False, "population": population,
            "crackle_probability": probability, "quality": QualityReport(ok=ok, issues=() if ok else ("poor_signal: x",))}


def test_figures_follow_the_patient_rule_and_each_population_apart():
    rows = [
        # a: crackles at one site only; its clear second site must not pull it below c.
        _row("a", "base_left", 1, 0.9), _row("a", "base_right", 1, 0.1),
        _row("b", "base_left", 1, 0.6),
        _row("c", "base_left", 0, 0.5), _row("d", "base_left", 0, 0.7, ok=False), _row("d", "base_right", 0, 0.2),
        _row("k", "posterior_left", 0, 0.3, population="children_sprsound2022"),
    ]
    figures = seed_spread.model_figures(rows)
    # Patients by their highest accepted site: a 0.9, b 0.6 above c 0.5 and d 0.2 (its refused 0.7 counts for
    # nothing), so the patient AUC is 1. Recordings: a's clear site (0.1) falls below both negatives (0.5, 0.2),
    # so 4 of the 6 positive-negative pairs are ordered.
    assert figures["adults"]["patient_auc"] == 1.0
    assert figures["adults"]["recording_auc"] == pytest.approx(4 / 6, abs=1e-4)
    assert (figures["adults"]["patients"], figures["adults"]["positive_patients"]) == (4, 2)
    # One class only: no AUC rather than a made-up one.
    assert figures["children_sprsound2022"] == {"patient_auc": None, "recording_auc": None, "patients": 1,
                                                "positive_patients": 0}


def test_the_spread_leaves_out_models_without_a_figure():
    result = seed_spread.spread({"shipped": {"adults": {"patient_auc": 0.9, "recording_auc": None}},
                                 "seed1": {"adults": {"patient_auc": 0.7, "recording_auc": 0.8}},
                                 "seed2": {"adults": {"patient_auc": 0.8, "recording_auc": 0.6}}})
    assert result["adults"]["patient_auc"] == {"min": 0.7, "max": 0.9, "range": 0.2, "mean": 0.8, "models": 3}
    assert result["adults"]["recording_auc"] == {"min": 0.6, "max": 0.8, "range": 0.2, "mean": 0.7, "models": 2}


def _corpus(folder):
    """Eight 12 s breath-like recordings of eight children (four with a fine-crackle event), written as WAV."""
    rng = np.random.default_rng(5)
    n = 12 * 4000
    envelope = 0.4 + 0.6 * np.sin(np.pi * np.arange(n) / 16000) ** 2
    recordings = []
    for i in range(8):
        x = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same") * envelope
        path = folder / f"{100 + i}_6.0_0_p1_1.wav"
        soundfile.write(path, (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32), 4000)
        crackles = i % 2 == 0
        recordings.append(SprsoundRecording(
            path=path, patient_id=str(100 + i), age_y=6.0, sex="M", location="p1", recording_number="1",
            record_label="DAS" if crackles else "Normal",
            events=(Event(2.0, 2.1, "Fine Crackle"),) if crackles else ()))
    return recordings


def test_the_command_trains_each_seed_scores_validation_only_and_reuses_saved_weights(tmp_path, monkeypatch):
    recordings = _corpus(tmp_path)
    parts = {"train": recordings[:4], "validation": recordings[4:], "test": []}
    monkeypatch.setattr(train, "load_parts", lambda data, *, seed: parts)
    scored = []
    score = seed_spread.validation.score_variants
    monkeypatch.setattr(seed_spread.validation, "score_variants",
                        lambda recs, **kw: scored.append(([r.patient_id for r in recs], sorted(kw["runs"])))
                        or score(recs, **kw))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    torch.manual_seed(0)
    torch.save(CrackleNet().state_dict(), shipped / "auscultation.pt")
    (shipped / "manifest.json").write_text(json.dumps({"models": {"auscultation": {
        "version": "9.9.9", "training_data": {"seed": 0}, "population_input_noise": {"children": None}}}}))
    out = tmp_path / "out"
    args = ["--seeds", "3", "--out", str(out), "--shipped", str(shipped), "--steps", "2", "--threads", "1"]

    seed_spread.main(args)
    report = json.loads((out / "seed_spread.json").read_text())
    assert (out / "seed3.pt").is_file()
    assert set(report["models"]) == {"shipped", "seed3"}
    assert (report["part"], report["steps"], report["shipped"]) == ("validation", 2, {"version": "9.9.9",
                                                                                      "training_seed": 0})
    # Only validation patients are scored: each recording decoded once, scored by every model.
    assert scored == [(["104", "105", "106", "107"], ["seed3", "shipped"])]
    assert report["models"]["seed3"]["children_sprsound2022"]["patients"] == 4

    # --reuse-weights scores the saved seed without training it again, and gives the same figures; --ensemble
    # adds the models' averaged outputs, outside the spread of single models.
    monkeypatch.setattr(train, "train_recipe", lambda *a, **k: pytest.fail("trained again"))
    seed_spread.main(args + ["--reuse-weights", "--ensemble"])
    again = json.loads((out / "seed_spread.json").read_text())
    assert {name: again["models"][name] for name in report["models"]} == report["models"]
    assert set(again["models"]) == {"shipped", "seed3", "ensemble"}
    assert again["spread"] == report["spread"]
