"""The region's validation feeds a modality's status (issue 29, item 4): the hospital publishes a
federation's validation as a signed file, a clinic installs it, and the same validation rule that
judges a clinic's own outcomes decides whether it counts. A failing regional result never counts;
a bad file is refused with its reason and nothing stored changes. A format 1 file (intervals of the
unweighted counts, too narrow under verification weights) is refused, installed or already active,
and a federation result from before the weighted intervals cannot be published."""
import json
import math

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.cli import cli
from edge.fusion.evidence import ValidationRule, regional_status, tabular_evidence, tabular_validation
from edge.inference.models import BUNDLED_DIR
from edge.regional_validation import (
    RegionalValidationError,
    SelectedRegionalValidation,
    document_from_federation,
    parse_document,
    select_active_regional_validation,
    select_regional_validation,
)
from support import TEST_SIGNING_KEY_PEM
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)

LABS_ENTRY = json.loads((BUNDLED_DIR / "manifest.json").read_text())["models"]["labs"]  # synthetic-trained
SERVED_LABS = f"{LABS_ENTRY['name']}-{LABS_ENTRY['version']}"
PASSING = {"n": 240, "events": 60, "clinics": 6, "auc": 0.82, "auc_ci95": [0.76, 0.88], "ece": 0.04,
           "effective_n": 151.23, "effective_events": 41.77}
RESULT = {"rounds": [], "validation": {"federated_labs_model": PASSING, "labs": PASSING,
                                       "breath": {**PASSING, "auc": 0.68, "auc_ci95": [0.61, 0.75]},
                                       "auscultation": PASSING}}


@pytest.fixture(autouse=True)
def restore_selection():
    yield
    select_regional_validation(SelectedRegionalValidation())


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def publish(tmp_path, result=RESULT, key_pem=TEST_SIGNING_KEY_PEM, *extra):
    (tmp_path / "result.json").write_text(json.dumps(result))
    (tmp_path / "hospital.pem").write_bytes(key_pem)
    out = tmp_path / "regional-validation.json"
    outcome = run("federated", "publish-validation", tmp_path / "result.json", "--region", "North",
                  "--key", tmp_path / "hospital.pem", "--out", out, *extra)
    return outcome, out


def stored_tree(settings) -> dict:
    root = settings.models_path / "regional_validation"
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and path.name != ".lock"}


def test_a_published_regional_validation_installs_and_makes_a_modality_count(settings, tmp_path):
    outcome, out = publish(tmp_path, RESULT, TEST_SIGNING_KEY_PEM, "--model-version", f"labs={SERVED_LABS}")
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(out.read_text())
    assert sorted(document["modalities"]) == ["auscultation", "breath", "labs"]  # not the run's own labs model
    installed = run("regional-validation", "install", out, "--data-dir", settings.data_dir)
    assert installed.exit_code == 0, installed.output

    selection = select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    assert selection.error is None and selection.version.startswith("region-")
    without = tabular_validation(LABS_ENTRY, name="labs")
    assert not without["validated"]  # trained on synthetic data: its manifest never counts
    evidence = tabular_evidence("labs", 0.6, LABS_ENTRY, model_version=SERVED_LABS,
                                region=selection.figures("labs"))
    assert evidence.finding["counted"] and evidence.finding["validation_source"] == "region"
    assert "validated by the region North (6 clinics, 240 patients" in evidence.finding["reason"]
    assert evidence.log_likelihood_ratio != 0 and evidence.finding["region"]["clinics"] == 6

    shown = run("regional-validation", "show", "--json", "--data-dir", settings.data_dir)
    rows = {row["modality"]: row for row in json.loads(shown.output)["modalities"]}
    assert rows["labs"]["counts"] and not rows["breath"]["counts"] and not rows["auscultation"]["counts"]
    # The breath AUC 0.68 (DeLong 0.61-0.75) on 41.8 effective patients with ILD of 151.2: Newcombe's
    # score bound (0.58) is the lower one, and the one the rule judges.
    assert "could be as low as 0.58" in rows["breath"]["reason"]


def test_a_regional_result_that_fails_the_rule_does_not_count(settings, tmp_path):
    weak = {**PASSING, "auc": 0.70, "auc_ci95": [0.62, 0.78]}
    outcome, out = publish(tmp_path, {"validation": {"labs": weak}})
    assert outcome.exit_code == 0, outcome.output
    assert run("regional-validation", "install", out, "--data-dir", settings.data_dir).exit_code == 0
    selection = select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    evidence = tabular_evidence("labs", 0.9, LABS_ENTRY, model_version=SERVED_LABS, region=selection.figures("labs"))
    assert not evidence.finding["counted"] and evidence.log_likelihood_ratio == 0
    # DeLong's 0.62 or, lower, Newcombe's score bound on the effective numbers (0.60): the lower is judged.
    assert "its AUC in the region could be as low as 0.60" in evidence.finding["reason"]


BASE = {"patients": 240, "positive_patients": 60, "clinics": 6, "auc": 0.82, "auc_ci95": (0.76, 0.88),
        "region": "North", "version": "v", "model_version": SERVED_LABS}
RULE = ValidationRule()


@pytest.mark.parametrize("change, counts, reason", [
    ({}, True, "validated by the region North"),
    ({"clinics": RULE.region_min_clinics}, True, "validated"),
    ({"clinics": RULE.region_min_clinics - 1}, False, f"{RULE.region_min_clinics} are needed"),
    # The fewest patients and patients with ILD pass with an AUC whose score bound on so few clears the row.
    ({"patients": RULE.site_min_patients, "positive_patients": RULE.site_min_events, "auc": 0.95,
      "auc_ci95": (0.9, 0.99)}, True, "validated"),
    ({"patients": RULE.site_min_patients - 1}, False, "are needed"),
    ({"positive_patients": RULE.site_min_events - 1}, False, "with ILD) are needed"),
    ({"auc_ci95": (RULE.site_min_auc_lower, 0.9)}, True, "validated"),
    ({"auc_ci95": (RULE.site_min_auc_lower - 0.001, 0.9)}, False, "could be as low as"),
    ({"auc": None, "auc_ci95": None}, False, "could not be estimated"),
    ({"model_version": None}, False, "the region did not name the model it validated"),
    ({"model_version": "labs-9.9.9"}, False, f"the region validated labs-9.9.9, this clinic runs {SERVED_LABS}"),
])
def test_every_row_of_the_rule_judges_a_regional_validation(change, counts, reason):
    status = regional_status({**BASE, **change}, RULE, served_version=SERVED_LABS)
    assert status["validated"] is counts and reason in status["reason"]


def test_no_regional_validation_leaves_the_status_as_it_was():
    assert regional_status(None, RULE) is None
    assert tabular_validation(LABS_ENTRY, name="labs", region=None) == tabular_validation(LABS_ENTRY, name="labs")


def _signed(tmp_path, document, key_pem=TEST_SIGNING_KEY_PEM, *, raw=None):
    from edge.inference.bundle_checks import sign_file
    path = tmp_path / "incoming" / "regional-validation.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw if raw is not None else json.dumps(document).encode())
    sign_file(path, key_pem, path.with_name(path.name + ".sig"))
    return path


GOOD = document_from_federation({"validation": {"labs": PASSING}}, region="North", result_name="run.json")
OTHER_KEY = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption())


def _altered_after_signing(tmp_path):
    path = _signed(tmp_path, GOOD)
    path.write_text(json.dumps({**GOOD, "region": "South"}))
    return path


def _unsigned(tmp_path):
    path = _signed(tmp_path, GOOD)
    path.with_name(path.name + ".sig").unlink()
    return path


def _with_labs(**figures):
    return {**GOOD, "modalities": {"labs": {**GOOD["modalities"]["labs"], **figures}}}


@pytest.mark.parametrize("make, reason", [
    (lambda p: _signed(p, GOOD, OTHER_KEY), "not a signature of this regional-validation.json by any pinned key"),
    (lambda p: _altered_after_signing(p), "not a signature of this regional-validation.json"),
    (lambda p: _unsigned(p), "missing: the regional validation is unsigned"),
    (lambda p: _signed(p, None, raw=b"{not json"), "not a regional validation"),
    (lambda p: _signed(p, _with_labs(positive_patients=300)), "positive_patients 300 exceeds patients 240"),
    (lambda p: _signed(p, _with_labs(auc=0.95)), "must hold the auc 0.95"),
    (lambda p: _signed(p, _with_labs(patients=-1)), "modalities.labs.patients"),
    (lambda p: _signed(p, {**GOOD, "modalities": {"xray": GOOD["modalities"]["labs"]}}), "unknown modalities ['xray']"),
    (lambda p: _signed(p, {**GOOD, "kind": "model_bundle"}), "kind"),
    (lambda p: _signed(p, {**GOOD, "surprise": 1}), "surprise: Extra inputs are not permitted"),
    (lambda p: _signed(p, {**GOOD, "issued_at": "2026-12-05T10:00:00"}), "has no UTC offset"),
])
def test_a_bad_file_is_refused_with_its_reason_and_nothing_stored_changes(settings, tmp_path, make, reason):
    first, _ = publish(tmp_path)
    assert run("regional-validation", "install", tmp_path / "regional-validation.json",
               "--data-dir", settings.data_dir).exit_code == 0, first.output
    before = stored_tree(settings)
    outcome = run("regional-validation", "install", make(tmp_path), "--data-dir", settings.data_dir)
    assert outcome.exit_code == 1 and "refused" in outcome.output and reason in outcome.output, outcome.output
    assert "Traceback" not in outcome.output
    assert stored_tree(settings) == before


def test_an_installed_file_altered_later_is_not_used(settings, tmp_path):
    _, out = publish(tmp_path)
    assert run("regional-validation", "install", out, "--data-dir", settings.data_dir).exit_code == 0
    stored = next((settings.models_path / "regional_validation" / "versions").glob("*/regional-validation.json"))
    stored.write_text(stored.read_text().replace('"North"', '"Elsewhere"'))
    selection = select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    assert selection.figures("labs") is None and "no longer matches its id" in selection.error
    shown = run("regional-validation", "show", "--data-dir", settings.data_dir)
    assert shown.exit_code == 1 and "no longer matches its id" in shown.output


def test_rollback_returns_to_no_regional_validation(settings, tmp_path):
    _, out = publish(tmp_path)
    assert run("regional-validation", "install", out, "--data-dir", settings.data_dir).exit_code == 0
    rolled = run("regional-validation", "rollback", "--data-dir", settings.data_dir)
    assert rolled.exit_code == 0 and "no regional validation" in rolled.output
    assert select_active_regional_validation(settings.models_path, settings.model_signing_keys).document is None
    again = run("regional-validation", "rollback", "--data-dir", settings.data_dir)
    assert again.exit_code == 1 and "nothing to roll back" in again.output


def test_publishing_refuses_a_result_without_validation_or_with_a_bad_model_version(tmp_path):
    outcome, out = publish(tmp_path, {"rounds": []})
    assert outcome.exit_code == 1 and "no 'validation' object" in outcome.output and not out.exists()
    outcome, _ = publish(tmp_path, RESULT, TEST_SIGNING_KEY_PEM, "--model-version", "labs")
    assert outcome.exit_code == 2 and "MODALITY=NAME-VERSION" in outcome.output
    with pytest.raises(RegionalValidationError, match="unknown modalities \\['xray'\\]"):
        document_from_federation(RESULT, region="North", result_name="r.json", model_versions={"xray": "x-1"})
    with pytest.raises(RegionalValidationError, match="a regional validation is at most"):
        parse_document(b" " * 300_000, source="big.json")


def test_the_dashboard_shows_what_the_region_validated_and_whether_it_counts(client, make_user):
    from support import login

    document = parse_document(json.dumps(document_from_federation(
        RESULT, region="North", result_name="run.json", model_versions={"labs": SERVED_LABS})).encode(), source="test")
    make_user("clin1", "clinician")
    login(client, "clin1")
    assert "No regional validation installed." in client.get("/dashboard").get_data(as_text=True)
    select_regional_validation(SelectedRegionalValidation("region-20261205T100000_abcdef012345", document))
    html = client.get("/dashboard").get_data(as_text=True)
    card = html[html.index('id="regional-validation"'):html.index('id="drift"')]
    assert "North" in card and "0.82 (0.76–0.88)" in card and "240 (60)" in card
    assert card.count('class="regional-counts"') == 1  # labs; breath's AUC lower bound 0.61 fails the rule
    assert 'class="regional-uncertain"' in card and 'class="regional-no_finding"' in card  # lung sounds: AUC only
    client.set_cookie("lang", "zh-CN")
    assert "在本诊所计入" in client.get("/dashboard").get_data(as_text=True)


def test_an_assessment_scores_labs_with_the_selected_regional_validation(settings, tmp_path):
    from edge.inference.bundles import select_active_bundle, select_bundle, selected_bundle
    from edge.modalities import region_validation, scored_evidence

    previous = selected_bundle()
    select_active_bundle(settings.models_path, settings.model_signing_keys)  # the bundled models
    try:
        model = {"name": LABS_ENTRY["name"], "version": LABS_ENTRY["version"]}
        assert not scored_evidence("labs", 0.7, model).finding["counted"]
        _, out = publish(tmp_path, RESULT, TEST_SIGNING_KEY_PEM, "--model-version", f"labs={SERVED_LABS}")
        assert run("regional-validation", "install", out, "--data-dir", settings.data_dir).exit_code == 0
        select_active_regional_validation(settings.models_path, settings.model_signing_keys)
        counted = scored_evidence("labs", 0.7, model)
        assert counted.finding["counted"] and counted.finding["validation_source"] == "region"
        assert region_validation("auscultation")["sensitivity"] is None  # this run measured no basal finding
    finally:
        select_bundle(previous)


AUSCULTATION_ENTRY = {**json.loads((BUNDLED_DIR / "manifest.json").read_text())["models"]["auscultation"],
                      "validation": None}  # no adult validation in the manifest: the region must carry it
SERVED_AUSCULTATION = f"{AUSCULTATION_ENTRY['name']}-{AUSCULTATION_ENTRY['version']}"
FINDING = {"sensitivity": 0.70, "sensitivity_ci95": (0.58, 0.80), "specificity": 0.80,
           "specificity_ci95": (0.73, 0.86)}


@pytest.mark.parametrize("finding, counts, reason", [
    (FINDING, True, "validated by the region North"),
    ({}, False, "no sensitivity and specificity of the finding"),
    ({**FINDING, "sensitivity_ci95": (0.10, 0.80), "specificity_ci95": (0.30, 0.86)}, False, "still too uncertain"),
])
def test_lung_sounds_count_by_the_regions_basal_finding_accuracy(finding, counts, reason):
    from edge.fusion.evidence import EvidenceOptions, crackle_evidence, crackle_potential_range

    region = {**BASE, **finding, "model_version": SERVED_AUSCULTATION}
    status = regional_status(region, RULE, needs_finding=True, served_version=SERVED_AUSCULTATION)
    assert status["validated"] is counts and reason in status["reason"]
    evidence = crackle_evidence({"posterior_left_base": 0.95, "posterior_right_base": 0.05}, AUSCULTATION_ENTRY,
                                ctd_diagnosis="SSc", model_version="auscultation-test", options=EvidenceOptions(),
                                region=region)
    assert evidence.finding["counted"] is counts and reason in evidence.finding["reason"]
    if counts:  # a basal finding: LR+ = Se / (1 - Sp) of the region's figures
        assert evidence.likelihood_ratio == pytest.approx(0.70 / 0.20)
        assert evidence.finding["validation_source"] == "region" and evidence.finding["region"]["clinics"] == 6
    else:
        assert evidence.log_likelihood_ratio == 0
    # What lung sounds could still do follows the same validation: the region's LRs, or nothing.
    potential = crackle_potential_range(AUSCULTATION_ENTRY, ctd_diagnosis="SSc", region=region)
    expected = (math.log(0.30 / 0.80), math.log(0.70 / 0.20)) if counts else (0.0, 0.0)
    assert potential == pytest.approx(expected)


def test_a_published_lung_sound_validation_carries_the_basal_findings_accuracy():
    finding = {key: list(value) if isinstance(value, tuple) else value for key, value in FINDING.items()}
    document = document_from_federation({"validation": {"auscultation": {**PASSING, "basal_finding": finding}}},
                                        region="North", result_name="run.json")
    figures = document["modalities"]["auscultation"]
    assert figures["sensitivity"] == 0.70 and figures["specificity_ci95"] == [0.73, 0.86]
    broken = {**document, "modalities": {"auscultation": {**figures, "specificity": None, "specificity_ci95": None}}}
    with pytest.raises(RegionalValidationError, match="sensitivity and specificity come together"):
        parse_document(json.dumps(broken).encode(), source="broken.json")


def _format_1(document):
    """The same figures as the region published them before its intervals were weighted."""
    modalities = {name: {key: value for key, value in figures.items() if not key.startswith("effective_")}
                  for name, figures in document["modalities"].items()}
    return {**document, "format": 1, "modalities": modalities}


def test_a_format_1_file_is_refused_with_the_reason_and_nothing_stored_changes(settings, tmp_path):
    publish(tmp_path)
    assert run("regional-validation", "install", tmp_path / "regional-validation.json",
               "--data-dir", settings.data_dir).exit_code == 0
    before = stored_tree(settings)
    outcome = run("regional-validation", "install", _signed(tmp_path, _format_1(GOOD)), "--data-dir", settings.data_dir)
    assert outcome.exit_code == 1 and "format 1: its intervals come from the unweighted counts" in outcome.output
    assert "Traceback" not in outcome.output and stored_tree(settings) == before


def test_an_active_format_1_file_is_not_used_and_the_reason_is_shown(settings, tmp_path, monkeypatch):
    import datetime as dt
    from types import SimpleNamespace

    from edge import regional_validation

    old = _signed(tmp_path, _format_1(GOOD))
    with monkeypatch.context() as patched:  # installed by a clinic before it upgraded: no format check then
        patched.setattr(regional_validation, "parse_document", lambda data, source: SimpleNamespace(
            issued_at=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))
        assert run("regional-validation", "install", old, "--data-dir", settings.data_dir).exit_code == 0
    selection = select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    assert selection.figures("labs") is None and "format 1: its intervals come from the unweighted" in selection.error
    shown = run("regional-validation", "show", "--data-dir", settings.data_dir)
    assert shown.exit_code == 1 and "format 1" in shown.output


def test_a_federation_result_from_before_the_weighted_intervals_cannot_be_published(tmp_path):
    old = {"validation": {"labs": {key: value for key, value in PASSING.items() if not key.startswith("effective_")}}}
    with pytest.raises(RegionalValidationError, match="labs has no effective counts: a run from before"):
        document_from_federation(old, region="North", result_name="run.json")
    outcome, out = publish(tmp_path, old)
    assert outcome.exit_code == 1 and "run the validation round again" in outcome.output and not out.exists()


def test_the_file_carries_the_effective_numbers_of_patients_beside_the_counts():
    figures = GOOD["modalities"]["labs"]
    assert GOOD["format"] == 2 and figures["patients"] == 240 and figures["positive_patients"] == 60
    assert figures["effective_patients"] == 151.2 and figures["effective_positive_patients"] == 41.8
    with pytest.raises(RegionalValidationError, match="effective_positive_patients 200.0 exceeds effective_patients"):
        parse_document(json.dumps(_with_labs(effective_positive_patients=200.0)).encode(), source="bad.json")
    with pytest.raises(RegionalValidationError, match="effective_patients: Field required"):
        parse_document(json.dumps({**GOOD, "modalities": {"labs": {
            key: value for key, value in figures.items() if key != "effective_patients"}}}).encode(), source="old.json")
