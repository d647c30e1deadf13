"""A patient whose CTD is suspected but not yet diagnosed, through the API, the result page, the
letter and the FHIR referral (issue 27): registered as "undetermined", assessed with the advice to
complete the work-up, shown in words in both languages, and edited to the diagnosis once made."""
import json

import pytest
from markupsafe import escape

from edge import audit
from edge.app import create_app
from edge.config import load_settings
from edge.fusion.triage import WORKUP_STEP
from edge.users import create_user
from edge.web.i18n import CATALOG
from imaging_client.referral import UNDETERMINED_NOTE
from support import PASSWORD, birth_year_for_age, login

UNDER_WORK_UP = {"code": "CL27-0100", "birth_year": birth_year_for_age(76), "sex": "F", "ctd_diagnosis": "undetermined",
                 "autoantibodies": ["ANA"], "smoking": "never", "symptoms": ["raynaud"]}


def text(lang, key):
    return str(escape(CATALOG[key][lang]))


@pytest.fixture
def assessed(client, nurse):
    created = client.post("/api/v1/patients", json=UNDER_WORK_UP, headers=nurse)
    assert created.status_code == 201, created.json
    visit = client.post(f"/api/v1/patients/{created.json['id']}/visits", json={}, headers=nurse).json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    return created.json, visit, assessment


def test_a_patient_under_work_up_is_registered_and_advised_to_complete_it(assessed):
    patient, _visit, assessment = assessed
    assert patient["ctd_diagnosis"] == "undetermined"
    recommendation = assessment["recommendation"]
    assert recommendation["guideline"]["code"] == "undetermined"
    assert recommendation["next_steps"][0] == WORKUP_STEP
    # ANA and Raynaud are Sjögren's risk factors, but she does not have Sjögren's disease (yet).
    assert recommendation["guideline"]["risk_factors"] == []
    assert assessment["contributions"]["clinical_prior"]["base_prevalence"] == pytest.approx(0.29)


def test_the_undetermined_prior_follows_the_programme_setting(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", evidence_undetermined_prior={"base": 0.12})
    app = create_app(settings)
    client = app.test_client()
    create_user(app.extensions["ildscreen"].folder.connect(), audit.CLI_OPERATOR, username="nurse9", role="nurse",
                password=PASSWORD)
    headers = login(client, "nurse9")
    patient = client.post("/api/v1/patients", json=UNDER_WORK_UP, headers=headers).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=headers).json
    assert assessment["contributions"]["clinical_prior"]["base_prevalence"] == pytest.approx(0.12)


def test_editing_the_diagnosis_once_made_is_audited_and_changes_the_advice(client, nurse, db, assessed):
    patient, visit, _ = assessed
    edited = client.patch(f"/api/v1/patients/{patient['id']}", json={"ctd_diagnosis": "SSc", "version": patient["version"]},
                          headers=nurse)
    assert edited.status_code == 200 and edited.json["ctd_diagnosis"] == "SSc"
    audit = db.execute("SELECT action, detail FROM audit_log WHERE entity = 'patient' ORDER BY id").fetchall()
    assert audit[-1][0] == "update" and "ctd_diagnosis" in audit[-1][1]
    again = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    assert again["recommendation"]["guideline"]["code"] == "ssc"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_page_and_letter_say_diagnosis_not_yet_established_in_words(client, nurse, assessed, lang):
    _patient, visit, _ = assessed
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    for key in ("ctd_undetermined", "diagnosis_undetermined_notice", "guideline_undetermined", "advice_step_workup"):
        assert text(lang, key) in page, key
    reason = "Raynaud and ANA while the work-up is under way" if lang == "en" else "雷诺现象"
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": reason}, headers=nurse).json
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    assert text(lang, "ctd_undetermined") in letter and text(lang, "guideline_undetermined") in letter
    assert ">undetermined<" not in letter and "— undetermined" not in page


def test_the_fhir_referral_says_the_diagnosis_is_not_established(client, nurse, db, assessed):
    _patient, visit, _ = assessed
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "work-up pending"},
                           headers=nurse).json
    payload = json.loads(db.execute("SELECT payload FROM referrals WHERE id = ?", [referral["id"]]).fetchone()[0])
    request = payload["entry"][0]["resource"]
    assert UNDETERMINED_NOTE in [note["text"] for note in request["note"]]


def test_the_registration_form_offers_it_in_words_without_an_english_code(client, nurse):
    client.set_cookie("lang", "zh-CN")
    form = client.get("/patients/new").get_data(as_text=True)
    assert f'<option value="undetermined" >{text("zh-CN", "ctd_undetermined")}</option>' in form
