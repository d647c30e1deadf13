"""Installing, activating, rolling back and verifying model bundles (``ildscreen models``), and the
service serving the active one; refused bundles leave the models folder byte for byte as it was."""
import hashlib
import io
import json
import re
import sqlite3

import numpy as np
import pytest
import soundfile

from audio_models import synthetic
from edge.app import create_app
from edge.cli import cli
from edge.config import load_settings
from edge.inference.bundles import BUNDLED_ID, ModelStore
from edge.inference.models import BUNDLED_DIR, entry_digest
from support import PASSWORD, PATIENT, edit_manifest, model_bundle
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)

LABS_FILE = "labs-0.1.0.onnx"


@pytest.fixture
def data_dir(settings):
    return settings.data_dir


@pytest.fixture
def models_dir(settings):
    return settings.models_path


def models(runner, *args, data_dir):
    return runner.invoke(cli, ["models", *args, "--data-dir", str(data_dir)])


def installed_id(output: str) -> str:
    return output.splitlines()[0].split(": ", 1)[1]


def snapshot(folder):
    """Every file and folder under ``folder`` with its bytes."""
    return {str(path.relative_to(folder)): (path.read_bytes() if path.is_file() else None)
            for path in sorted(folder.rglob("*"))}


def test_install_activates_a_new_version_and_list_shows_it(runner, data_dir, tmp_path):
    source = model_bundle(tmp_path / "bundle", labs="0.2.0")
    result = models(runner, "install", str(source), data_dir=data_dir)
    assert result.exit_code == 0, result.output
    bundle_id = installed_id(result.output)
    manifest_hash = hashlib.sha256((source / "manifest.json").read_bytes()).hexdigest()[:12]
    assert bundle_id == f"auscultation-0.6.0_breath-0.1.0_labs-0.2.0_{manifest_hash}"
    assert "restart 'ildscreen serve'" in result.output
    listed = json.loads(models(runner, "list", "--json", data_dir=data_dir).output)
    assert listed["active"] == bundle_id
    rows = {row["id"]: row for row in listed["bundles"]}
    assert rows[bundle_id]["active"] and not rows[BUNDLED_ID]["active"]
    assert rows[bundle_id]["models"]["labs"] == {"version": "0.2.0", "synthetic": True}
    assert rows[BUNDLED_ID]["models"]["labs"]["version"] == "0.1.0"
    shown = models(runner, "list", data_dir=data_dir).output
    assert f"* {bundle_id}  auscultation 0.6.0, breath 0.1.0 (synthetic)" in shown  # trained on real recordings


def test_torch_weights_may_be_left_out_but_not_altered(runner, data_dir, tmp_path):
    lean = model_bundle(tmp_path / "lean", labs="0.2.0")
    (lean / "auscultation.pt").unlink()
    result = models(runner, "install", str(lean), data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert not (data_dir / "models" / "versions" / installed_id(result.output) / "auscultation.pt").exists()
    altered = model_bundle(tmp_path / "altered", labs="0.3.0")
    with (altered / "auscultation.pt").open("ab") as handle:
        handle.write(b"\0")
    refused = models(runner, "install", str(altered), data_dir=data_dir)
    assert refused.exit_code == 1 and "auscultation/torch_weights: auscultation.pt: sha256 is" in refused.output


def swap_labs_for_garbage(folder):
    (folder / LABS_FILE).write_bytes(b"not an onnx model")
    digest = hashlib.sha256(b"not an onnx model").hexdigest()
    edit_manifest(folder, lambda models: models["labs"].update(sha256=digest))


def swap_crackle_model_for_the_labs_model(folder):
    (folder / "auscultation_fp32.onnx").write_bytes((folder / LABS_FILE).read_bytes())
    digest = hashlib.sha256((folder / LABS_FILE).read_bytes()).hexdigest()
    edit_manifest(folder, lambda models: models["auscultation"]["variants"]["fp32"].update(sha256=digest))


def append_byte(path):
    with path.open("ab") as handle:
        handle.write(b"\0")


BROKEN_BUNDLES = {
    "tampered file": (lambda f: append_byte(f / LABS_FILE), f"labs/default: {LABS_FILE}: sha256 is"),
    "missing file": (lambda f: (f / "auscultation_int8.onnx").unlink(),
                     "auscultation/int8: auscultation_int8.onnx: missing"),
    "missing model": (lambda f: edit_manifest(f, lambda models: models.pop("breath")),
                      "breath: missing from manifest.json"),
    "missing key": (lambda f: edit_manifest(f, lambda models: models["labs"].pop("calibration")),
                    "labs: manifest.json: missing calibration"),
    "no validation status": (lambda f: edit_manifest(f, lambda models: models["breath"].pop("validation_status")),
                             "breath: manifest.json: missing validation_status"),
    "validation status without its synthetic flag": (
        lambda f: edit_manifest(f, lambda models: models["labs"]["validation_status"].pop("synthetic")),
        "labs: validation_status: synthetic must be true or false"),
    "invalid JSON": (lambda f: (f / "manifest.json").write_text('{"models": {'), "manifest.json is not valid JSON"),
    "ONNX that does not load": (swap_labs_for_garbage,
                                f"labs/default: {LABS_FILE}: does not load or run in ONNX Runtime"),
    "ONNX of another model": (swap_crackle_model_for_the_labs_model,
                              "auscultation/fp32: auscultation_fp32.onnx: takes input 'features', which the "
                              "manifest does not declare"),
    "features this software does not compute": (
        lambda f: edit_manifest(f, lambda models: models["labs"]["inputs"][0]["feature_order"].reverse()),
        "labs: inputs[0].feature_order: differs from the 33 features"),
    # A patient-level crackle validation block (issue 24's shape) that the evidence model would refuse.
    "crackle validation block without its intervals": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"].update(validation={
            "unit": "patient", "ci_method": "patient_cluster_bootstrap", "populations": {"adults": {
                "patients": 30, "positive_patients": 10, "sensitivity": 0.8, "sensitivity_ci95": [0.6, 0.9],
                "specificity": 0.9}}})),
        "auscultation validation.populations.adults is incomplete: missing 'specificity_ci95'"),
    "crackle validation with more positive patients than patients": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"].update(validation={
            "unit": "patient", "ci_method": "patient_cluster_bootstrap", "populations": {"adults": {
                "patients": 3, "positive_patients": 10, "sensitivity": 0.8, "sensitivity_ci95": [0.6, 0.9],
                "specificity": 0.9, "specificity_ci95": [0.8, 0.95]}}})),
        "positive_patients 10 exceeds patients 3"),
    # Per-device figures (validation.populations.<pop>.by_device) are checked like the population's own.
    "crackle per-device figures of a device the population does not list": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"]["validation"]["populations"]["adults"].update(
            by_device={"Acme 7 bell": {"patients": 3, "positive_patients": 1, "sensitivity": 0.8,
                                       "sensitivity_ci95": [0.6, 0.9], "specificity": 0.9,
                                       "specificity_ci95": [0.8, 0.95]}})),
        "validation.populations.adults.by_device.Acme 7 bell: 'Acme 7 bell' is not one of the population's devices"),
    "crackle per-device figures without their intervals": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"]["validation"]["populations"]["adults"].update(
            by_device={"Littmann 3200 bell": {"patients": 3, "positive_patients": 1, "sensitivity": 0.8,
                                              "sensitivity_ci95": [0.6, 0.9], "specificity": 0.9}})),
        "validation.populations.adults.by_device.Littmann 3200 bell is incomplete: missing 'specificity_ci95'"),
    "crackle per-device figures that are not an object": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"]["validation"]["populations"]["adults"].update(
            by_device=["Littmann 3200 bell"])),
        "validation.populations.adults.by_device must be an object of device -> figures, got list"),
    # Input noise the scorer cannot honour (audio_models.scoring.noisy_copies): refused at install,
    # not met as a crash on the first recording.
    "crackle input noise with too many copies": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"].update(
            population_input_noise={"adults": {"snr_db": 30.0, "draws": 500, "seed": 0}})),
        "auscultation: population_input_noise.adults: must be null or {'snr_db': a number, 'draws': 1 to 8"),
    "crackle input noise without a level": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"].update(input_noise={"draws": 2, "seed": 0})),
        "auscultation: input_noise: must be null or"),
    "crackle input noise of an unknown shape": (
        lambda f: edit_manifest(f, lambda models: models["auscultation"].update(
            population_input_noise={"adults": {"snr_db": 20.0, "draws": 2, "seed": 0, "shape": "pink"}})),
        "optionally 'shape': one of white, recording}, got {'snr_db': 20.0, 'draws': 2, 'seed': 0, 'shape': 'pink'}"),
    "file outside the bundle": (lambda f: edit_manifest(f, lambda models: models["labs"].update(file="../x.onnx")),
                                "labs: default: needs a plain 'file' name"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_BUNDLES))
def test_a_broken_bundle_is_refused_naming_the_problem_and_nothing_changes(runner, data_dir, models_dir, tmp_path,
                                                                          breakage):
    installed = models(runner, "install", str(model_bundle(tmp_path / "good", labs="0.2.0")), data_dir=data_dir)
    assert installed.exit_code == 0, installed.output
    before = snapshot(models_dir)
    damage, message = BROKEN_BUNDLES[breakage]
    source = model_bundle(tmp_path / "broken", labs="0.3.0")
    damage(source)
    result = models(runner, "install", str(source), data_dir=data_dir)
    assert result.exit_code == 1 and "refused" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert snapshot(models_dir) == before


def test_a_damaged_copy_of_an_installed_bundle_is_refused_too(runner, data_dir, models_dir, tmp_path):
    source = model_bundle(tmp_path / "bundle", labs="0.2.0")
    bundle_id = installed_id(models(runner, "install", str(source), "--no-activate", data_dir=data_dir).output)
    append_byte(source / LABS_FILE)
    before = snapshot(models_dir)
    result = models(runner, "install", str(source), data_dir=data_dir)
    assert result.exit_code == 1 and f"{LABS_FILE}: sha256 is" in result.output
    assert snapshot(models_dir) == before and ModelStore(models_dir).active_id() == BUNDLED_ID
    assert bundle_id in models(runner, "list", data_dir=data_dir).output


def test_no_activate_installs_only_and_activate_switches(runner, data_dir, models_dir, tmp_path):
    result = models(runner, "install", str(model_bundle(tmp_path / "b", labs="0.2.0")), "--no-activate",
                    data_dir=data_dir)
    bundle_id = installed_id(result.output)
    assert result.exit_code == 0 and "not activated" in result.output
    assert ModelStore(models_dir).active_id() == BUNDLED_ID
    activated = models(runner, "activate", bundle_id, data_dir=data_dir)
    assert activated.exit_code == 0 and f"active: {bundle_id} (was bundled)" in activated.output
    assert (models_dir / "active").read_text() == bundle_id + "\n"
    again = models(runner, "activate", bundle_id, data_dir=data_dir)
    assert again.exit_code == 0 and "already the active bundle" in again.output


@pytest.mark.parametrize("bundle_id", ["auscultation-9.9.9_x_000000000000", "../versions", ""])
def test_activating_an_unknown_bundle_is_a_clear_error(runner, data_dir, models_dir, bundle_id):
    result = models(runner, "activate", bundle_id, data_dir=data_dir)
    assert result.exit_code == 1 and f"no model bundle {bundle_id!r} is installed" in result.output
    assert "installed: none" in result.output and not (models_dir / "active").exists()


def test_rollback_walks_back_through_activations_to_the_bundled_models(runner, data_dir, models_dir, tmp_path):
    first = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                               data_dir=data_dir).output)
    second = installed_id(models(runner, "install", str(model_bundle(tmp_path / "b", labs="0.3.0")),
                                data_dir=data_dir).output)
    back = models(runner, "rollback", data_dir=data_dir)
    assert back.exit_code == 0 and f"rolled back to {first} (was {second})" in back.output
    assert models(runner, "rollback", data_dir=data_dir).exit_code == 0
    assert ModelStore(models_dir).active_id() == BUNDLED_ID
    nothing = models(runner, "rollback", data_dir=data_dir)
    assert nothing.exit_code == 1 and "nothing to roll back" in nothing.output
    actions = [(event["action"], event["bundle"], event["previous"]) for event in ModelStore(models_dir).history()]
    assert actions == [("install", first, BUNDLED_ID), ("install", second, first), ("rollback", first, second),
                       ("rollback", BUNDLED_ID, first)]


def test_a_history_line_cut_short_by_a_crash_is_ignored_but_a_corrupt_one_is_an_error(runner, data_dir, models_dir,
                                                                                       tmp_path):
    bundle_id = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                                    data_dir=data_dir).output)
    history = models_dir / "history.jsonl"
    with history.open("a") as handle:
        handle.write('{"at": "2026-01-01", "action": "activ')
    assert ModelStore(models_dir).history()[-1]["bundle"] == bundle_id
    assert models(runner, "activate", BUNDLED_ID, data_dir=data_dir).exit_code == 0
    assert [event["action"] for event in ModelStore(models_dir).history()] == ["install", "activate"]
    history.write_text("garbage\n" + history.read_text())
    result = models(runner, "rollback", data_dir=data_dir)
    assert result.exit_code == 1 and "history.jsonl line 1 is corrupt" in result.output


def test_a_bundle_left_in_staging_by_a_crash_is_invisible(runner, data_dir, models_dir, tmp_path):
    half = models_dir / "staging" / "auscultation-0.1.0_breath-0.1.0_labs-0.2.0_000000000000.ab12"
    half.mkdir(parents=True)
    (half / "manifest.json").write_text("{}")
    assert ModelStore(models_dir).installed_ids() == []
    assert models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")), data_dir=data_dir).exit_code == 0
    assert len(ModelStore(models_dir).installed_ids()) == 1


def test_activate_and_rollback_refuse_a_bundle_damaged_after_install(runner, data_dir, models_dir, tmp_path):
    bundle_id = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                                    data_dir=data_dir).output)
    models(runner, "activate", BUNDLED_ID, data_dir=data_dir)
    append_byte(models_dir / "versions" / bundle_id / LABS_FILE)
    refused = models(runner, "activate", bundle_id, data_dir=data_dir)
    assert refused.exit_code == 1 and f"model bundle {bundle_id} is damaged" in refused.output
    rollback = models(runner, "rollback", data_dir=data_dir)
    assert rollback.exit_code == 1 and f"cannot roll back to {bundle_id}" in rollback.output
    assert ModelStore(models_dir).active_id() == BUNDLED_ID


def test_verify_rehashes_the_active_bundle(runner, data_dir, models_dir, tmp_path):
    bundle_id = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                                    data_dir=data_dir).output)
    ok = models(runner, "verify", data_dir=data_dir)
    assert ok.exit_code == 0 and f"{bundle_id}: 4 model files match" in ok.output
    append_byte(models_dir / "versions" / bundle_id / "breath-0.1.0.onnx")
    bad = models(runner, "verify", data_dir=data_dir)
    assert bad.exit_code == 1 and "breath/default: breath-0.1.0.onnx has sha256" in bad.output
    edit_manifest(models_dir / "versions" / bundle_id, lambda models: models["labs"].update(note="edited"))
    assert "manifest: manifest.json has sha256" in models(runner, "verify", data_dir=data_dir).output


def test_commands_are_in_the_audit_trail_when_there_is_a_database(runner, data_dir, tmp_path):
    assert runner.invoke(cli, ["db", "init", "--data-dir", str(data_dir)]).exit_code == 0
    bundle_id = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                                    data_dir=data_dir).output)
    models(runner, "rollback", data_dir=data_dir)
    models(runner, "verify", data_dir=data_dir)
    with sqlite3.connect(data_dir / "ildscreen.db") as db:
        rows = db.execute("SELECT username, action, entity, entity_id, detail FROM audit_log "
                          "WHERE entity = 'model_bundle' ORDER BY id").fetchall()
    assert [row[:4] for row in rows] == [("cli", "install_model_bundle", "model_bundle", bundle_id),
                                         ("cli", "rollback_model_bundle", "model_bundle", BUNDLED_ID),
                                         ("cli", "verify_model_bundle", "model_bundle", BUNDLED_ID)]
    assert json.loads(rows[1][4]) == {"previous": bundle_id}


def test_models_dir_defaults_to_the_data_folder_and_can_be_moved(tmp_path, monkeypatch):
    assert load_settings(data_dir=tmp_path / "d").models_path == tmp_path / "d" / "models"
    monkeypatch.setenv("ILDSCREEN_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert load_settings(data_dir=tmp_path / "d").models_path == tmp_path / "elsewhere"


def synthetic_crackles_wav() -> bytes:
    """Ten seconds of synthetic lung sound that passes the quality gate (noise alone may not)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, synthetic.synthesize(np.random.default_rng(0), duration_s=10.0).samples, 4000,
                    format="WAV")
    return buffer.getvalue()


def test_the_scoring_commands_use_the_data_folders_active_bundle(runner, data_dir, tmp_path):
    models(runner, "install", str(model_bundle(tmp_path / "a", auscultation="0.2.0", labs="0.2.0")), data_dir=data_dir)
    panel = tmp_path / "panel.csv"
    panel.write_text("analyte,value,unit\n718-7,12.1,g/dL\n6690-2,7.9,10*3/uL\n")
    scored = runner.invoke(cli, ["labs", "score", "--json", str(panel), "--data-dir", str(data_dir)])
    assert scored.exit_code == 0 and json.loads(scored.output)["model"]["version"] == "0.2.0"
    wav = tmp_path / "base.wav"
    wav.write_bytes(synthetic_crackles_wav())
    screened = runner.invoke(cli, ["screen", "--json", "--age", "67", "--sex", "F", "--ctd", "SSc", "--audio",
                                   f"posterior_left_base={wav}", "--labs", str(panel), "--data-dir", str(data_dir)])
    assert screened.exit_code == 0, screened.output
    versions = json.loads(screened.output)["model_versions"]
    assert versions["auscultation"].startswith("auscultation-0.2.0") and versions["labs"] == "labs-0.2.0"
    (data_dir / "models" / "active").write_text("\0\0")
    refused = runner.invoke(cli, ["labs", "score", "--json", str(panel), "--data-dir", str(data_dir)])
    assert refused.exit_code == 1 and "is corrupt" in json.loads(refused.output)["error"]
    for command in (["screen", "--age", "67", "--sex", "F", "--ctd", "SSc"], ["engines", "build"]):
        stopped = runner.invoke(cli, [*command, "--data-dir", str(data_dir)])  # they need the bundle: stop, saying why
        assert stopped.exit_code == 1 and re.fullmatch(r"Error: .*is corrupt.*\n", stopped.output), stopped.output


# The service, in process (a real process is in test_model_bundles_served.py).

def test_the_service_scores_labs_with_the_active_bundle_and_notes_a_pending_switch(runner, settings, nurse, client,
                                                                                    tmp_path):
    # ``client`` started on the bundled models; install a bundle after it started.
    bundle_id = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                                    data_dir=settings.data_dir).output)
    ready = client.get("/readyz").json["checks"]["models"]
    assert ready["ok"] and ready["bundle"] == BUNDLED_ID
    assert any(f"bundle {bundle_id} is active" in note and "restart" in note for note in ready["notes"])
    restarted = create_app(settings).test_client()
    headers = login_nurse(restarted)
    ready = restarted.get("/readyz").json["checks"]["models"]
    assert ready["bundle"] == bundle_id and ready["models"]["labs"]["version"] == "0.2.0" and not ready["notes"]
    visit = new_visit(restarted, headers)
    labs = restarted.post(f"/api/v1/visits/{visit}/labs", headers=headers,
                          json={"results": [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]})
    assert labs.status_code == 201 and labs.json["score"]["model"]["version"] == "0.2.0"


@pytest.mark.parametrize(("pointer", "reason"), [
    ("\0garbage", "is corrupt"),
    ("auscultation-0.1.0_breath-0.1.0_labs-7.0.0_123456789abc\n", "names a bundle that is not installed"),
])
def test_a_bad_pointer_at_start_fails_readyz_and_scores_nothing(settings, nurse, models_dir, pointer, reason):
    models_dir.mkdir(parents=True)
    (models_dir / "active").write_text(pointer)
    client = create_app(settings).test_client()
    headers = login_nurse(client)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and reason in ready.json["checks"]["models"]["reason"]
    assert str(models_dir / "active") in ready.json["checks"]["models"]["reason"]
    visit = new_visit(client, headers)
    labs = client.post(f"/api/v1/visits/{visit}/labs", headers=headers,
                       json={"results": [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]})
    # The nurse's entry is kept (not scored) and the visit cannot be assessed without its model.
    assert labs.status_code == 201 and labs.json["score"] is None
    assert "not available" in labs.json["score_unavailable"] and len(labs.json["results"]) == 1
    assert client.get(f"/api/v1/visits/{visit}/labs", headers=headers).json["results"][0]["value"] == 12.1
    assessed = client.post(f"/api/v1/visits/{visit}/assessments", headers=headers, json={})
    assert assessed.status_code == 503 and assessed.json["error"]["code"] == "model_unavailable"


def test_a_pointer_corrupted_while_serving_fails_readyz(client, models_dir):
    assert client.get("/readyz").status_code == 200
    models_dir.mkdir(parents=True)
    (models_dir / "active").write_bytes(b"\xff\xfe")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "active model pointer" in ready.json["checks"]["models"]["reason"]


def test_a_manifest_edited_after_install_is_not_served(runner, settings, models_dir, tmp_path):
    bundle_id = installed_id(models(runner, "install", str(model_bundle(tmp_path / "a", labs="0.2.0")),
                                    data_dir=settings.data_dir).output)
    edit_manifest(models_dir / "versions" / bundle_id, lambda models: models["labs"].update(version="6.6.6"))
    ready = create_app(settings).test_client().get("/readyz")
    assert ready.status_code == 503 and "manifest.json has sha256" in ready.json["checks"]["models"]["reason"]


def login_nurse(client) -> dict:
    response = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return {"X-CSRF-Token": response.json["csrf_token"]}


def new_visit(client, headers) -> int:
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]


def reissue_naming_the_bundled_entry(folder, **change):
    """A bundle whose crackle entry is the bundled one re-worded (another statement), naming the bundled entry in
    ``results_unchanged_from`` as the export does, with ``change`` applied on top."""
    bundled = json.loads((BUNDLED_DIR / "manifest.json").read_text(encoding="utf-8"))["models"]["auscultation"]
    source = model_bundle(folder)

    def reword(models):
        entry = models["auscultation"]
        entry["validation_status"]["statement"] = "Other words about the same model."
        entry["results_unchanged_from"] = [*entry.get("results_unchanged_from", []), entry_digest(bundled)]
        entry.update(change)
    edit_manifest(source, reword)
    return source


def test_a_reissue_that_changed_only_its_words_may_name_the_entry_it_replaces(runner, data_dir, tmp_path):
    result = models(runner, "install", str(reissue_naming_the_bundled_entry(tmp_path / "b")), data_dir=data_dir)
    assert result.exit_code == 0, result.output


def test_a_bundle_naming_an_entry_that_differs_beyond_its_words_is_refused(runner, data_dir, models_dir, tmp_path):
    """results_unchanged_from keeps results made with the named entry current (edge.freshness): naming one whose
    threshold differs would keep results current that calculating again changes, so install refuses it."""
    bundled_threshold = json.loads((BUNDLED_DIR / "manifest.json").read_text())["models"]["auscultation"]["threshold"]
    before = snapshot(models_dir)
    source = reissue_naming_the_bundled_entry(tmp_path / "b", threshold=round(bundled_threshold + 0.05, 3))
    result = models(runner, "install", str(source), data_dir=data_dir)
    assert result.exit_code == 1, result.output
    assert ("model auscultation: results_unchanged_from names the entry of bundle bundled, which differs beyond "
            "its words (threshold)") in result.output
    assert snapshot(models_dir) == before and ModelStore(models_dir).active_id() == BUNDLED_ID
