"""``ildscreen audio evaluate`` on the real recordings in ../shared/data: it reproduces every
headline number of the shipped manifest, and its parts (calibration, event detection, quality
gate, reproduction check, HTML report) behave as documented."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from audio_models import scoring, validation
from audio_models.datasets.sprsound import Event
from edge.cli import cli
from edge.commands.audio import audio
from edge.inference.bundles import selected_registry
from support import edit_manifest, model_bundle, trust_test_key

ENTRY = selected_registry().entry("auscultation")


@pytest.fixture(scope="module")
def evaluated(sprsound_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(audio, ["evaluate", "--data", str(sprsound_dir), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output), out


def test_evaluate_reproduces_every_metric_of_the_manifest(evaluated):
    report, _ = evaluated
    check = report["manifest_check"]
    assert check["all_ok"], json.dumps(check["metrics"], indent=1)
    assert {"auc", "sensitivity", "specificity", "ece", "quality_catch_rate", "auc_int8",
            "icbhi_crackle_free_called_negative"} <= set(check["metrics"])
    validation_block = ENTRY["validation"]
    assert abs(validation_block["auc"] - report["recording"]["auc"]) <= validation.REPRODUCTION_TOLERANCE
    assert report["recording"]["patients"] == validation_block["patients"]


def test_int8_stays_within_001_auc_of_fp32_on_held_out_patients(evaluated):
    report, _ = evaluated
    assert abs(report["auc_difference_int8_vs_fp32"]) <= 0.01


def test_the_report_covers_every_view_the_issue_names(evaluated):
    report, out = evaluated
    assert set(report["subgroups"]["location"]["groups"]) == {"posterior_left", "lateral_left", "posterior_right",
                                                              "lateral_right"}
    assert report["events"]["fine_crackle_events"] > 0 and report["quality_gate"]["poor_quality_records"] > 0
    assert report["icbhi_adults"]["crackle_free"] == 9 and report["icbhi_adults"]["recordings"] == 10
    page = (out / "report.html").read_text()
    for section in ("Crackle model on held-out recordings", "Event-level detection", "Quality gate vs expert Poor Quality",
                    "ICBHI adult cross-device check", "By location", "By age"):
        assert section in page, section
    assert (out / "calibration.png").stat().st_size > 0 and (out / "predictions.csv").is_file()


def test_no_patient_of_the_evaluated_part_was_in_training(sprsound_dir):
    from audio_models.datasets.sprsound import load_sprsound

    recordings = load_sprsound(sprsound_dir)
    split = ENTRY["validation"]["split"]
    test = {r.patient_id for r in validation.select_part(recordings, split_spec=split, part="test")}
    train = {r.patient_id for r in validation.select_part(recordings, split_spec=split, part="train")}
    calibration = {r.patient_id for r in validation.select_part(recordings, split_spec=split, part="validation")}
    assert test and not test & train and not test & calibration and not train & calibration
    assert ENTRY["training_data"]["patients"] == {"train": len(train), "validation": len(calibration), "test": len(test)}


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


def test_manifest_check_flags_a_number_that_no_longer_reproduces(evaluated):
    report, _ = evaluated
    shipped = json.loads(json.dumps(ENTRY["metrics"]["test"]))
    shipped["recording"]["auc"] += 0.02
    check = validation.manifest_check(report, shipped)
    assert not check["all_ok"] and not check["metrics"]["auc"]["ok"] and check["metrics"]["specificity"]["ok"]


def _copy_recordings(source, folder, names):
    for name in names:
        for sub, suffix in (("audio", ".flac"), ("annotations", ".json")):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(source / sub / f"{name}{suffix}", folder / sub)
    return folder


def test_part_all_scores_a_folder_of_unseen_patients(sprsound_dir, tmp_path):
    from audio_models.datasets.sprsound import load_sprsound

    recordings = load_sprsound(sprsound_dir)
    chosen = [r.name for r in recordings if r.has_fine_crackles][:3] + \
             [r.name for r in recordings if not r.has_fine_crackles and not r.poor_quality][:3]
    folder = _copy_recordings(sprsound_dir, tmp_path / "unseen", chosen)
    result = CliRunner().invoke(audio, ["evaluate", "--data", str(folder), "--part", "all", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["recording"]["recordings"] == 6 and report["recording"]["n_positive"] == 3
    assert "manifest_check" not in report  # only the manifest's own held-out part is compared with it


def test_folders_that_cannot_be_evaluated_are_clear_errors(sprsound_dir, tmp_path):
    from audio_models.datasets.sprsound import load_sprsound

    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = runner.invoke(audio, ["evaluate", "--data", str(empty)])
    assert failed.exit_code == 1 and "no annotated SPRSound recordings" in failed.output
    poor = [r.name for r in load_sprsound(sprsound_dir) if r.poor_quality][:2]
    folder = _copy_recordings(sprsound_dir, tmp_path / "poor", poor)
    failed = runner.invoke(audio, ["evaluate", "--data", str(folder), "--part", "all"])
    assert failed.exit_code == 1 and "no recording with expert crackle labels" in failed.output


def test_a_model_that_names_no_patient_split_is_evaluated_only_with_part_all(sprsound_dir, settings, tmp_path):
    """Without a split in its manifest nobody can tell which patients the model saw: the default
    ``--part test`` is refused with the way out, rather than scoring patients it may have trained on."""
    trust_test_key(settings.data_dir)
    bundle = model_bundle(tmp_path / "no-split", auscultation="0.2.1")
    edit_manifest(bundle, lambda models: models["auscultation"]["validation"].pop("split"))
    runner = CliRunner()
    installed = runner.invoke(cli, ["models", "install", str(bundle), "--data-dir", str(settings.data_dir)])
    assert installed.exit_code == 0, installed.output
    failed = runner.invoke(audio, ["evaluate", "--data", str(sprsound_dir), "--data-dir", str(settings.data_dir)])
    assert failed.exit_code == 1, failed.output
    assert "auscultation-0.2.1 names no patient split in its manifest: use --part all" in failed.output
