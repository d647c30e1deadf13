"""Assessing a visit through the API: stored with model versions, validation status and inputs,
missing modalities reported, guideline advice, red flags, GAP staging only with confirmed ILD."""
import json

import pytest

from support import PATIENT, bundled_crackle_stamp, patch_visit
from edge import screening
from edge.fusion.evidence import ModalityEvidence

STATUS = {"synthetic": True, "clinically_validated": False, "training_population": "test fixture",
          "statement": "Test fixture; not for clinical use."}


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def test_a_visit_without_recordings_is_assessed_from_the_clinical_prior_alone(client, nurse, visit_id, db):
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse)
    assert response.status_code == 201, response.json
    assessment = response.json
    assert assessment["missing"] == ["auscultation", "breath", "labs"]
    assert assessment["probability"] == pytest.approx(assessment["pretest_probability"])
    assert assessment["tier"] in ("intermediate", "high")  # SSc with anti-Scl-70 and symptoms
    assert assessment["inputs"]["clinical_picture"]["ctd_diagnosis"] == "SSc"
    stored = db.execute("SELECT tier, model_versions FROM risk_assessments").fetchall()
    assert stored == [(assessment["tier"], "{}")]


def test_registered_modality_evidence_is_fused_and_versioned(app, client, nurse, visit_id, monkeypatch):
    monkeypatch.setitem(screening.SCORERS, "auscultation", lambda db, vid, picture, options: ModalityEvidence(
        "auscultation", 1.2, (0.8, 1.5), "crackle-cnn-1.0", STATUS, {"level": "basal", "validated": True}))
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    assert assessment["probability"] > assessment["pretest_probability"]
    assert assessment["model_versions"] == {"auscultation": "crackle-cnn-1.0"}
    assert assessment["synthetic_models"] == ["auscultation"]
    assert assessment["inputs"]["evidence"][0]["log_likelihood_ratio"] == 1.2
    assert assessment["validation"]["models"]["auscultation"] == {"version": "crackle-cnn-1.0", **STATUS}
    assert "Not validated for clinical use" in assessment["validation"]["note"]


def test_reassessment_adds_a_new_record_and_keeps_the_old(client, nurse, visit_id):
    first = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    second = client.post(f"/api/v1/visits/{visit_id}/assessments",
                         json={"fvc_percent": 70, "dlco_percent": 50}, headers=nurse).json
    assert second["id"] != first["id"]
    assert second["tier"] == "high"
    assert {flag["code"] for flag in second["red_flags"]} == {"low_fvc", "low_dlco"}
    assert second["staging"] is None and second["confirmed_ild"] is None  # no confirmed ILD: no GAP
    listed = client.get(f"/api/v1/visits/{visit_id}/assessments").json["assessments"]
    assert [a["id"] for a in listed] == [first["id"], second["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"fvc_percent": 500}, "fvc_percent"), ({"dlco_percent": -3}, "dlco_percent"), ({"gap": 1}, "gap")],
)
def test_bad_pft_values_are_refused_and_nothing_is_stored(client, nurse, visit_id, db, body, field):
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json=body, headers=nurse)
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == field
    assert db.execute("SELECT COUNT(*) FROM risk_assessments").fetchone()[0] == 0


def test_dlco_value_and_not_performed_conflict(client, nurse, visit_id):
    response = client.post(f"/api/v1/visits/{visit_id}/assessments",
                           json={"fvc_percent": 80, "dlco_percent": 60, "dlco_not_performed": True}, headers=nurse)
    assert response.status_code == 422


def test_unknown_visit_is_404(client, nurse):
    assert client.post("/api/v1/visits/999/assessments", json={}, headers=nurse).status_code == 404


def test_triage_thresholds_come_from_the_programme_settings(tmp_path):
    from support import login
    from edge.app import create_app
    from edge.config import load_settings
    from edge import audit
    from edge.users import create_user

    app = create_app(load_settings(data_dir=tmp_path / "d", triage_intermediate=0.95, triage_high=0.99,
                                   triage_pft_abnormal_below=70, triage_hrct_negative_valid_months=18,
                                   triage_lymphopenia_below=1.2, triage_sjd_older_age_from=80,
                                   triage_lymphopenia_lookback_months=3, triage_anti_mda5_rescreen_months=4,
                                   triage_red_flag_tiers={"low_dlco": "urgent"},
                                   monitoring_pft_months_first_year={"SLE": [3, 6]}))
    db = app.extensions["ildscreen"].folder.connect()
    create_user(db, audit.CLI_OPERATOR, username="nurse1", role="nurse", password="correct horse battery")
    client = app.test_client()
    headers = login(client, "nurse1")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=headers).json
    assert assessment["tier"] == "low" and assessment["thresholds"] == {"intermediate": 0.95, "high": 0.99,
                                                                        "rescreen_discuss_months": 6,
                                                                        "rescreen_low_months": 12,
                                                                        "pft_abnormal_below": 70,
                                                                        "hrct_negative_valid_months": 18,
                                                                        "lymphopenia_below": 1.2,
                                                                        "lymphopenia_lookback_months": 3,
                                                                        "anti_mda5_rescreen_months": 4,
                                                                        "sjd_older_age_from": 80,
                                                                        "red_flag_tiers": {"low_dlco": "urgent"},
                                                                        "monitoring_first_year": {"SLE": [3, 6]},
                                                                        "monitoring_after_first_year": {}}
    # FVC 75% is not abnormal under this programme's 70% cut-off; DLCO 65% is.
    flagged = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={"fvc_percent": 75, "dlco_percent": 65},
                          headers=headers).json
    assert [flag["code"] for flag in flagged["red_flags"]] == ["low_dlco"]
    assert flagged["tier"] == "urgent"  # this programme's tier for a low DLCO


def test_entered_labs_and_a_breath_reading_are_fused_with_their_model_versions(client, nurse, visit_id):
    panel = [{"analyte": "718-7", "value": 11.9, "unit": "g/dL"}, {"analyte": "6690-2", "value": 9.8, "unit": "10*3/uL"},
             {"analyte": "2160-0", "value": 0.9, "unit": "mg/dL"}]
    assert client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    assert "labs" not in assessment["missing"] and "breath" in assessment["missing"]
    assert assessment["model_versions"]["labs"].startswith("labs-")
    assert "labs" in assessment["synthetic_models"]  # the shipped labs model is synthetic-only, and says so
    labs = assessment["contributions"]["labs"]
    assert 0 < labs["finding"]["probability"] < 1
    # Synthetic-only: measured, not yet counted (LR 1), with what it would have said if it counted.
    assert labs["counted"] is False and labs["likelihood_ratio"] == 1 and "synthetic" in labs["reason"]
    assert assessment["not_counted"]["labs"] == labs["reason"]
    prevalence = labs["finding"]["training_prevalence"]  # the manifest's, not a constant
    p = labs["finding"]["probability"]
    assert labs["finding"]["likelihood_ratio_if_counted"] == pytest.approx(
        (p / (1 - p)) / (prevalence / (1 - prevalence)))


def test_the_advice_names_its_guideline_line_and_the_uncertainty_is_explained(client, nurse, visit_id):
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    recommendation = assessment["recommendation"]
    assert recommendation["guideline"]["code"] == "ssc" and recommendation["advice"] == "hrct_pfts"
    low, high = assessment["interval"]
    assert low < assessment["probability"] < high
    assert assessment["uncertainty"].startswith(
        f"We are 90% sure the risk is between {low * 100:.0f}% and {high * 100:.0f}%")
    missing = assessment["if_missing_measured"]
    assert f"from {missing['low'] * 100:.0f}% to {missing['high'] * 100:.0f}%" in assessment["uncertainty"]
    # The synthetic breath model would not count; a KL-6 (labs) could still move the risk.
    assert "breath" in missing["not_informative"] and "labs" in missing["modalities"]
    assert missing["low"] < assessment["probability"] < missing["high"]


def test_an_hrct_read_entered_by_a_clinician_confirms_ild_for_gap_staging(client, app, visit_id, db):
    from support import login
    from edge import audit
    from edge.users import create_user

    create_user(db, audit.CLI_OPERATOR, username="doctor1", role="clinician", password="correct horse battery")
    clinician = login(client, "doctor1")
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=clinician).json["patient_id"]
    entered = client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                          json={"date": "2026-01-15", "source": "hrct", "ild": "present", "pattern": "NSIP"})
    assert entered.status_code == 201, entered.json
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={"fvc_percent": 70, "dlco_percent": 50},
                             headers=clinician).json
    assert assessment["confirmed_ild"] == {"source": "clinician_outcome", "date": "2026-01-15", "referral_id": None}
    assert assessment["staging"]["gap"]["stage"] == "II"


def test_confirmed_ild_then_a_new_visit_is_on_the_monitoring_pathway_with_pfts_due(client, nurse, visit_id, db):
    from support import login
    from edge import audit
    from edge.users import create_user

    before = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    assert before["pathway"] == "screening" and before["monitoring"] is None
    create_user(db, audit.CLI_OPERATOR, username="doctor2", role="clinician", password="correct horse battery")
    clinician = login(client, "doctor2")
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=clinician).json["patient_id"]
    assert client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                       json={"date": "2026-01-15", "source": "hrct", "ild": "present"}).status_code == 201
    assert patch_visit(client, visit_id, {"status": "completed"}, clinician).status_code == 200
    opened = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=clinician)
    assert opened.status_code == 201, opened.json
    new_visit = opened.json["id"]
    after = client.post(f"/api/v1/visits/{new_visit}/assessments", json={}, headers=clinician).json
    assert after["pathway"] == "monitoring"
    recommendation = after["recommendation"]
    assert recommendation["advice"] == "monitoring" and recommendation["advice"] != before["recommendation"]["advice"]
    assert any(step.startswith("PFTs") for step in recommendation["next_steps"])
    assert after["monitoring"]["pft_every_months"] in ([3, 6], [3, 12], [6, 6], [12, 12])
    assert after["monitoring"]["next_pft_due"] is not None


def received_report(db, visit_id, *, status, conclusion_codes):
    """A CT report as the outbox stores it when the hospital answers (edge.outbox.poll_results)."""
    referral_id = db["referrals"].insert({
        "visit_id": visit_id, "code": "ILD-ABCDEFGHIJ", "priority": "routine", "status": "reported", "payload": "{}",
        "attempts": 1, "next_attempt_at": "2026-01-01T00:00:00+00:00", "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00"}).last_pk
    report = {"resourceType": "DiagnosticReport", "status": status, "effectiveDateTime": "2026-02-01T00:00:00+00:00",
              "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": code}]}
                                 for code in conclusion_codes]}
    db["imaging_results"].insert({"referral_id": referral_id, "received_at": "2026-02-01T00:00:00+00:00",
                                  "metrics": "{}", "report": json.dumps({"diagnostic_report": report})})


@pytest.mark.parametrize(("status", "codes"), [("preliminary", ["233703007"]), ("final", []),
                                               ("final", ["195967001"])])
def test_no_gap_staging_without_a_final_hrct_report_of_ild(client, nurse, visit_id, db, status, codes):
    received_report(db, visit_id, status=status, conclusion_codes=codes)
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={"fvc_percent": 70, "dlco_percent": 50},
                             headers=nurse).json
    assert assessment["confirmed_ild"] is None and assessment["staging"] is None


def test_gap_staging_with_confirmed_ild_uses_both_possible_ages(client, nurse, visit_id, db):
    received_report(db, visit_id, status="final", conclusion_codes=["233703007"])
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={"fvc_percent": 70, "dlco_percent": 50},
                             headers=nurse).json
    assert assessment["confirmed_ild"]["source"] == "hrct_report"
    staging = assessment["staging"]
    birth_year = PATIENT["birth_year"]
    year = int(assessment["inputs"]["clinical_picture"]["ages"][1]) + birth_year
    assert staging["ages"] == [year - birth_year - 1, year - birth_year]
    # female (0), age > 65 either way (2), FVC 70 (1), DLCO 50 (1); ILD-GAP: CTD-ILD -2
    assert staging["gap"] == {"points": [4, 4], "stage": "II"} and staging["ild_gap"]["index"] == [2, 2]
    # Sending lung function records it on the visit, what is not sent as not measured: no PFTs, no staging.
    without_pfts = client.post(f"/api/v1/visits/{visit_id}/assessments", json={"fvc_percent": None},
                               headers=nurse).json
    assert without_pfts["confirmed_ild"] is not None and without_pfts["staging"] is None


def test_lung_function_sent_with_an_assessment_is_the_visits_and_an_empty_body_assesses_with_it(
        client, nurse, visit_id, db):
    """h130 found an empty body dropped the visit's FVC/DLCO (its red flags gone, the result out of date as soon
    as it was made, 'changed: lung_function'): the API now assesses with what the visit holds, as the tablet."""
    sent = client.post(f"/api/v1/visits/{visit_id}/assessments", json={"fvc_percent": 70, "dlco_percent": 50},
                       headers=nurse).json
    stored = json.loads(db.execute("SELECT lung_function FROM visits WHERE id = ?", [visit_id]).fetchone()[0])
    assert stored == {"fvc_percent": 70, "dlco_percent": 50, "dlco_not_performed": False}
    again = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    for assessment in (sent, again):
        assert {flag["code"] for flag in assessment["red_flags"]} == {"low_fvc", "low_dlco"}
        assert assessment["inputs"]["pft"] == stored
    assert again["freshness"]["current"] and "lung_function" not in again["freshness"]["changed"]


def test_the_tablets_lung_function_counts_in_an_api_assessment(client, nurse, visit_id, db):
    """One visit, one result: the FVC the tablet's form stored is the one an API assessment uses."""
    from edge import audit, patients

    patients.set_lung_function(db, audit.CLI_OPERATOR, visit_id, fvc_percent=65, dlco_percent=None,
                               dlco_not_performed=True)
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    assert [flag["code"] for flag in assessment["red_flags"]] == ["low_fvc"]
    assert assessment["inputs"]["pft"] == {"fvc_percent": 65, "dlco_percent": None, "dlco_not_performed": True}
    assert assessment["freshness"]["current"]


def stored_recording(db, visit_id, chest_site, crackle_probability):
    """A scored recording as the recordings API stores it (the audio itself is not needed here)."""
    stamp = bundled_crackle_stamp()
    db["recordings"].insert({
        "visit_id": visit_id, "chest_site": chest_site, "sha256": "0" * 64, "file_path": "x.wav",
        "media_type": "audio/wav", "size_bytes": 1, "sample_rate": 4000, "channels": 1, "duration_s": 20.0,
        "quality": json.dumps({"ok": True, "issues": []}), "crackle_probability": crackle_probability,
        "model_version": f"auscultation-{stamp['version']}-fp32", "result": json.dumps({"model": stamp}),
        "created_at": "2026-01-01T00:00:00+00:00"})


def test_stored_basal_crackles_count_only_through_a_validated_detector(client, nurse, visit_id, db, monkeypatch):
    from edge import modalities
    from edge.fusion.evidence import crackle_sign_for

    stored_recording(db, visit_id, "posterior_left_base", 0.95)
    stored_recording(db, visit_id, "posterior_right_base", 0.05)
    real_entry = modalities.manifest_entry

    def without_validation(name):
        entry = dict(real_entry(name))
        entry.pop("validation", None)
        return entry

    monkeypatch.setattr(modalities, "manifest_entry", without_validation)
    unvalidated = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    crackles = unvalidated["contributions"]["auscultation"]
    assert crackles["likelihood_ratio"] == 1 and crackles["finding"]["validated"] is False
    assert crackles["counted"] is False and unvalidated["not_counted"]["auscultation"]
    assert unvalidated["probability"] == pytest.approx(unvalidated["pretest_probability"])

    # A patient-level adult validation block (issue 24's shape) that passes the validation rule.
    detector = {"unit": "patient", "ci_method": "patient_cluster_bootstrap", "populations": {"adults": {
        "patients": 60, "positive_patients": 20, "sensitivity": 0.8, "sensitivity_ci95": [0.7, 0.88],
        "specificity": 0.9, "specificity_ci95": [0.84, 0.94], "dataset": "fixture"}}}
    monkeypatch.setattr(modalities, "manifest_entry", lambda name: (
        {**real_entry(name), "validation": detector} if name == "auscultation" else real_entry(name)))
    validated = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).json
    crackles = validated["contributions"]["auscultation"]
    sign = crackle_sign_for(PATIENT["ctd_diagnosis"])
    positive_if_ild = 0.8 * sign.sensitivity + 0.1 * (1 - sign.sensitivity)
    positive_if_not = 0.8 * (1 - sign.specificity) + 0.1 * sign.specificity
    assert crackles["finding"]["level"] == "basal" and crackles["finding"]["positive_basal_sites"] == [
        "posterior_left_base"]
    assert crackles["likelihood_ratio"] == pytest.approx(positive_if_ild / positive_if_not)
    assert validated["probability"] > validated["pretest_probability"]
