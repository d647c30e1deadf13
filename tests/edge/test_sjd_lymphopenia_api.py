"""A Sjögren's patient with no ticked risk factor whose blood count, entered with the visit, shows
lymphopenia (brief h48): the visit's assessment follows the guideline's Sjögren's risk line (HRCT +
PFTs) and names the count, in the stored recommendation, on the result page (en, zh-CN) and in
``ildscreen screen --labs``; a normal count leaves the score to decide."""
import json

import pytest
from markupsafe import escape

from edge.cli import cli
from edge.web.i18n import CATALOG
from support import birth_year_for_age

SJOGREN = {"code": "CL48-0001", "birth_year": birth_year_for_age(72), "sex": "F", "ctd_diagnosis": "SjD", "autoantibodies": [],
           "smoking": "never", "symptoms": []}


def assess_with_panel(client, nurse, panel):
    patient = client.post("/api/v1/patients", json=SJOGREN, headers=nurse)
    assert patient.status_code == 201, patient.json
    visit = client.post(f"/api/v1/patients/{patient.json['id']}/visits", json={}, headers=nurse).json
    stored = client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse)
    assert stored.status_code == 201, stored.json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)
    assert assessment.status_code == 201, assessment.json
    return visit, assessment.json


# The same low count however the nurse entered it: SI, US units, or a differential percentage of the WBC.
LOW_COUNTS = [[{"analyte": "lymphocytes", "value": 0.8, "unit": "10*9/L"}],
              [{"analyte": "731-0", "value": 800, "unit": "/uL"}],
              [{"analyte": "wbc", "value": 8.0, "unit": "10*9/L"},
               {"analyte": "lymphocytes %", "value": 10, "unit": "%"}]]


@pytest.mark.parametrize("panel", LOW_COUNTS)
def test_lymphopenia_on_the_visit_blood_count_gets_the_sjogren_risk_line(client, nurse, panel):
    _visit, assessment = assess_with_panel(client, nurse, panel)
    recommendation = assessment["recommendation"]
    assert recommendation["guideline"]["code"] == "sjd_risk"
    assert recommendation["advice"] == "hrct_pfts"
    assert recommendation["next_steps"] == ["HRCT of the chest", "PFTs (spirometry, lung volumes, DLCO)"]
    assert recommendation["guideline"]["risk_factors"] == ["lymphopenia"]
    finding, = recommendation["guideline"]["risk_factor_findings"]
    assert finding["value"] == pytest.approx(0.8) and finding["cutoff"] == 1.0
    assert "on this visit's blood count" in recommendation["text"]
    assert assessment["inputs"]["lymphocytes"] == pytest.approx(0.8)


def test_a_normal_count_leaves_a_sjogren_patient_without_a_risk_factor(client, nurse):
    normal = [{"analyte": "lymphocytes", "value": 1.8, "unit": "10*9/L"}]
    _visit, assessment = assess_with_panel(client, nurse, normal)
    recommendation = assessment["recommendation"]
    assert recommendation["guideline"]["code"] == "none"
    assert recommendation["guideline"]["risk_factors"] == [] and recommendation["guideline"]["risk_factor_findings"] == []
    assert assessment["inputs"]["lymphocytes"] == pytest.approx(1.8)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_page_names_the_count_that_selected_the_line(client, nurse, lang):
    visit, _assessment = assess_with_panel(client, nurse, LOW_COUNTS[0])
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert str(escape(CATALOG["guideline_sjd_risk"][lang])) in page
    factors = page.split('id="risk-factors">', 1)[1].split("</p>", 1)[0]
    assert str(escape(CATALOG["risk_factors_on_record"][lang])) in factors
    assert str(escape(CATALOG["risk_factor_lymphopenia"][lang].format(value="0.8", cutoff="1"))) in factors


def test_screen_reads_lymphopenia_from_the_labs_file(runner, tmp_path):
    labs = tmp_path / "cbc.csv"
    labs.write_text("analyte,value,unit\nwbc,6.0,10*9/L\nlymphocytes,0.7,10*9/L\n", encoding="utf-8")
    base = ["screen", "--age", "72", "--sex", "F", "--ctd", "SjD", "--data-dir", str(tmp_path / "data")]
    as_json = runner.invoke(cli, [*base, "--json", "--labs", str(labs)])
    assert as_json.exit_code == 0, as_json.output
    guideline = json.loads(as_json.output)["recommendation"]["guideline"]
    assert guideline["code"] == "sjd_risk" and guideline["risk_factors"] == ["lymphopenia"]
    plain = runner.invoke(cli, [*base, "--labs", str(labs)])
    assert plain.exit_code == 0, plain.output
    assert "risk factors: lymphocytes 0.7 x10^9/L on this visit's blood count" in plain.output


def test_the_referral_letter_names_the_count_that_selected_the_line(client, nurse):
    visit, _assessment = assess_with_panel(client, nurse, LOW_COUNTS[0])
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert referral.status_code == 201, referral.json
    client.set_cookie("lang", "en")
    letter = client.get(f"/referrals/{referral.json['id']}/letter").get_data(as_text=True)
    factors = letter.split('id="risk-factors">', 1)[1].split("</p>", 1)[0]
    assert str(escape(CATALOG["risk_factor_lymphopenia"]["en"].format(value="0.8", cutoff="1"))) in factors
