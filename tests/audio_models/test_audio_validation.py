"""``ildscreen audio evaluate`` on the real recordings in ../shared/data: it reproduces every figure
of the shipped manifest per population (children of each SPRSound release, adults of KAUH), per
patient and per recording; it refuses a folder whose test patients differ; and its parts (the
patient rule, refusals, calibration, event detection, reproduction check, HTML report) behave as
documented."""

import csv
import html
import json
import shutil

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from audio_models import scoring, validation
from audio_models.datasets import corpus, kauh, splits
from audio_models.datasets.sprsound import Event
from audio_models.quality import QualityReport
from edge.cli import cli
from edge.commands.audio import audio
from edge.inference.bundles import selected_registry
from support import edit_manifest, kauh_rows, model_bundle, trust_test_key, write_kauh_copy

ENTRY = selected_registry().entry("auscultation")
POPULATIONS = {"adults", "children_sprsound2022", "children_sprsound2022_test"}


@pytest.fixture(scope="module")
def evaluated(shared_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(audio, ["evaluate", "--data", str(shared_data_dir), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output), out


def test_evaluate_reproduces_every_figure_of_the_manifest_per_population(evaluated):
    report, _ = evaluated
    check = report["manifest_check"]
    assert check["all_ok"], json.dumps({k: v for k, v in check["metrics"].items() if not v["ok"]}, indent=1)
    assert set(report["populations"]) == POPULATIONS
    for population in POPULATIONS:
        assert {f"{population}.patient.auc", f"{population}.patient.sensitivity", f"{population}.recording.auc",
                f"{population}.int8.recording_auc"} <= set(check["metrics"])
    assert "children_sprsound2022.quality.catch_rate" in check["metrics"]
    for device in ENTRY["validation"]["populations"]["adults"]["devices"]:  # each filter mode's patient figures
        assert {f"adults.patient_by_device.{device}.{name}" for name in ("auc", "sensitivity", "specificity")} <= \
            set(check["metrics"]), device


def test_the_validation_block_is_patient_level_per_population_and_matches_the_report(evaluated):
    report, _ = evaluated
    block = ENTRY["validation"]
    assert (block["unit"], block["ci_method"]) == ("patient", "patient_cluster_bootstrap")
    assert set(block["populations"]) == POPULATIONS
    for population, pooled in block["populations"].items():
        section = report["populations"][population]
        # The population's figures, and each device's over its own recordings alone (KAUH: every adult
        # was recorded through each filter mode), by the same patient rule and bootstrap.
        assert set(pooled["by_device"]) == set(pooled["devices"]) == set(section["subgroups"]["patient_by_device"])
        measured = [(pooled, section["patient"])] + [(pooled["by_device"][device], patient) for device, patient
                                                     in section["subgroups"]["patient_by_device"].items()]
        for figures, patient in measured:
            for name in ("auc", "sensitivity", "specificity"):
                value = patient[name] if name == "auc" else patient[name]["value"]
                assert abs(figures[name] - value) <= validation.REPRODUCTION_TOLERANCE, (population, name)
                low, high = figures[f"{name}_ci95"]
                assert low <= figures[name] <= high and high - low > 0  # never a point: the CI floor
            for name in ("patients", "assessable_patients", "positive_patients", "recordings", "refused_recordings"):
                assert figures[name] == patient[name], (population, name)
            assert figures["not_assessable_patients"] == patient["not_assessable"]["patients"]
            assert figures["threshold"] == section["threshold"]
        assert pooled["reproduce"].startswith("ildscreen audio evaluate --data ../shared/data --population ")
    adults = block["populations"]["adults"]
    assert all(figures["patients"] == adults["patients"] for figures in adults["by_device"].values())
    assert sum(figures["recordings"] for figures in adults["by_device"].values()) == adults["recordings"]


def test_int8_stays_within_001_auc_of_fp32_in_every_population(evaluated):
    report, _ = evaluated
    for population, block in report["int8"].items():
        assert abs(block["recording_auc_difference"]) <= 0.01, population


def test_the_report_covers_each_population_device_and_age_band(evaluated):
    report, out = evaluated
    adults = report["populations"]["adults"]
    assert set(adults["subgroups"]["patient_by_device"]) == {"Littmann 3200 bell", "Littmann 3200 diaphragm",
                                                               "Littmann 3200 extended"}
    assert "events" not in adults  # KAUH has recording labels only
    children = report["populations"]["children_sprsound2022"]
    assert children["events"]["fine_crackle_events"] > 0 and children["quality_gate"]["poor_quality_records"] > 0
    assert set(children["subgroups"]["recording"]["location"]["groups"]) == {
        "posterior_left", "lateral_left", "posterior_right", "lateral_right"}
    assert report["icbhi_adults"]["crackle_free"] == 9 and report["icbhi_adults"]["recordings"] == 10
    assert "crackle_free_refused" in report["icbhi_adults"]  # a refusal is never a correct negative
    for population in POPULATIONS:
        page = (out / population / "report.html").read_text()
        for section in ("Crackle model on held-out recordings", "Patient level (the screening&#x27;s rule)",
                        "Quality gate", "By age", "By device"):
            assert section in page, (population, section)
        assert (out / population / "calibration.png").stat().st_size > 0
    assert "adults/report.html" in (out / "report.html").read_text()
    # Each filter mode's patient-level figures on the adults' page, one line each.
    page = (out / "adults" / "report.html").read_text()
    for device, figures in adults["subgroups"]["patient_by_device"].items():
        assert f"<td>{device}</td><td>{html.escape(json.dumps(validation.device_summary(figures)))}</td>" in page


def test_the_quality_gate_keeps_crackle_recordings_and_good_adult_recordings(evaluated):
    """Crackles are broadband bursts: the gate must not call expert crackle recordings noise, and the
    adults it screens must not be refused as the children-trained gate refused 23 % of them."""
    report, _ = evaluated
    for population, section in report["populations"].items():
        gate = section["quality_gate"]
        assert gate["refused_crackle"] <= 0.10 * gate["crackle_records"], (population, gate)
        assert gate["false_refusal_rate"] <= 0.10, (population, gate)
        assert "handling_noise" not in gate["issues_by_code"], population
        assert "no_breath_sounds" not in gate["issues_by_code"], population


def test_no_patient_of_the_test_part_was_trained_on_or_calibrated_on(shared_data_dir):
    recordings = corpus.load_corpus(shared_data_dir)
    split = ENTRY["training_data"]["split"]
    parts = {name: {splits.patient_key(r.dataset_family, r.patient_id)
                    for r in splits.select(recordings, name, seed=split["seed"], fractions=split["fractions"])}
             for name in splits.PARTS}
    assert parts["test"] and not parts["test"] & parts["train"] and not parts["test"] & parts["validation"]
    test = splits.select(recordings, "test", seed=split["seed"], fractions=split["fractions"])
    assert validation.part_digests(test) == split["test_patients_sha256"]
    # The listed patients are the parts' own (what `--part unseen` leaves out).
    for name in splits.PARTS:
        part = splits.select(recordings, name, seed=split["seed"], fractions=split["fractions"])
        assert split["patients"][name] == validation.part_patients(part), name


def test_no_adult_trained_the_weights_and_unseen_adults_chose_the_adult_operating_point(shared_data_dir):
    recordings = corpus.load_corpus(shared_data_dir, population="adults")
    split = ENTRY["training_data"]["split"]
    parts = {name: splits.select(recordings, name, seed=split["seed"], fractions=split["fractions"])
             for name in splits.PARTS}
    assert not parts["train"] and parts["validation"] and parts["test"]
    assert ENTRY["threshold"] == ENTRY["population_thresholds"]["adults"]
    assert ENTRY["population_thresholds"]["adults"] != ENTRY["population_thresholds"]["children"]


def test_each_population_is_reported_at_its_own_operating_point(evaluated):
    report, _ = evaluated
    for population, section in report["populations"].items():
        assert section["threshold"] == ENTRY["population_thresholds"][validation.cohort(population)]
        assert ENTRY["validation"]["populations"][population]["threshold"] == section["threshold"]


def test_adults_alone_are_evaluated_and_checked_against_their_own_figures(shared_data_dir):
    result = CliRunner().invoke(audio, ["evaluate", "--data", str(shared_data_dir), "--population", "adults", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["populations"]) == {"adults"}
    check = report["manifest_check"]["metrics"]
    assert check and all(name.startswith(("adults.", "icbhi.")) for name in check)
    assert report["manifest_check"]["all_ok"]


def test_the_stress_check_scores_the_adults_as_other_stethoscopes_would_record_them(shared_data_dir):
    """``--stress`` reports each condition beside the recordings as recorded. The model scales each
    window to unit RMS, so a quieter stethoscope or a 44.1 kHz source changes nothing; a hissy
    stethoscope (white noise 20 dB below the sound) must not make the gate refuse the adults' real
    recordings (a breathing rule judged at 300-1800 Hz refused three quarters of them)."""
    result = CliRunner().invoke(audio, ["evaluate", "--data", str(shared_data_dir), "--population", "adults",
                                        "--stress", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    table = report["stress"]["adults"]
    assert set(table) == {"as recorded", *validation.STRESS_CONDITIONS}
    recorded = table["as recorded"]
    assert recorded["recording_auc"] == report["populations"]["adults"]["recording"]["auc"]
    assert recorded["accepted"] == report["populations"]["adults"]["recording"]["recordings"]
    for condition in ("20 dB quieter", "sampled at 44.1 kHz"):
        assert abs(table[condition]["recording_auc_difference"]) <= 0.01, condition
        assert table[condition]["accepted"] == recorded["accepted"], condition
    assert table["white noise 20 dB below the sound"]["accepted_share"] >= 0.9


def test_a_folder_whose_test_patients_differ_is_refused_and_can_be_scored_with_part_all(kauh_dir, tmp_path):
    folder = tmp_path / "kauh"
    shutil.copytree(kauh_dir, folder)
    table = folder / "recordings.csv"
    lines = table.read_text().splitlines()
    dropped = sorted({r.patient_id for r in splits.select(corpus.load_corpus(kauh_dir), "test")})[0]
    table.write_text("\n".join([lines[0]] + [line for line in lines[1:] if line.split(",")[1] != dropped]) + "\n")
    runner = CliRunner()
    refused = runner.invoke(audio, ["evaluate", "--data", str(folder)])
    assert refused.exit_code == 1 and "adults test patients" in refused.output and "--part all" in refused.output
    scored = runner.invoke(audio, ["evaluate", "--data", str(folder), "--part", "all", "--json"])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output)
    assert "manifest_check" not in report and report["populations"]["adults"]["patient"]["patients"] == 36


def test_withheld_patients_added_to_the_released_ones_are_scored_alone_with_part_unseen(kauh_dir, tmp_path,
                                                                                      shared_data_dir):
    """A folder that adds withheld patients to the released ones puts some in every part of the hash split;
    ``--part unseen`` scores exactly the patients in none of the manifest's parts."""
    folder = tmp_path / "kauh"
    shutil.copytree(kauh_dir, folder)
    table = folder / "recordings.csv"
    lines = table.read_text().splitlines()
    added = []
    for source, new in (("11", "9011"), ("100", "9100")):  # one adult with crackles, one without
        for line in lines[1:]:
            fields = line.split(",")
            if fields[1] == source:
                name = fields[0].replace(f"kauh{source}_", f"kauh{new}_")
                shutil.copy(folder / "audio" / fields[0], folder / "audio" / name)
                added.append(",".join([name, new, *fields[2:]]))
    table.write_text("\n".join(lines + added) + "\n")
    runner = CliRunner()
    scored = runner.invoke(audio, ["evaluate", "--data", str(folder), "--part", "unseen", "--json"])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output)
    patient = report["populations"]["adults"]["patient"]
    assert (patient["patients"], patient["positive_patients"]) == (2, 1), patient
    gate = report["populations"]["adults"]["quality_gate"]
    assert gate["good_records"] == len(added)
    nothing = runner.invoke(audio, ["evaluate", "--data", str(shared_data_dir), "--part", "unseen"])
    assert nothing.exit_code == 1 and "no recordings of patients the model never saw" in nothing.output


def test_your_own_recordings_in_a_labels_csv_are_scored_like_the_public_sets(kauh_dir, tmp_path):
    """A clinic's or a partner's own recordings (``labels.csv``, ``audio_models/datasets/generic.py``) are
    scored through the same path as the KAUH copy: the same recordings written both ways give the same
    patient-level, recording-level, per-device and quality-gate figures."""
    patients = {"100", "103", "104", "11", "110", "112", "13", "15"}
    rows = kauh_rows(kauh_dir, patients)
    assert {row["patient"] for row in rows if row["crackles"] == "1"} and len({row["patient"] for row in rows}) == 8
    kauh_copy, own = write_kauh_copy(kauh_dir, rows, tmp_path / "kauh"), tmp_path / "clinic"
    own.mkdir()
    with open(own / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "patient_id", "chest_site", "device", "label", "age_y", "sex", "other_sounds"])
        for row in rows:
            shutil.copy(kauh_dir / "audio" / row["recording"], own / row["recording"])
            writer.writerow([row["recording"], row["patient"], kauh.chest_site(row["location"]),
                             f"Littmann 3200 {row['filter_mode']}",
                             row["crackles"], row["age_y"], row["sex"],
                             "none" if row["sound_label"] == "N" else "wheeze" if "W" in row["sound_label"] else "other"])
    runner = CliRunner()
    reports = {}
    for name, folder in (("kauh", kauh_copy), ("own", own)):
        result = runner.invoke(audio, ["evaluate", "--data", str(folder), "--part", "all", "--json"])
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(result.output)["populations"]
    assert set(reports["own"]) == {"adults_clinic"}  # a folder is a population of its own, not KAUH's adults
    for section in ("patient", "recording", "quality_gate", "subgroups"):
        assert reports["own"]["adults_clinic"][section] == reports["kauh"]["adults"][section], section
    by_device = reports["own"]["adults_clinic"]["subgroups"]["patient_by_device"]
    assert set(by_device) == {"Littmann 3200 diaphragm", "Littmann 3200 extended"}
    # Without --json the summary gives each device's patient-level figures, one line each.
    printed = runner.invoke(audio, ["evaluate", "--data", str(own), "--part", "all"])
    assert printed.exit_code == 0, printed.output
    for device, figures in by_device.items():
        assert f"  {device}, per patient: {validation.device_summary(figures)}\n" in printed.output
    refused = runner.invoke(audio, ["evaluate", "--data", str(own)])
    assert refused.exit_code == 1 and "does not cover (local:clinic)" in refused.output and "--part all" in refused.output


def test_patient_lists_that_do_not_match_the_part_hashes_are_not_trusted():
    from edge.commands.audio import _listed_patients

    split = ENTRY["training_data"]["split"]
    assert _listed_patients(ENTRY, split) == split["patients"]
    cut = {**split, "patients": {**split["patients"], "test": {**split["patients"]["test"],
                                                               "adults": split["patients"]["test"]["adults"][1:]}}}
    with pytest.raises(click.ClickException, match="test patients of adults do not match"):
        _listed_patients(ENTRY, cut)
    with pytest.raises(click.ClickException, match="does not list its split's patients"):
        _listed_patients(ENTRY, {key: value for key, value in split.items() if key != "patients"})


def _row(patient, site, label, probability, *, ok=True, poor=False):
    return {"patient": patient, "location": site, "label": label, "poor_quality": poor, "crackle_probability": probability,
            "quality": QualityReport(ok=ok, issues=() if ok else ("poor_signal: x",))}


def test_crackle_recordings_are_compared_with_each_kind_of_crackle_free_recording():
    """A pooled AUC can rest on one kind of negative: here wheezes score low and normal chests as high
    as crackles, so the pooled AUC looks fair while crackles are not told from normal breathing."""
    rows = [{**_row(f"c{i}", "base_left", 1, p), "other_sounds": "none"} for i, p in enumerate((0.6, 0.7, 0.8))]
    rows += [{**_row(f"n{i}", "base_left", 0, p), "other_sounds": "none"} for i, p in enumerate((0.6, 0.7, 0.8))]
    rows += [{**_row(f"w{i}", "base_left", 0, p), "other_sounds": "wheeze"} for i, p in enumerate((0.1, 0.2, 0.3))]
    rows += [{**_row("r", "base_left", 0, 0.9, ok=False), "other_sounds": "none"}]  # refused: counts nowhere
    kinds = validation.against_crackle_free(rows, threshold=0.65)
    assert set(kinds) == {"none", "wheeze"}
    assert kinds["none"]["auc"] == 0.5 and kinds["wheeze"]["auc"] == 1.0
    assert (kinds["none"]["crackle_free_recordings"], kinds["none"]["crackle_free_patients"]) == (3, 3)
    assert kinds["none"]["specificity"]["value"] == round(1 / 3, 4) and kinds["wheeze"]["specificity"]["value"] == 1.0
    assert validation.recording_metrics(rows, threshold=0.65)["auc"] == 0.75  # the pooled figure hides it
    assert validation.against_crackle_free([r for r in rows if not r["label"]], threshold=0.5) == {}


def test_the_adults_figures_are_shown_against_normal_chests_apart_from_wheezes(evaluated):
    """The adult AUC is reported against crackle-free recordings with no other sound and against
    wheezes apart (recomputed here from the report's predictions.csv), and the statement every
    result shows says how the adults fare against normal breathing."""
    import csv

    from sklearn.metrics import roc_auc_score

    report, out = evaluated
    kinds = report["populations"]["adults"]["subgroups"]["against_crackle_free"]
    assert {"none", "wheeze"} <= set(kinds)
    with (out / "adults" / "predictions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for kind, figures in kinds.items():
        members = [row for row in rows if row["label"] == "1" or row["other_sounds"] == kind]
        expected = roc_auc_score([int(row["label"]) for row in members], [float(row["probability"]) for row in members])
        assert abs(figures["auc"] - expected) < 1e-4, kind
        assert figures["crackle_free_recordings"] == sum(row["label"] == "0" for row in members)
    assert "adults.against_crackle_free.none.auc" in report["manifest_check"]["metrics"]
    statement = ENTRY["validation_status"]["statement"]
    assert f"against adult recordings with no other sound (no wheeze) AUC {kinds['none']['auc']:.2f}" in statement
    if kinds["none"]["auc"] < kinds["wheeze"]["auc"]:
        assert f"below {kinds['wheeze']['auc']:.2f} against wheezes" in statement


def test_the_adults_input_noise_is_what_their_validation_patients_choose(shared_data_dir, monkeypatch):
    """The adults' input noise (``audio_models.train.choose_input_noise``) recomputed on the KAUH
    validation adults through the shipped ONNX model: the level the manifest names beats the
    recording as it is by the required gain, and both mean patient AUCs match the manifest's
    (tolerance 0.02: the choice was scored with PyTorch eager, this with ONNX Runtime). The statement
    every result shows says the adults' recordings are scored with that noise and what it did to the
    ICBHI recording with crackles, and that the test adults are not a clean test of it."""
    train = pytest.importorskip("audio_models.train", reason="the input-noise choice lives in the training extra")
    import re

    noise = ENTRY["population_input_noise"]["adults"]
    assert noise is not None and ENTRY["input_noise"] == noise and ENTRY["population_input_noise"]["children"] is None
    table = json.loads(re.search(r"mean patient AUC by level: (\{.*?\}\})", ENTRY["input_noise_chosen_on"]).group(1))
    level = noise["snr_db"]
    monkeypatch.setattr(train, "INPUT_NOISE_SNR_DB", (None, level))
    recordings = corpus.load_corpus(shared_data_dir, population="adults")
    split = ENTRY["training_data"]["split"]
    chosen_on = splits.select(recordings, "validation", seed=split["seed"], fractions=split["fractions"])
    model = selected_registry().load("auscultation", variant="fp32")
    # As training scored it: no calibration, and the learned quality head not yet given its limit.
    chosen, measured = train.choose_input_noise(chosen_on, run=model.run, entry=train.export.entry_template())
    assert chosen["adults"] == noise
    for key in ("none", f"{level:g}"):
        assert abs(measured["adults"][key] - table["adults"][key]) <= 0.02, key
    assert measured["adults"][f"{level:g}"] >= measured["adults"]["none"] + train.INPUT_NOISE_MIN_GAIN
    statement = ENTRY["validation_status"]["statement"]
    assert f"white noise {level:g} dB below their level added" in statement
    assert train.export.TEST_SEEN_WORDS[train.ADULT_TEST_SEEN] in statement  # the test adults were seen under noise first
    assert train.ADULT_TEST_SEEN in [caveat["code"] for caveat in ENTRY["validation_status"]["caveats"]]
    icbhi = ENTRY["metrics"]["test"]["icbhi_adults"]
    assert (f"{icbhi['with_crackles_called_positive']} of {icbhi['with_crackles']} ICBHI adult recording(s) with "
            "crackles found") in statement


def test_scoring_in_turn_gives_each_setting_the_rows_of_scoring_all_at_once(shared_data_dir):
    """``score_settings_in_turn`` (the input-noise choice, which logs each step) scores one population and
    setting at a time, each population's recordings in their order, as ``score_settings`` scores them."""
    recordings = corpus.load_corpus(shared_data_dir)
    chosen = [r for population in ("adults", "children_sprsound2022") for r in
              [r for r in recordings if validation.population_key(r) == population][:2]][::-1]
    run = selected_registry().load("auscultation", variant="fp32").run
    settings = {"none": (run, ENTRY), "noisy": (run, {**ENTRY, "population_input_noise": {},
                                                      "input_noise": {"snr_db": 20.0, "draws": 2, "seed": 5}})}
    at_once = validation.score_settings(chosen, settings=settings)
    in_turn = list(validation.score_settings_in_turn(chosen, settings=settings))
    assert [(population, name) for population, name, _ in in_turn] == [
        ("adults", "none"), ("adults", "noisy"), ("children_sprsound2022", "none"), ("children_sprsound2022", "noisy")]
    for population, name, rows in in_turn:
        expected = [row for row in at_once[name] if row["population"] == population]
        assert [(r["name"], r["recording_score"], r["crackle_probability"]) for r in rows] == [
            (r["name"], r["recording_score"], r["crackle_probability"]) for r in expected]
    assert at_once["none"][0]["recording_score"] != at_once["noisy"][0]["recording_score"]


def test_a_clear_second_take_never_lowers_a_sites_finding():
    crackly = [_row("a", "base_left", 1, 0.8), _row("a", "base_right", 1, 0.1)]
    again = crackly + [_row("a", "base_left", 1, 0.05)]
    assert validation.patient_scores(crackly)["a"]["score"] == validation.patient_scores(again)["a"]["score"] == 0.8


def test_a_refused_recording_counts_for_nothing_and_an_unassessable_patient_is_never_a_negative():
    rows = [_row("a", "base_left", 1, 0.9, ok=False), _row("a", "base_right", 1, 0.2),
            _row("b", "base_left", 1, 0.9, ok=False), _row("c", "base_left", 0, 0.1), _row("d", "base_left", 1, 0.7)]
    patients = validation.patient_scores(rows)
    assert patients["a"]["score"] == 0.2 and not patients["b"]["assessable"]
    metrics = validation.patient_metrics(rows, threshold=0.5)
    assert metrics["not_assessable"] == {"patients": 1, "with_crackles": 1}
    assert metrics["counts"] == {"tp": 1, "fp": 0, "tn": 1, "fn": 1}  # b is not a negative
    recording = validation.recording_metrics(rows, threshold=0.5)
    assert recording["refused"] == {"recordings": 2, "with_crackles": 2, "without_crackles": 0}
    assert recording["recordings"] == 3


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_shipped_calibration_keeps_the_ranking(a, b):
    calibration = ENTRY["calibration"]
    assert calibration["slope"] > 0
    low, high = sorted((a, b))
    assert scoring.calibrate_score(low, calibration) <= scoring.calibrate_score(high, calibration)


def test_an_unknown_calibration_method_is_a_model_error():
    from audio_models.errors import ModelError

    with pytest.raises(ModelError, match="unknown calibration method 'isotonic'"):
        scoring.calibrate_score(0.4, {"method": "isotonic"})


def test_event_detection_counts_found_events_and_false_alarms():
    frames = np.zeros(100)
    frames[10:13] = 0.9  # inside the fine-crackle event at 0.32-0.45 s
    frames[60:62] = 0.8  # in no annotated crackle: one false alarm
    row = {"poor_quality": False, "frame_map": frames,
           "events": (Event(0.32, 0.45, "Fine Crackle"), Event(2.5, 2.9, "Fine Crackle"))}
    result = validation.event_metrics([row], frame_s=0.032)
    assert (result["fine_crackle_events"], result["detected"], result["false_alarms"]) == (2, 1, 1)
    assert result["false_alarms_per_minute"] == pytest.approx(1 / (100 * 0.032 / 60), rel=1e-3)


def test_manifest_check_flags_a_figure_that_no_longer_reproduces(evaluated):
    report, _ = evaluated
    shipped = json.loads(json.dumps(ENTRY["metrics"]["test"]))
    shipped["populations"]["adults"]["patient"]["auc"] += 0.02
    check = validation.manifest_check(report, shipped)
    assert not check["all_ok"] and not check["metrics"]["adults.patient.auc"]["ok"]
    assert check["metrics"]["adults.patient.specificity"]["ok"]


def test_folders_that_cannot_be_evaluated_are_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = CliRunner().invoke(audio, ["evaluate", "--data", str(empty), "--part", "all"])
    assert failed.exit_code == 1 and "no annotated SPRSound recordings" in failed.output


def test_a_model_that_names_no_patient_split_is_evaluated_only_with_part_all(shared_data_dir, settings, tmp_path):
    """Without a split in its manifest nobody can tell which patients the model saw: the default
    ``--part test`` is refused with the way out, rather than scoring patients it may have trained on."""
    trust_test_key(settings.data_dir)
    bundle = model_bundle(tmp_path / "no-split", auscultation="0.3.1")
    edit_manifest(bundle, lambda models: models["auscultation"]["training_data"].pop("split"))
    runner = CliRunner()
    installed = runner.invoke(cli, ["models", "install", str(bundle), "--data-dir", str(settings.data_dir)])
    assert installed.exit_code == 0, installed.output
    failed = runner.invoke(audio, ["evaluate", "--data", str(shared_data_dir), "--data-dir", str(settings.data_dir)])
    assert failed.exit_code == 1, failed.output
    assert "auscultation-0.3.1 names no patient split in its manifest: use --part all" in failed.output


def test_the_published_kauh_layout_is_scored_like_the_copy(kauh_dir, tmp_path):
    """A user's own KAUH download (the published file names, ``BP11_Heart Failure,C,P L L,53,M.wav``) is read
    by ``ildscreen audio evaluate --data``: the same recordings named both ways give the same figures."""
    rows = kauh_rows(kauh_dir, {"100", "103", "104", "11", "110", "112", "13", "15"})
    kauh_copy, published = write_kauh_copy(kauh_dir, rows, tmp_path / "kauh"), tmp_path / "download" / "Audio Files"
    published.mkdir(parents=True)
    letters = {mode: letter for letter, mode in kauh.FILTER_LETTERS.items()}
    for row in rows:
        name = (f"{letters[row['filter_mode']]}P{row['patient']}_{row['diagnosis'].title()},{row['sound_label']},"
                f"{row['location']},{int(float(row['age_y']))},{row['sex']}.flac")
        shutil.copy(kauh_dir / "audio" / row["recording"], published / name)
    runner = CliRunner()
    reports = {}
    for name, folder in (("copy", kauh_copy), ("published", published.parent)):
        result = runner.invoke(audio, ["evaluate", "--data", str(folder), "--part", "all", "--json"])
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(result.output)["populations"]
    assert set(reports["published"]) == {"adults"}
    for section in ("patient", "recording", "quality_gate", "subgroups"):
        assert reports["published"]["adults"][section] == reports["copy"]["adults"][section], section
