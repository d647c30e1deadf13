"""Site calibration: versions stored, activated, rolled back and refused when damaged; the
assessment hook applies the active one before triage, records its version and runs the
shadow; the fit shrinks towards no change when outcomes are few."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from support import PATIENT, login
from edge import audit, patients
from edge.calibration_fit import fit_site_calibration
from edge.cli import cli
from edge.errors import ModelUnavailable
from edge.fusion.triage import TriageThresholds
from edge.inference.bundles import BUNDLED_ID, BundleError
from edge.outcome_labels import assessed_visits
from edge.screening import assess_visit
from edge.simulation import simulate_site
from edge.site_calibration import (
    IDENTITY,
    CalibrationStore,
    SelectedCalibration,
    SiteCalibration,
    select_active_calibration,
    select_calibration,
    selected_calibration,
)
from evaluation.recalibration import expit, logit

ACTOR = audit.Actor(None, "test", "clinician")
PRIOR = (0.5, 0.25)


@pytest.fixture(autouse=True)
def calibration_restored():
    before = selected_calibration()
    yield
    select_calibration(before)


@pytest.fixture
def store(settings):
    return CalibrationStore(settings.models_path)


def test_a_fit_is_stored_in_shadow_then_activated_then_rolled_back(store):
    version, previous = store.save({"intercept": -0.5, "slope": 0.8}, activate=False)
    assert previous is None and store.active_id() == BUNDLED_ID and store.shadow_id() == version
    assert store.activate(version) == BUNDLED_ID
    assert store.active_id() == version and store.shadow_id() is None
    assert store.load(version) == SiteCalibration(version, -0.5, 0.8)
    assert store.rollback() == (BUNDLED_ID, version)
    assert [event["action"] for event in store.history()] == ["activate", "rollback"]


def test_a_damaged_or_unknown_calibration_is_never_activated(store):
    version, _ = store.save({"intercept": -0.5, "slope": 0.8}, activate=False)
    path = store.versions / version / "calibration.json"
    path.write_text(path.read_text().replace("-0.5", "-5.0"))
    with pytest.raises(BundleError, match="damaged"):
        store.activate(version)
    with pytest.raises(BundleError, match="no calibration 'site-nope'"):
        store.activate("site-nope")
    assert store.active_id() == BUNDLED_ID


def test_the_hook_applies_the_active_calibration_before_triage_and_records_it(db):
    patient = patients.create_patient(db, ACTOR, PATIENT)
    visit = patients.create_visit(db, ACTOR, patient["id"])
    plain = assess_visit(db, ACTOR, visit["id"], thresholds=TriageThresholds())
    assert plain["calibration"]["version"] == BUNDLED_ID and plain["calibration"]["shadow"] is None
    select_calibration(SelectedCalibration(SiteCalibration("site-a_1", -6.0, 1.0), SiteCalibration("site-b_2", 1.0, 1.0)))
    mapped = assess_visit(db, ACTOR, visit["id"], thresholds=TriageThresholds())
    fused = mapped["calibration"]["fused_probability"]
    assert fused == pytest.approx(plain["probability"])
    assert mapped["probability"] == pytest.approx(float(expit(logit(fused) - 6.0)))
    assert mapped["calibration"]["shadow"] == {"version": "site-b_2", "probability": pytest.approx(
        float(expit(logit(fused) + 1.0)))}
    assert mapped["tier_from_risk"] == "low" != plain["tier_from_risk"]  # triage follows the recalibrated risk
    stored = db.execute("SELECT calibration_version FROM risk_assessments ORDER BY id").fetchall()
    assert stored == [(BUNDLED_ID,), ("site-a_1",)]


def test_an_unusable_pointer_refuses_assessments_rather_than_using_another_calibration(app, client, make_user,
                                                                                    settings, store):
    store.root.mkdir(parents=True)
    store.pointer.write_text("garbage here\n")
    selection = select_active_calibration(settings.models_path)
    assert selection.active is None and "ildscreen calibrations activate" in selection.error
    make_user("nurse1", "nurse")
    headers = login(client, "nurse1")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json
    response = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=headers)
    assert response.status_code == 503 and "site calibration unavailable" in response.json["error"]["message"]
    with pytest.raises(ModelUnavailable):
        from edge.site_calibration import recalibrated
        recalibrated({"probability": 0.2, "interval": [0.1, 0.3]})


def test_rollback_repairs_an_unusable_pointer_back_to_the_bundled_calibration(settings, store):
    """The error message of a damaged pointer names 'calibrations rollback' as a way out: it works."""
    store.root.mkdir(parents=True)
    store.pointer.write_text("garbage here\n")
    rolled = CliRunner().invoke(cli, ["calibrations", "rollback", "--data-dir", str(settings.data_dir)])
    assert rolled.exit_code == 0, rolled.output
    assert "rolled back to bundled" in rolled.output and store.active_id() == BUNDLED_ID
    assert select_active_calibration(settings.models_path).error is None


@pytest.fixture(scope="module")
def simulated_visits(tmp_path_factory):
    """A simulated site's assessed visits (300 patients, verification-biased outcomes)."""
    from edge.config import load_settings
    from edge.service import prepare_data_folder

    settings = load_settings(data_dir=tmp_path_factory.mktemp("site") / "data")
    folder, _ = prepare_data_folder(settings)
    db = folder.connect()
    select_calibration(SelectedCalibration(IDENTITY))
    simulate_site(db, site_secret=folder.site_secret, n_patients=300, seed=0, thresholds=TriageThresholds(),
                  window_months=6)
    visits = assessed_visits(db, window_months=6)
    db.close()
    return visits


def movement(fit_report, visits):
    """Mean absolute change of the risk over every screened visit."""
    fused = np.array([visit["fused_probability"] for visit in visits])
    fit = fit_report["fit"]
    return float(np.mean(np.abs(expit(fit["intercept"] + fit["slope"] * logit(fused)) - fused)))


def test_with_20_outcomes_the_recalibration_moves_little(simulated_visits):
    labelled = [visit["assessment_id"] for visit in simulated_visits if visit["label"] is not None]
    keep = set(labelled[:20])
    few = [{**visit, "label": visit["label"] if visit["assessment_id"] in keep else None} for visit in simulated_visits]
    options = {"active": IDENTITY, "window_months": 6}
    shrunk_few, _ = fit_site_calibration(few, prior_sd=PRIOR, **options)
    unshrunk_few, _ = fit_site_calibration(few, prior_sd=(1e3, 1e3), **options)
    shrunk_all, _ = fit_site_calibration(simulated_visits, prior_sd=PRIOR, **options)
    assert shrunk_few["n_outcomes"] == 20
    assert movement(shrunk_few, simulated_visits) < 0.5 * movement(unshrunk_few, simulated_visits)
    assert movement(shrunk_few, simulated_visits) < 0.5 * movement(shrunk_all, simulated_visits)


def test_the_report_says_what_verification_leaves_unknown(simulated_visits):
    report, document = fit_site_calibration(simulated_visits, active=IDENTITY, prior_sd=PRIOR, window_months=6)
    tiers = {name.split(" x ")[0] for name in report["verification"]["by_stratum"]}
    assert {"low", "intermediate", "high"} <= tiers <= {"low", "intermediate", "high", "urgent"}
    assert "tier x advice" in report["verification"]["method"]
    assert any("not recorded" in line for line in report["verification"]["cannot_estimate"])
    assert report["per_modality"]["fitted"] is False
    assert document["intercept"] == report["fit"]["intercept"]
    nobody_low = [{**visit, "label": None} if visit["tier"] == "low" else visit for visit in simulated_visits]
    report, _ = fit_site_calibration(nobody_low, active=IDENTITY, prior_sd=PRIOR, window_months=6)
    assert report["verification"]["cannot_estimate"][0].startswith("low x ")
    assert "nobody verified" in report["verification"]["cannot_estimate"][0]


def test_each_modality_gets_its_status_from_the_clinics_outcomes_and_it_is_stored(simulated_visits):
    from edge.fusion.evidence import ValidationRule

    report, document = fit_site_calibration(simulated_visits, active=IDENTITY, prior_sd=PRIOR, window_months=6)
    assert set(report["modalities"]) == {"auscultation", "breath", "labs"}
    assert document["modalities"] == report["modalities"]
    lenient = ValidationRule(site_min_patients=5, site_min_events=2, site_min_auc_lower=0.51)
    strict = ValidationRule(site_min_patients=10 ** 6)
    lenient_report, _ = fit_site_calibration(simulated_visits, active=IDENTITY, prior_sd=PRIOR, window_months=6,
                                             rule=lenient)
    strict_report, _ = fit_site_calibration(simulated_visits, active=IDENTITY, prior_sd=PRIOR, window_months=6,
                                            rule=strict)
    # The simulated outputs carry signal: a lenient rule validates them, a strict one never does.
    assert any(status["validated"] for status in lenient_report["modalities"].values())
    assert not any(status["validated"] for status in strict_report["modalities"].values())
    assert "verified patients" in strict_report["modalities"]["labs"]["reason"]


def perfectly_ranked_visits(patients, with_ild):
    """One verified visit per patient whose lab output ranks every patient with ILD above every one without."""
    visits = [{"patient_id": f"p{index}", "modality_probabilities": {"labs": 0.9 if index < with_ild else 0.1}}
              for index in range(patients)]
    return visits, np.array([1] * with_ild + [0] * (patients - with_ild)), np.ones(patients)


def test_a_perfect_ranking_at_the_clinic_counts_only_when_the_score_bound_on_its_patients_clears_the_row():
    """The patient bootstrap of a perfect ranking is the point 1.00-1.00; the rule judges Newcombe's
    score bound on the patients with and without ILD instead (below 0.70 for 3 of 20)."""
    from edge.calibration_fit import modality_status
    from edge.fusion.evidence import ValidationRule

    rule = ValidationRule(site_min_patients=20, site_min_events=3)
    few = modality_status(*perfectly_ranked_visits(20, 3), rule)["labs"]
    assert few["auc_ci95"] == [1.0, 1.0] and few["auc_lower_judged"] == pytest.approx(0.659, abs=1e-3)
    assert not few["validated"] and "could be as low as 0.66; 0.70 is needed" in few["reason"]
    enough = modality_status(*perfectly_ranked_visits(60, 12), rule)["labs"]
    assert enough["validated"] and enough["auc_lower_judged"] == pytest.approx(0.896, abs=1e-3)


def test_the_events_the_rule_judges_are_patients_with_ild_not_their_visits():
    """A patient verified with ILD at three visits is one patient with ILD (last session's note:
    ``events`` counted visits, so 3 patients seen 3 times passed a rule row needing 5)."""
    from edge.calibration_fit import modality_status
    from edge.fusion.evidence import ValidationRule

    visits, y, weights = perfectly_ranked_visits(20, 3)
    thrice = [visit for visit in visits for _ in range(3)]
    status = modality_status(thrice, np.repeat(y, 3), np.repeat(weights, 3),
                             ValidationRule(site_min_patients=20, site_min_events=5))["labs"]
    assert (status["patients"], status["events"], status["event_visits"]) == (20, 3, 9)
    assert not status["validated"] and "20 verified patients (3 with ILD) at this clinic" in status["reason"]


def test_cli_refuses_without_outcomes_and_switches_with_an_audit_trail(settings, db):
    runner = CliRunner()
    data_dir = str(settings.data_dir)
    empty = runner.invoke(cli, ["calibrate", "--data-dir", data_dir])
    assert empty.exit_code == 1 and "no screened patient has a verified outcome" in empty.output
    nothing = runner.invoke(cli, ["calibrations", "rollback", "--data-dir", data_dir])
    assert nothing.exit_code == 1 and "nothing to roll back" in nothing.output
    unknown = runner.invoke(cli, ["calibrations", "activate", "site-x_1", "--data-dir", data_dir])
    assert unknown.exit_code == 1 and "no calibration 'site-x_1'" in unknown.output
    version, _ = CalibrationStore(settings.models_path).save({"intercept": 0.1, "slope": 0.9}, activate=False)
    listed = json.loads(runner.invoke(cli, ["calibrations", "list", "--json", "--data-dir", data_dir]).output)
    assert listed["active"] == BUNDLED_ID and listed["shadow"] == version
    assert runner.invoke(cli, ["calibrations", "activate", version, "--data-dir", data_dir]).exit_code == 0
    assert runner.invoke(cli, ["calibrations", "rollback", "--data-dir", data_dir]).exit_code == 0
    actions = [row[0] for row in db.execute(
        "SELECT action FROM audit_log WHERE entity = 'site_calibration' ORDER BY id").fetchall()]
    assert actions == ["activate_site_calibration", "rollback_site_calibration"]


def synthetic_visits(n, *, labs_weight, seed=0):
    """Visits whose outcomes follow the fusion with the labs evidence weighted by ``labs_weight``."""
    rng = np.random.default_rng(seed)
    visits = []
    for index in range(n):
        prior = float(expit(rng.normal(-1.0, 0.8)))
        llrs = {"auscultation": rng.normal(0, 1.0), "breath": rng.normal(0, 1.0), "labs": rng.normal(0, 1.5)}
        fused = float(expit(logit(prior) + sum(llrs.values())))
        truth = float(expit(logit(prior) + llrs["auscultation"] + llrs["breath"] + labs_weight * llrs["labs"]))
        visits.append({"assessment_id": index, "tier": "high" if fused >= 0.3 else "low", "fused_probability": fused,
                       "pretest_probability": prior, "log_likelihood_ratios": llrs,
                       "label": int(rng.uniform() < truth)})
    return visits


def test_per_modality_weights_are_fitted_only_with_enough_events_and_find_the_miscalibrated_one():
    options = {"active": IDENTITY, "prior_sd": PRIOR, "window_months": 6}
    few, _ = fit_site_calibration(synthetic_visits(150, labs_weight=0.4), **options)
    assert few["per_modality"]["fitted"] is False and "needs at least 100 events" in few["per_modality"]["reason"]
    many, _ = fit_site_calibration(synthetic_visits(3000, labs_weight=0.4), **options)
    weights = many["per_modality"]["weights"]
    assert many["per_modality"]["fitted"] is True and many["per_modality"]["applied"] is False
    assert weights["labs"]["value"] < 0.6
    for name in ("auscultation", "breath", "clinical_prior"):
        assert abs(weights[name]["value"] - 1) < 4 * weights[name]["se"] + 0.1


def test_screen_uses_the_active_calibration_as_the_service_would(settings):
    store = CalibrationStore(settings.models_path)
    version, _ = store.save({"intercept": -1.0, "slope": 1.0}, activate=True)
    result = CliRunner().invoke(cli, ["screen", "--json", "--age", "70", "--sex", "F", "--ctd", "SSc",
                                      "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["calibration"]["version"] == version
    assert output["probability"] == pytest.approx(float(expit(logit(output["calibration"]["fused_probability"]) - 1)))


def test_commands_never_create_a_clinic_by_mistake_nor_simulate_beside_real_patients(tmp_path, settings, db):
    runner = CliRunner()
    missing = str(tmp_path / "nowhere")
    for args in (["calibrate"], ["outcomes", "export", "--out", str(tmp_path / "o.csv")]):
        result = runner.invoke(cli, [*args, "--data-dir", missing])
        assert result.exit_code == 1 and "no database at" in result.output
    assert not (tmp_path / "nowhere").exists()
    patients.create_patient(db, ACTOR, PATIENT)
    refused = runner.invoke(cli, ["outcomes", "simulate", "--patients", "20", "--data-dir", str(settings.data_dir)])
    assert refused.exit_code == 1 and "already holds patients" in refused.output
    assert db.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1


def test_an_active_calibration_that_validated_the_lab_model_lets_it_count(store):
    from edge.fusion.evidence import EvidenceOptions
    from edge.labs import score_lab_panel
    from edge.modalities import labs_evidence_from_score

    panel = [{"analyte": "albumin", "value": 44, "unit": "g/L"}, {"analyte": "ldh", "value": 180, "unit": "U/L"}]
    validated = {"labs": {"validated": True, "reason": "validated on 80 verified patients at this clinic",
                          "auc": 0.8, "auc_ci95": [0.74, 0.86]}}
    version, _ = store.save({"intercept": 0.0, "slope": 1.0, "modalities": validated}, activate=True)
    loaded = store.load(version)
    assert loaded.modalities == validated
    before = labs_evidence_from_score(score_lab_panel(panel), EvidenceOptions())
    assert before.finding["counted"] is False
    try:
        select_calibration(SelectedCalibration(loaded))
        after = labs_evidence_from_score(score_lab_panel(panel), EvidenceOptions())
    finally:
        select_calibration(SelectedCalibration(IDENTITY))
    assert after.finding["counted"] and after.finding["validation_source"] == "site"
    assert after.likelihood_ratio == pytest.approx(after.finding["likelihood_ratio_if_counted"])


def test_the_sites_auc_intervals_resample_patients_not_visits(simulated_visits):
    """Every patient seen at four identical visits is still the same number of patients: the
    site AUC's interval (overall and per modality) must not narrow, as it would if visits were
    resampled as if independent."""
    from edge.fusion.evidence import ValidationRule

    rule = ValidationRule(site_min_patients=5, site_min_events=2, site_min_auc_lower=0.51)
    options = {"active": IDENTITY, "prior_sd": PRIOR, "window_months": 6, "rule": rule}
    once, _ = fit_site_calibration(simulated_visits, **options)
    repeated, _ = fit_site_calibration([visit for visit in simulated_visits for _ in range(4)], **options)
    assert repeated["before"]["auc"]["ci95"] == pytest.approx(once["before"]["auc"]["ci95"])
    assert repeated["before"]["auc"]["clusters"] == once["before"]["auc"]["clusters"] < repeated["n_outcomes"]
    for name, status in once["modalities"].items():
        if status["auc_ci95"] is not None:
            assert repeated["modalities"][name]["auc_ci95"] == pytest.approx(status["auc_ci95"]), name
