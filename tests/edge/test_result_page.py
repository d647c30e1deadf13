"""The result section and the referral letter show the guideline line, the advice, the
validation note and both uncertainties, in the page's language, from the assessment JSON."""
import pytest

from support import PATIENT
from edge.web.i18n import CATALOG


@pytest.fixture
def assessed(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    return visit, assessment


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_shows_guideline_line_advice_validation_and_uncertainty(client, assessed, lang):
    visit, assessment = assessed
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert CATALOG["guideline_ssc"][lang] in page
    for step in CATALOG["advice_steps_hrct_pfts"][lang].split("|"):
        assert step in page
    assert CATALOG["validation_note"][lang] in page
    low, high = (f"{value * 100:.0f}" for value in assessment["interval"])
    missing = assessment["if_missing_measured"]
    assert CATALOG["uncertainty_both"][lang].format(
        low=low, high=high, missing_low=f"{missing['low'] * 100:.0f}", missing_high=f"{missing['high'] * 100:.0f}") in page


def test_the_letter_names_the_guideline_line_validation_and_model_versions(client, nurse, assessed):
    visit, _ = assessed
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    client.set_cookie("lang", "en")
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    assert CATALOG["guideline_ssc"]["en"] in letter and CATALOG["validation_note"]["en"] in letter
    labs = assessment["validation"]["models"]["labs"]
    assert labs["version"] in letter and labs["statement"] in letter


def test_the_page_shows_the_likelihood_ratio_the_risk_applied(client, nurse, assessed):
    visit, _ = assessed
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    applied = assessment["contributions"]["labs"]["applied_likelihood_ratio"]  # after cap and dependence weight
    name = CATALOG["modality_labs"]["en"]
    if applied >= 1.1:
        assert CATALOG["driver_raised"]["en"].format(name=name, factor=f"{applied:.1f}") in page
    elif applied <= 1 / 1.1:
        assert CATALOG["driver_lowered"]["en"].format(name=name, factor=f"{1 / applied:.1f}") in page
    else:
        assert CATALOG["driver_unchanged"]["en"].format(name=name) in page


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_synthetic_lab_model_is_shown_as_measured_not_yet_counted_with_its_reason(client, nurse, assessed, lang):
    visit, _ = assessed
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    assert assessment["contributions"]["labs"]["reason_code"] == "synthetic"
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    line = CATALOG["not_counted_line"][lang].format(modality=CATALOG["modality_labs"][lang],
                                                    reason=CATALOG["not_counted_synthetic"][lang])
    assert line.replace("'", "&#39;") in page or line in page


def test_confirmed_ild_shows_when_the_next_pfts_are_due_on_the_result_timeline_and_worklist(client, nurse, db):
    from support import login
    from edge import audit
    from edge.users import create_user

    create_user(db, audit.CLI_OPERATOR, username="doctor3", role="clinician", password="correct horse battery")
    clinician = login(client, "doctor3")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=clinician).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=clinician).json
    assert client.post(f"/api/v1/patients/{patient['id']}/outcomes", headers=clinician,
                       json={"date": "2026-01-15", "source": "hrct", "ild": "present"}).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={"fvc_percent": 82, "dlco_percent": 70},
                             headers=clinician).json
    plan = assessment["monitoring"]
    assert assessment["pathway"] == "monitoring" and plan["last_pft"] == visit["started_at"][:10]
    client.set_cookie("lang", "en")
    due = CATALOG["next_pft_due"]["en"].format(start=plan["next_pft_from"], end=plan["next_pft_due"])
    for url in (f"/visits/{visit['id']}", f"/patients/{patient['id']}", "/"):
        assert due in client.get(url).get_data(as_text=True), url
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert CATALOG["guideline_monitoring"]["en"] in page
