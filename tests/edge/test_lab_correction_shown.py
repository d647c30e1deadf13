"""A lab value entered again (a typo corrected) replaces the earlier one: the result scores the newest
value of each analyte (tabular_models.lab_panels.normalize_panel), so the visit page must not flag the
replaced value high, nor the referral letter print it, nor the referral send it to the hospital (h130: a
corrected LDH 400 -> 200 still showed "400 U/L high" in the table and on the letter, and the FHIR
referral carried both LDH Observations)."""
import json

import pytest

from edge.web.i18n import CATALOG
from support import PATIENT


@pytest.fixture
def corrected(client, nurse):
    """A visit whose LDH was entered as 400 U/L (high), then corrected to 200 U/L (in range), then assessed."""
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]
    for value in (400, 200):
        entered = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                              json={"results": [{"analyte": "ldh", "value": value, "unit": "U/L"}]})
        assert entered.status_code == 201, entered.json
    assert client.get(f"/api/v1/visits/{visit_id}/labs", headers=nurse).json["score"]["normalized"]["ldh"] == 200.0
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).status_code == 201
    return visit_id


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_replaced_value_is_shown_struck_as_not_used_and_never_flagged(client, corrected, lang):
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{corrected}").get_data(as_text=True)
    rows = page.split('id="lab-results"')[1].split("</table>")[0].split("<tr")[2:]
    old, new = rows
    assert "<s>400.0 U/L</s>" in old and CATALOG["lab_superseded"][lang] in old
    assert CATALOG["flag_high"][lang] not in old and "flag-high" not in old
    assert "200.0 U/L" in new and CATALOG["lab_superseded"][lang] not in new


def test_the_letter_prints_only_the_value_the_result_used(client, nurse, corrected):
    referral = client.post(f"/api/v1/visits/{corrected}/referrals", json={"reason": "checking"}, headers=nurse)
    assert referral.status_code == 201, referral.json
    client.set_cookie("lang", "en")
    letter = client.get(f"/referrals/{referral.json['id']}/letter").get_data(as_text=True)
    labs_line = letter.split('id="letter-labs">')[1].split("</dd>")[0]
    assert "200.0 U/L" in labs_line and "400" not in labs_line and CATALOG["flag_high"]["en"] not in labs_line


def test_the_referral_sends_the_hospital_only_the_value_the_result_used(client, nurse, corrected, db):
    referral = client.post(f"/api/v1/visits/{corrected}/referrals", json={"reason": "checking"}, headers=nurse)
    assert referral.status_code == 201, referral.json
    payload = json.loads(db.execute("SELECT payload FROM referrals WHERE id = ?", [referral.json["id"]]).fetchone()[0])
    ldh = [entry["resource"]["valueQuantity"]["value"] for entry in payload["entry"]
           if entry["resource"]["resourceType"] == "Observation"
           and entry["resource"]["code"]["coding"][0].get("code") == "2532-0"]
    assert ldh == [200.0]
