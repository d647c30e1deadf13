"""Through the visit flow: a negative HRCT on record and symptoms outside every guideline line change
the stored recommendation, the result page's words (en, zh-CN) and ``ildscreen screen``, not only ``triage``.

A negative HRCT counts for 24 months (``triage_hrct_negative_valid_months``) before the day of the visit,
which the service and ``screen`` take as today: the HRCT here is dated a year before today, so it counts
whenever the tests run. Ages are read from the birth year at the visit, so a patient's birth year is
counted back from today too."""
import datetime as dt
import json

import pytest

from support import PATIENT, birth_year_for_age, login
from edge.web.i18n import CATALOG

TODAY = dt.date.today()
# The 10th of this month a year ago, and of this month a year on: the 24 months it counts, without
# the ends of months that add_months clamps.
HRCT_ON = dt.date(TODAY.year - 1, TODAY.month, 10).isoformat()
VALID_UNTIL = dt.date(TODAY.year + 1, TODAY.month, 10).isoformat()


@pytest.fixture
def clinician(client, make_user):
    make_user("clin1", "clinician")
    return login(client, "clin1")


def _visit(client, headers, patient):
    created = client.post("/api/v1/patients", json=patient, headers=headers).json
    return created["id"], client.post(f"/api/v1/patients/{created['id']}/visits", json={}, headers=headers).json["id"]


def _assess(client, headers, visit_id, **pfts):
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json=pfts, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def _stored_text(db, assessment_id):
    return db.execute("SELECT recommendation FROM risk_assessments WHERE id = ?", [assessment_id]).fetchone()[0]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_hrct_read_without_ild_turns_the_next_assessment_into_pfts_naming_its_date(client, clinician, db, lang):
    patient_id, visit_id = _visit(client, clinician, {**PATIENT, "symptoms": []})
    before = _assess(client, clinician, visit_id)
    assert before["recommendation"]["advice"] == "hrct_pfts"
    entered = client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                          json={"date": HRCT_ON, "source": "hrct", "ild": "absent"})
    assert entered.status_code == 201, entered.json
    after = _assess(client, clinician, visit_id)
    recommendation = after["recommendation"]
    assert recommendation["advice"] == "pfts" and after["pathway"] == "screening"
    assert recommendation["negative_hrct"] == {"date": HRCT_ON, "valid_until": VALID_UNTIL}
    assert after["inputs"]["hrct"] == {"date": HRCT_ON, "ild": "absent"}  # stored with what it read
    assert f"HRCT on {HRCT_ON} showed no ILD" in _stored_text(db, after["id"])
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert CATALOG["negative_hrct_note"][lang].format(date=HRCT_ON, until=VALID_UNTIL) in page
    assert CATALOG["action_pfts"][lang].format(months=12) in page
    for step in CATALOG["advice_steps_pfts"][lang].format(months=12).split("|"):
        assert step in page


def test_a_red_flag_after_a_negative_hrct_still_advises_hrct(client, clinician):
    patient_id, visit_id = _visit(client, clinician, {**PATIENT, "symptoms": []})
    assert client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                       json={"date": HRCT_ON, "source": "hrct", "ild": "absent"}).status_code == 201
    flagged = _assess(client, clinician, visit_id, fvc_percent=65, dlco_percent=90)
    assert flagged["tier"] == "high" and flagged["recommendation"]["advice"] == "hrct_pfts"
    assert f"HRCT on {HRCT_ON} showed no ILD" in flagged["recommendation"]["text"]


def test_a_high_score_the_tests_raised_after_a_negative_hrct_is_discussed_within_3_months(client, clinician,
                                                                                          monkeypatch):
    from edge import screening
    from edge.fusion.evidence import ModalityEvidence

    status = {"synthetic": True, "clinically_validated": False, "training_population": "test fixture",
              "statement": "Test fixture; not for clinical use."}
    monkeypatch.setitem(screening.SCORERS, "auscultation", lambda db, vid, picture, options: ModalityEvidence(
        "auscultation", 1.5, (1.0, 2.0), "crackle-test", status, {"level": "basal", "validated": True}))
    patient_id, visit_id = _visit(client, clinician, {**PATIENT, "symptoms": []})
    assert client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                       json={"date": HRCT_ON, "source": "hrct", "ild": "absent"}).status_code == 201
    assessment = _assess(client, clinician, visit_id)
    assert assessment["tier"] == "high" and assessment["red_flags"] == []
    recommendation = assessment["recommendation"]
    assert recommendation["advice"] == "discuss" and recommendation["priority"] == "within_3_months"
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert f'{CATALOG["priority"]["en"]}: {CATALOG["priority_within_3_months"]["en"]}' in page
    assert CATALOG["negative_hrct_note"]["en"].format(date=HRCT_ON, until=VALID_UNTIL) in page


def test_after_confirmed_ild_the_monitoring_plan_carries_no_screening_notes(client, clinician):
    patient_id, visit_id = _visit(client, clinician, {**PATIENT, "ctd_diagnosis": "SLE"})
    for day, ild in (("2025-01-10", "absent"), ("2026-02-10", "present")):
        assert client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                           json={"date": day, "source": "hrct", "ild": ild}).status_code == 201
    recommendation = _assess(client, clinician, visit_id)["recommendation"]
    assert recommendation["advice"] == "monitoring"
    assert recommendation["negative_hrct"] is None and recommendation["review_symptoms"] == []


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_coughing_sle_patient_with_a_low_score_is_reviewed_now_on_the_page(client, clinician, db, lang):
    patient = {**PATIENT, "ctd_diagnosis": "SLE", "autoantibodies": [], "smoking": "never", "pack_years": 0,
               "birth_year": birth_year_for_age(40), "symptoms": ["dry_cough"]}  # 40 whenever the test runs
    _, visit_id = _visit(client, clinician, patient)
    assessment = _assess(client, clinician, visit_id)
    assert assessment["tier"] == "low"  # the case that was told "re-screen in 12 months"
    recommendation = assessment["recommendation"]
    assert recommendation["advice"] == "discuss" and recommendation["review_symptoms"] == ["dry_cough"]
    assert "dry cough for more than 8 weeks" in _stored_text(db, assessment["id"])
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    symptom = CATALOG["symptom_dry_cough"][lang]
    assert CATALOG["symptom_review_note"][lang].format(symptoms=symptom) in page
    assert CATALOG["action_discuss"][lang].format(months=6) in page
    assert CATALOG["action_rescreen"][lang].format(months=12) not in page


def test_tests_raised_reads_the_likelihood_ratios_the_risk_applied():
    from edge.screening import tests_raised

    prior = {"clinical_prior": {"probability": 0.4}}
    assert tests_raised({"contributions": prior}) is False  # nothing measured: the picture alone
    assert tests_raised({"contributions": {**prior, "labs": {"applied_likelihood_ratio": 2.0},
                                           "breath": {"applied_likelihood_ratio": 0.8}}}) is True
    assert tests_raised({"contributions": {**prior, "labs": {"applied_likelihood_ratio": 0.5}}}) is False


def test_screen_names_the_negative_hrct_and_advises_pfts(runner, tmp_path):
    from edge.cli import cli

    base = ["screen", "--age", "70", "--sex", "F", "--ctd", "SSc", "--data-dir", str(tmp_path / "data")]
    plain = runner.invoke(cli, base)
    assert plain.exit_code == 0, plain.output
    assert "HRCT plus PFTs" in plain.output and "showed no ILD" not in plain.output
    after = runner.invoke(cli, [*base, "--hrct-no-ild", HRCT_ON])
    assert after.exit_code == 0, after.output
    assert f"HRCT on {HRCT_ON} showed no ILD" in after.output and "HRCT again if FVC or DLCO fall below" in after.output
    as_json = runner.invoke(cli, [*base, "--json", "--hrct-no-ild", HRCT_ON])
    assert json.loads(as_json.output)["recommendation"]["advice"] == "pfts"


@pytest.mark.parametrize(("args", "message"), [(["--hrct-no-ild", "2999-01-01"], "in the future (2999-01-01)"),
                                               (["--hrct-no-ild", HRCT_ON, "--ild-confirmed", "--fvc", "70",
                                                 "--dlco", "60"], "contradicts --ild-confirmed"),
                                               (["--hrct-no-ild", "March"], "March")])
def test_screen_refuses_an_hrct_date_it_cannot_use(runner, tmp_path, args, message):
    from edge.cli import cli

    result = runner.invoke(cli, ["screen", "--age", "70", "--sex", "F", "--ctd", "SSc",
                                 "--data-dir", str(tmp_path / "data"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
