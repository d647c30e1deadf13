"""The tablet does not finish a visit on an out-of-date result (h130): a colleague's lab result entered
after the result was calculated (another tab, a lab import) would otherwise never reach the result the
closed visit keeps as its record ("its result stays as it was calculated"). Finishing is refused with
words saying why, nothing saved; after "Calculate again" it finishes. Closing early is not refused."""
from __future__ import annotations

import pytest
from markupsafe import escape

from edge.web.i18n import CATALOG
from support import PATIENT, csrf_of, version_shown

KL6 = {"results": [{"analyte": "kl6", "value": 1500, "unit": "U/mL"}]}


@pytest.fixture
def assessed_then_changed(client, nurse):
    """An open visit whose result was calculated, then a lab result entered through the API."""
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).status_code == 201
    assert client.post(f"/api/v1/visits/{visit_id}/labs", json=KL6, headers=nurse).status_code == 201
    return visit_id


def status_of(client, nurse, visit_id) -> str:
    return client.get(f"/api/v1/visits/{visit_id}", headers=nurse).json["status"]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_finishing_on_an_out_of_date_result_is_refused_until_it_is_calculated_again(client, nurse,
                                                                                    assessed_then_changed, lang):
    visit_id = assessed_then_changed
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "action": "finish", "version": version_shown(page)}
    refused = client.post(f"/visits/{visit_id}/status", data=form)
    assert refused.status_code == 302 and "status_error=err_finish_result_out_of_date" in refused.headers["Location"]
    assert str(escape(CATALOG["err_finish_result_out_of_date"][lang])) in client.get(
        refused.headers["Location"]).get_data(as_text=True)
    assert status_of(client, nurse, visit_id) == "open"

    assert client.post(f"/visits/{visit_id}/assess", data={"csrf_token": form["csrf_token"]}).status_code == 302
    finished = client.post(f"/visits/{visit_id}/status", data=form)
    assert finished.status_code == 302 and "status_error" not in finished.headers["Location"]
    assert status_of(client, nurse, visit_id) == "completed"


def test_closing_early_is_not_held_by_an_out_of_date_result(client, nurse, assessed_then_changed):
    visit_id = assessed_then_changed
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    closed = client.post(f"/visits/{visit_id}/status",
                         data={"csrf_token": csrf_of(page), "action": "close", "version": version_shown(page)})
    assert closed.status_code == 302 and "status_error" not in closed.headers["Location"]
    assert status_of(client, nurse, visit_id) == "cancelled"
