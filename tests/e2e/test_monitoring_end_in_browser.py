"""Brief h84, in Chromium: on the page of a patient with confirmed ILD a clinician records that monitoring
ended (date, reason) and the card then says so, with date and reason, in place of the form; in English and
Chinese, each page checked as in the clinic-day walk (44 px targets, axe-core, no English left on the Chinese
pages). The server's rules are in tests/edge/test_monitoring_end_api.py and test_monitoring_end_ui.py."""
from __future__ import annotations

import datetime as dt

import pytest

from e2e_support import require_axe
from edge.web.i18n import CATALOG
from served import run_cli
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()
CLINICIAN_PASSWORD = "clinician password 1"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clinician_ends_monitoring_on_the_patients_page(browser, server, lang):
    run_cli(server.data_dir, "users", "add", "clinician1", "--role", "clinician", "--password-stdin",
            input=CLINICIAN_PASSWORD + "\n")
    context, doctor = new_page(browser, lang)
    log_in(doctor, server.url, "clinician1", CLINICIAN_PASSWORD)
    patient_url = register_patient(doctor, server.url, f"CL84-{lang[:2].upper()}")
    patient_id = patient_url.split("/patients/")[1].split("?")[0].split("#")[0]
    confirmed_on = (dt.date.today() - dt.timedelta(days=100)).isoformat()
    csrf = doctor.get_attribute("meta[name=csrf-token]", "content")
    entered = doctor.request.post(f"{server.url}/api/v1/patients/{patient_id}/outcomes", headers={"X-CSRF-Token": csrf},
                                  data={"date": confirmed_on, "source": "hrct", "ild": "present"})
    assert entered.status == 201, entered.text()
    tablet = Tablet(doctor, lang, "monitoring-end")
    doctor.goto(f"{server.url}/patients/{patient_id}")
    doctor.wait_for_selector("#end-monitoring-form")
    assert CATALOG["monitoring_active"][lang].format(date=confirmed_on) in doctor.inner_text("#monitoring-active")
    tablet.check("form")

    ended_on = (dt.date.today() - dt.timedelta(days=5)).isoformat()
    doctor.fill("#end-monitoring-form input[name=date]", ended_on)
    doctor.select_option("#end-monitoring-form select[name=reason]", "transferred")
    with doctor.expect_navigation():
        doctor.click("#end-monitoring")
    doctor.wait_for_selector("#monitoring-saved")
    shown = doctor.inner_text("#monitoring-ended")
    assert CATALOG["monitoring_ended_shown"][lang].format(
        date=ended_on, reason=CATALOG["monitoring_end_reason_transferred"][lang]) in shown
    assert doctor.locator("#end-monitoring-form").count() == 0 and doctor.locator("#resume-monitoring").count() == 1
    tablet.check("ended", orientations=("portrait",))
    tablet.assert_clean()
    context.close()
