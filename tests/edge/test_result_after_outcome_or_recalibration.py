"""A result goes out of date when what it was calculated from changes outside the visit (brief h90):
an outcome of the patient (an HRCT or PFT entered, a hospital CT read turned final) added or read
again since (change kind ``outcomes``: triage reads them), a model re-issued at the same version with
another manifest entry (another calibration), another site calibration or regional validation
installed (``models_changed``: ``labs``, ``site_calibration``, ``regional_validation``). Each makes the
result out of date on the API and the visit page and holds the referral (409) until calculated
again. Results stored before results kept these stay readable and compare as documented in
edge.freshness.

The real flow: the app on the SQLite file of a data folder, outcomes through the API, bundles,
calibrations and regional validations installed with the ``ildscreen`` commands, the service
started again on them.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from markupsafe import escape

from edge.app import create_app
from edge.cli import cli
from edge.inference.bundles import BUNDLED_ID
from edge.outcomes import ILD_STATUS_SYSTEM
from edge.regional_validation import select_regional_validation, selected_regional_validation
from edge.site_calibration import CalibrationStore, select_calibration, selected_calibration
from edge.web.i18n import CATALOG
from support import PASSWORD, PATIENT, TEST_SIGNING_KEY_PEM, assert_referral_follows_freshness, csrf_of, \
    edit_manifest, freshness_by_assessment, login, model_bundle
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)
from test_regional_validation import RESULT, SERVED_LABS, publish

KL6 = {"analyte": "kl6", "value": 900, "unit": "U/mL"}
CRP = {"analyte": "crp", "value": 4, "unit": "mg/L"}  # the lab model scores it
TODAY = dt.date.today().isoformat()


@pytest.fixture(autouse=True)
def calibrations_restored():
    """A service started here selects the data folder's calibration and regional validation process-wide."""
    calibration, region = selected_calibration(), selected_regional_validation()
    yield
    select_calibration(calibration)
    select_regional_validation(region)


@pytest.fixture
def clinician(app, make_user):
    """A clinician's own tablet (outcomes are a clinician's to enter): (client, headers)."""
    make_user("clin1", "clinician")
    client = app.test_client()
    return client, login(client, "clin1")


def restarted(settings):
    """The service started again on the data folder, a nurse signed in: (client, headers)."""
    client = create_app(settings).test_client()
    response = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client, {"X-CSRF-Token": response.json["csrf_token"]}


def new_visit(client, headers, labs=(KL6,)) -> tuple[int, int]:
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]
    if labs:
        response = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": list(labs)}, headers=headers)
        assert response.status_code == 201, response.json
    return patient["id"], visit_id


def assess(client, headers, visit_id: int) -> dict:
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def referrals(db) -> int:
    return db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0]


def out_of_date_line(page: str) -> str:
    found = re.search(r'id="result-out-of-date">([^<]+)<', page)
    return found.group(1) if found else ""


def updated_lines(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="model-updated-([a-z_]+)">([^<]+)<', page))


def assert_held_until_calculated_again(client, headers, db, visit_id: int, first: dict, **named) -> None:
    """``first`` reads out of date naming ``named`` (``changed``, ``models_changed``) on the API, the
    referral is refused (API 409, the tablet's form sent back), and once calculated again the new
    result is current and referred."""
    expected = {"current": False, "superseded_by": None, "changed": [], "settings_changed": [],
                "models_changed": [], "models_unchecked": [], **named}
    assert freshness_by_assessment(client, headers, visit_id) == {first["id"]: expected}
    refused = client.post(f"/api/v1/visits/{visit_id}/referrals", headers=headers,
                          json={"reason": "new cough", "assessment_id": first["id"]})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "result_out_of_date", refused.json
    assert {key: refused.json["error"][key] for key in named} == named
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="refer-form"' not in page and 'id="refer-needs-current"' in page
    held = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf_of(page), "reason": "new cough",
                                                           "assessment_id": str(first["id"])})
    assert held.status_code == 302 and "refer_error=out_of_date" in held.headers["Location"]
    assert referrals(db) == 0
    again = assess(client, headers, visit_id)
    assert again["freshness"]["current"], again["freshness"]
    verdicts = assert_referral_follows_freshness(client, headers, visit_id)
    assert verdicts[first["id"]]["superseded_by"] == again["id"] and verdicts[again["id"]]["current"]
    assert referrals(db) == 1


# --- outcomes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", [
    {"date": TODAY, "source": "hrct", "ild": "present", "pattern": "NSIP"},  # moves the patient to monitoring
    {"date": "2020-01-10", "source": "pft", "ild": "indeterminate", "fvc_percent": 71},  # an old test, entered now
], ids=["hrct", "old_pft"])
def test_an_outcome_entered_after_the_result_makes_it_out_of_date(client, nurse, clinician, db, outcome):
    patient_id, visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id)
    clinician_client, clinician_headers = clinician
    entered = clinician_client.post(f"/api/v1/patients/{patient_id}/outcomes", json=outcome, headers=clinician_headers)
    assert entered.status_code == 201, entered.json

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert str(escape(CATALOG["changed_outcomes"]["en"])) in out_of_date_line(page)
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert CATALOG["changed_outcomes"]["zh-CN"] in out_of_date_line(page)
    client.set_cookie("lang", "en")
    assert_held_until_calculated_again(client, nurse, db, visit_id, first, changed=["outcomes"])
    if outcome["source"] == "hrct":  # what calculating again gave: the monitoring pathway
        assert client.get(f"/api/v1/visits/{visit_id}/assessments", headers=nurse).json[
            "assessments"][-1]["pathway"] == "monitoring"


def radiologist_read(status: str, ild: str = "present") -> dict:
    return {"status": "reported", "metrics": {},
            "diagnostic_report": {"resourceType": "DiagnosticReport", "status": status, "effectiveDateTime": TODAY,
                                  "conclusionCode": [{"coding": [{"system": ILD_STATUS_SYSTEM, "code": ild}]}]}}


def test_a_hospital_read_turned_final_after_the_result_makes_it_out_of_date(client, nurse, db):
    """The hospital's preliminary report is no outcome; its radiologist's read replaces it in the same
    row (edge.outbox: ``received_at`` stays the first arrival, no audit entry), which no timestamp
    orders after the result: the outcomes it kept are compared."""
    _, visit_id = new_visit(client, nurse)
    sent = assess(client, nurse, visit_id)
    referral = client.post(f"/api/v1/visits/{visit_id}/referrals", headers=nurse,
                           json={"reason": "new cough", "assessment_id": sent["id"]}).json
    # As edge.outbox.poll_results stores the first report, then _poll_reads the newer read.
    result_id = db["imaging_results"].insert({"referral_id": referral["id"], "received_at": "2026-01-01T00:00:00Z",
                                              "metrics": "{}", "report": json.dumps(radiologist_read("preliminary"))
                                              }).last_pk
    db.conn.commit()
    second = assess(client, nurse, visit_id)
    assert second["freshness"]["current"] and second["pathway"] == "screening"
    db["imaging_results"].update(result_id, {"report": json.dumps(radiologist_read("final"))})
    db.conn.commit()
    verdict = freshness_by_assessment(client, nurse, visit_id)[second["id"]]
    assert verdict["changed"] == ["outcomes"] and not verdict["current"]
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert str(escape(CATALOG["changed_outcomes"]["en"])) in out_of_date_line(page)
    third = assess(client, nurse, visit_id)
    assert third["freshness"]["current"] and third["pathway"] == "monitoring"


def forget(db, assessment_id: int, *, inputs: tuple[str, ...] = (), result: tuple[str, ...] = ()) -> None:
    """Make a stored result look like one stored before it kept ``inputs`` / ``result`` keys."""
    stored_inputs, stored_result = (json.loads(value) for value in db.execute(
        "SELECT inputs, result FROM risk_assessments WHERE id = ?", [assessment_id]).fetchone())
    for key in inputs:
        stored_inputs.pop(key)
    for key in result:
        stored_result.pop(key)
    db.execute("UPDATE risk_assessments SET inputs = ?, result = ? WHERE id = ?",
               [json.dumps(stored_inputs), json.dumps(stored_result), assessment_id])
    db.conn.commit()


def test_a_result_stored_before_results_kept_outcomes_compares_the_hrct_and_confirmation_it_kept(
        client, nurse, clinician, db):
    """It kept the HRCT triage read and the confirmed ILD: a PFT, which it cannot show it read, is no
    change it can see; an HRCT is."""
    patient_id, visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id)
    forget(db, first["id"], inputs=("outcomes",))
    assert freshness_by_assessment(client, nurse, visit_id)[first["id"]]["current"]
    assert client.get(f"/visits/{visit_id}").status_code == 200
    clinician_client, clinician_headers = clinician
    for outcome, changed in (({"date": TODAY, "source": "pft", "ild": "indeterminate", "fvc_percent": 70}, []),
                             ({"date": TODAY, "source": "hrct", "ild": "absent"}, ["outcomes"])):
        response = clinician_client.post(f"/api/v1/patients/{patient_id}/outcomes", json=outcome,
                                         headers=clinician_headers)
        assert response.status_code == 201, response.json
        assert freshness_by_assessment(client, nurse, visit_id)[first["id"]]["changed"] == changed


# --- models, site calibration, regional validation --------------------------------------------------

def models_command(runner, settings, *args) -> None:
    result = runner.invoke(cli, [*map(str, args), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output


def test_a_lab_model_reissued_at_the_same_version_with_another_calibration_is_a_change(runner, settings, client,
                                                                                       nurse, db, tmp_path):
    _, visit_id = new_visit(client, nurse, labs=[CRP])
    first = assess(client, nurse, visit_id)
    bundle = model_bundle(tmp_path / "reissued")
    edit_manifest(bundle, lambda models: models["labs"]["calibration"].update(intercept=0.5))
    models_command(runner, settings, "models", "install", bundle)
    reissued = json.loads((bundle / "manifest.json").read_text())["models"]["labs"]
    assert first["model_versions"]["labs"] == f"labs-{reissued['version']}"  # the label cannot tell them apart
    client, headers = restarted(settings)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert set(updated_lines(page)) == {"labs"}
    assert_held_until_calculated_again(client, headers, db, visit_id, first, models_changed=["labs"])


def test_a_result_stored_before_results_kept_model_digests_compares_as_changed(client, nurse, db):
    """Its version label cannot tell a model re-issued at that version from the one it used: it reads out
    of date for each model it used (readable, and calculating again once makes it comparable). The page says
    it cannot be checked against the served model (brief h120), not that the model was updated: it was not."""
    _, visit_id = new_visit(client, nurse, labs=[CRP])
    first = assess(client, nurse, visit_id)
    forget(db, first["id"], result=("model_digests", "regional_validation", "calibration"))
    page = client.get(f"/visits/{visit_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and updated_lines(text) == {}
    unchecked = CATALOG["result_unchecked_open"]["en"].format(models=CATALOG["changed_model_labs"]["en"])
    assert f'id="result-unchecked">{escape(unchecked)}<' in text
    # No site calibration kept: it applied the bundled one, as served now; no regional validation either.
    assert_held_until_calculated_again(client, nurse, db, visit_id, first, models_changed=["labs"],
                                       models_unchecked=["labs"])


def test_another_site_calibration_makes_the_result_out_of_date(runner, settings, client, nurse, db):
    _, visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id)
    assert first["calibration"]["version"] == BUNDLED_ID
    version, _ = CalibrationStore(settings.models_path).save({"intercept": 0.4, "slope": 0.9}, activate=False)
    models_command(runner, settings, "calibrations", "activate", version)
    client, headers = restarted(settings)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {"site_calibration": str(escape(CATALOG["model_updated_site_calibration"]["en"]))}
    assert_held_until_calculated_again(client, headers, db, visit_id, first, models_changed=["site_calibration"])
    models_command(runner, settings, "calibrations", "rollback")
    client, headers = restarted(settings)
    latest = list(freshness_by_assessment(client, headers, visit_id).values())[-1]
    assert latest["models_changed"] == ["site_calibration"]


def test_another_regional_validation_makes_the_result_out_of_date(runner, settings, client, nurse, db, tmp_path):
    _, visit_id = new_visit(client, nurse, labs=[CRP])
    first = assess(client, nurse, visit_id)
    assert first["regional_validation"] is None
    _, out = publish(tmp_path, RESULT, TEST_SIGNING_KEY_PEM, "--model-version", f"labs={SERVED_LABS}")
    models_command(runner, settings, "regional-validation", "install", out)
    client, headers = restarted(settings)
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {
        "regional_validation": str(escape(CATALOG["model_updated_regional_validation"]["zh-CN"]))}
    client.set_cookie("lang", "en")
    assert_held_until_calculated_again(client, headers, db, visit_id, first, models_changed=["regional_validation"])
