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
    split_calls = []
    monkeypatch.setattr(train, "load_split", lambda folders, **kw: split_calls.append((folders, kw)) or (parts, {}))
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

    # The training command's data options: a clinic's folder beside the shared data, split as training splits it.
    seed_spread.main(args + ["--data", str(tmp_path / "shared"), "--data", str(tmp_path / "clinic"),
                             "--labelled-fractions", "0.5", "0.25", "0.25"])
    assert split_calls == [([tmp_path / "shared", tmp_path / "clinic"],
                            {"seed": seed_spread.SPLIT_SEED, "labelled_fractions": [0.5, 0.25, 0.25]})]
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


def test_a_bad_data_folder_is_refused_naming_it_before_anything_trains(tmp_path, monkeypatch, capsys):
    clinic = tmp_path / "clinic"
    clinic.mkdir()
    (clinic / "labels.csv").write_text("file,patient_id\ntake-00001.flac,abc\n")
    monkeypatch.setattr(train, "train_recipe", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as stopped:
        seed_spread.main(["--seeds", "3", "--out", str(tmp_path / "out"), "--data", str(clinic)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert str(clinic) in err and "missing column(s)" in err
    assert not (tmp_path / "out").exists()


def _adults(folder):
    """Six 12 s recordings of three KAUH-like adults (one with crackles), one per filter mode pair."""
    from audio_models.datasets.kauh import KauhRecording

    rng = np.random.default_rng(9)
    n = 12 * 4000
    envelope = 0.4 + 0.6 * np.sin(np.pi * np.arange(n) / 16000) ** 2
    recordings = []
    for patient, crackles in (("201", True), ("202", False), ("203", False)):
        for mode in ("bell", "diaphragm"):
            x = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same") * envelope
            path = folder / f"{mode}_{patient}.wav"
            soundfile.write(path, (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32), 4000)
            recordings.append(KauhRecording(path=path, patient_id=patient, filter_mode=mode,
                                            sound_label="C" if crackles else "N", crackles=crackles,
                                            location="P L L", age_y=70.0, sex="F"))
    return recordings


def test_the_input_noise_study_applies_the_choice_rule_per_model_and_shape_on_validation_only(tmp_path, monkeypatch):
    children = _corpus(tmp_path)
    adults = _adults(tmp_path)
    parts = {"train": children[:4], "validation": children[4:] + adults, "test": []}
    monkeypatch.setattr(train, "load_split", lambda folders, **kw: (parts, {}))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    torch.manual_seed(0)
    torch.save(CrackleNet().state_dict(), shipped / "auscultation.pt")
    noise = {"snr_db": 20.0, "draws": 2, "seed": 0}
    (shipped / "manifest.json").write_text(json.dumps({"models": {"auscultation": {
        "version": "9.9.9", "training_data": {"seed": 0}, "population_input_noise": {"adults": noise, "children": None}}}}))
    out = tmp_path / "out"
    # Two levels and one noise seed keep the test short; the rule and the reading of its trials are the same.
    monkeypatch.setattr(train, "INPUT_NOISE_SNR_DB", (None, 20.0))
    monkeypatch.setattr(train, "INPUT_NOISE_CHOICE_SEEDS", (0,))
    seed_spread.main(["--seeds", "3", "--out", str(out), "--shipped", str(shipped), "--steps", "2", "--threads", "1",
                      "--input-noise-study"])
    report = json.loads((out / "input_noise_study.json").read_text())
    assert not (out / "seed_spread.json").exists()
    assert (report["part"], report["runtime"], report["shipped"]["input_noise"]["adults"]) == (
        "validation", "onnxruntime fp32", noise)
    assert (out / "seed3.pt").is_file()
    assert set(report["models"]) == {"shipped", "seed3"}
    for model in report["models"].values():
        for shape in ("white", "recording"):
            # Each level of the choice rule, and the figures at the level it picked, per filter mode.
            assert set(model["adults"][shape]["mean_patient_auc_by_level"]) == {"none", "20"}
            assert set(model["adults"][shape]["at_chosen"]["by_filter_mode"]) == {"Littmann 3200 bell",
                                                                                   "Littmann 3200 diaphragm"}
            chosen = model["adults"][shape]["chosen"]
            assert chosen is None or chosen.get("shape", "white") == shape
            level = "none" if chosen is None else f"{chosen['snr_db']:g}"
            assert model["adults"][shape]["by_level"][level] == model["adults"][shape]["at_chosen"]
            assert set(model["adults"][shape]["by_level"]) == {"none", "20"}
        # Only validation patients: the adults and the children's validation half, each population apart.
        assert set(model["recording_scores"]) == {"adults", "children_sprsound2022"}
        assert set(model["recording_scores"]["adults"]) == set(seed_spread.RECORDING_SCORES)
    decision = report["decision"]
    assert decision["input_noise_shape"]["adults"]["models"] == ["seed3", "shipped"]
    assert isinstance(decision["input_noise_shape"]["adults"]["adopt"], bool)
    assert decision["recording_score"]["chosen"] in seed_spread.RECORDING_SCORES

    # One process per model gives the same figures as one after the other.
    seed_spread.main(["--seeds", "3", "--out", str(out), "--shipped", str(shipped), "--threads", "1",
                      "--input-noise-study", "--reuse-weights", "--jobs", "2"])
    assert json.loads((out / "input_noise_study.json").read_text()) == report


def test_recording_scores_rank_rows_by_their_own_aggregation():
    rows = [{**_row("a", "base_left", 1, 0.5), "window_probabilities": np.array([0.6, 0.6, 0.6]),
             "frame_map": np.array([0.6, 0.6, 0.1]), "device": "bell"},
            {**_row("b", "base_left", 0, 0.5), "window_probabilities": np.array([0.95, 0.7, 0.1]),
             "frame_map": np.array([0.9, 0.1, 0.1]), "device": "bell"}]
    # One loud window ranks the crackle-free recording first by its peak; crackles that recur rank first by
    # how often the windows or frames reach 0.5.
    figures = {name: seed_spread.figures_by_mode(seed_spread.rescored(rows, score))["recording_auc"]
               for name, score in seed_spread.RECORDING_SCORES.items()}
    assert figures == {"top2": 0.0, "top1": 0.0, "mean": 1.0, "windows_over_half": 1.0, "frames_over_half": 1.0}


def test_the_rule_needs_every_condition():
    base = {"s0": {"patient_auc": 0.70, "recording_auc": 0.60}, "s1": {"patient_auc": 0.80, "recording_auc": 0.70}}
    gain = {"s0": {"patient_auc": 0.82, "recording_auc": 0.61}, "s1": {"patient_auc": 0.78, "recording_auc": 0.70}}
    assert seed_spread.judge(gain, base)["adopt"]
    # One model worse by more than 0.05.
    lost = {"s0": {"patient_auc": 0.95, "recording_auc": 0.61}, "s1": {"patient_auc": 0.74, "recording_auc": 0.70}}
    assert not seed_spread.judge(lost, base)["adopt"] and not seed_spread.judge(lost, base)["no_model_loses_more"]
    # The recording AUC drops.
    drop = {"s0": {"patient_auc": 0.82, "recording_auc": 0.58}, "s1": {"patient_auc": 0.80, "recording_auc": 0.70}}
    assert not seed_spread.judge(drop, base)["adopt"] and seed_spread.judge(drop, base, recording=False)["adopt"]
    # A gain short of 0.05.
    assert not seed_spread.judge({m: {**v, "patient_auc": v["patient_auc"] + 0.04} for m, v in base.items()}, base)["adopt"]


def _icbhi(folder):
    """Two 12 s ICBHI-like adult recordings (annotated, no crackles) in ``folder``."""
    from audio_models.datasets.icbhi import load_icbhi

    folder.mkdir()
    rng = np.random.default_rng(11)
    for stem in ("101_1b1_Al_sc_Meditron", "104_1b1_Ar_sc_Litt3200"):
        x = np.convolve(rng.standard_normal(12 * 4000), np.ones(4) / 4, mode="same")
        soundfile.write(folder / f"{stem}.wav", (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32), 4000)
        (folder / f"{stem}.txt").write_text("0.0\t6.0\t0\t0\n6.0\t12.0\t0\t0\n")
    return load_icbhi(folder)


ADULT_NOISE = {"snr_db": 20.0, "draws": 2, "seed": 0}


def _entry():
    from audio_models import export

    return {**export.entry_template(), "population_input_noise": {"adults": ADULT_NOISE, "children": None}}


def test_batchnorm_statistics_are_the_pooled_mean_and_variance_of_each_layers_inputs(tmp_path):
    torch.manual_seed(0)
    model = CrackleNet().eval()
    shipped = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((3, 16000)).astype(np.float32), rng.standard_normal((2, 16000)).astype(np.float32)]
    # Recomputed apart: every BatchNorm layer's whole input tensor of a train-mode pass of each batch, the channels'
    # mean and unbiased variance over both batches' elements together.
    captured = {}
    for batch in batches:
        training = CrackleNet()
        training.load_state_dict(shipped)
        training.train()
        layers = [m for m in training.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
        hooks = [layer.register_forward_pre_hook(lambda _l, inputs, i=i: captured.setdefault(i, []).append(
            inputs[0].detach().double().transpose(0, 1).reshape(inputs[0].shape[1], -1).numpy())) for i, layer in enumerate(layers)]
        with torch.no_grad():
            training(torch.from_numpy(batch))
        for hook in hooks:
            hook.remove()
    assert len(captured) == 6
    adapted = seed_spread.with_statistics(model, seed_spread.pooled_statistics(
        [seed_spread.batchnorm_input_sums(model, batch) for batch in batches]))
    for i, layer in enumerate(seed_spread.batchnorm_layers(adapted)):
        values = np.concatenate(captured[i], axis=1)
        np.testing.assert_allclose(layer.running_mean.numpy(), values.mean(axis=1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.running_var.numpy(), values.var(axis=1, ddof=1), rtol=1e-5, atol=1e-6)
    assert not adapted.training
    # The weights are the model's; the model itself keeps its own statistics.
    assert all(torch.equal(adapted.state_dict()[k], v) for k, v in shipped.items() if "running" not in k and "num_batches" not in k)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in shipped.items())
    assert not torch.equal(adapted.state_dict()["features.0.1.running_mean"], shipped["features.0.1.running_mean"])
    with pytest.raises(seed_spread.EvaluationError, match="no recording left"):
        seed_spread.pooled_statistics([])


def test_the_judged_patients_audio_never_sets_the_statistics_and_per_mode_uses_that_mode_only(tmp_path, monkeypatch):
    adults = _adults(tmp_path)
    icbhi = _icbhi(tmp_path / "icbhi")
    torch.manual_seed(0)
    model = CrackleNet().eval()
    entry = _entry()
    # Each statistics set the study builds, against the recordings' own sums, recomputed here.
    built = []
    pooled = seed_spread.pooled_statistics
    monkeypatch.setattr(seed_spread, "pooled_statistics", lambda sums: built.append(sums) or pooled(sums))
    figures, fed = seed_spread.bn_model_study(adults, icbhi, model=model, entry=entry)

    assert set(figures) == {"shipped", "pooled", "per_mode", "icbhi"}
    assert set(figures["pooled"]["by_filter_mode"]) == {"Littmann 3200 bell", "Littmann 3200 diaphragm"}
    assert fed["pooled"]["bell_201.wav"] == ["bell_202.wav", "diaphragm_202.wav", "bell_203.wav", "diaphragm_203.wav"]
    assert fed["per_mode"]["bell_201.wav"] == ["bell_202.wav", "bell_203.wav"]
    assert fed["per_mode"]["diaphragm_203.wav"] == ["diaphragm_201.wav", "diaphragm_202.wav"]
    for recording in adults:
        name, patient = recording.path.name, recording.patient_id
        assert not any(patient in other for other in fed["pooled"][name] + fed["per_mode"][name])
        assert all(other.startswith(name.split("_")[0]) for other in fed["per_mode"][name])
        assert fed["icbhi"][name] == ["101_1b1_Al_sc_Meditron.wav", "104_1b1_Ar_sc_Litt3200.wav"]
    # The sums fed in are those recordings' own: per set, the same as computing them from the listed files.
    sums = {r.path.name: s for r, s in zip(adults, seed_spread.recording_sums(adults, model=model, entry=entry).values())}
    icbhi_sums = list(seed_spread.recording_sums(icbhi, model=model, entry=entry).values())

    def same(a, b):
        return len(a) == len(b) and all(np.allclose(x[1], y[1]) and x[0] == y[0] for p, q in zip(a, b) for x, y in zip(p, q))

    assert same(built[0], icbhi_sums)
    expected = []
    for recording in adults:
        for names in (fed["pooled"][recording.path.name], fed["per_mode"][recording.path.name]):
            if not any(same([sums[n] for n in names], each) for each in expected):
                expected.append([sums[n] for n in names])
    assert len(built) == 1 + len(expected) == 1 + 3 + 6
    assert all(any(same(each, other) for other in built[1:]) for each in expected)


def test_the_bn_adaptation_study_end_to_end_on_validation_adults(tmp_path, monkeypatch):
    children = _corpus(tmp_path)
    adults = _adults(tmp_path)
    _icbhi(tmp_path / "icbhi")
    parts = {"train": children[:4], "validation": children[4:] + adults, "test": adults[:2]}
    monkeypatch.setattr(train, "load_split", lambda folders, **kw: (parts, {}))
    scored = []
    score = seed_spread.validation.score_settings
    monkeypatch.setattr(seed_spread.validation, "score_settings",
                        lambda recs, **kw: scored.extend(r.patient_id for r in recs) or score(recs, **kw))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    torch.manual_seed(0)
    torch.save(CrackleNet().state_dict(), shipped / "auscultation.pt")
    (shipped / "manifest.json").write_text(json.dumps({"models": {"auscultation": {
        "version": "9.9.9", "population_input_noise": {"adults": ADULT_NOISE, "children": None}}}}))
    out = tmp_path / "out"
    seed_spread.main(["--seeds", "3", "--out", str(out), "--shipped", str(shipped), "--steps", "2", "--threads", "1",
                      "--bn-adaptation-study", "--icbhi", str(tmp_path / "icbhi")])
    report = json.loads((out / "bn_adaptation_study.json").read_text())
    assert (report["part"], report["icbhi_recordings"], report["shipped"]["input_noise"]["adults"]) == (
        "validation", 2, ADULT_NOISE)
    # Validation adults only (the test part's adults and the children are not scored), each recording once a model.
    assert sorted(scored) == sorted(["201", "202", "203"] * 4)
    assert set(report["models"]) == {"shipped", "seed3"}
    for figures in report["models"].values():
        assert set(figures) == {"shipped", "pooled", "per_mode", "icbhi"}
        assert set(figures["per_mode"]["by_filter_mode"]) == {"Littmann 3200 bell", "Littmann 3200 diaphragm"}
    assert report["recordings_in_statistics"]["shipped"] == {"pooled": {"min": 4, "max": 4}, "per_mode": {"min": 2, "max": 2},
                                                             "icbhi": {"min": 2, "max": 2}}
    decision = report["decision"]
    assert set(decision["candidates"]) == set(seed_spread.BN_CANDIDATES)
    assert decision["candidates"]["pooled"]["models"] == ["seed3", "shipped"]
    assert decision["chosen"] in ("shipped", *seed_spread.BN_CANDIDATES)


def test_the_bn_study_needs_validation_adults(tmp_path):
    with pytest.raises(seed_spread.EvaluationError, match="needs validation adults"):
        seed_spread.bn_adaptation_study(_corpus(tmp_path), [], models={"shipped": CrackleNet().eval()}, entry=_entry())
