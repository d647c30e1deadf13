"""The idle lock never loses what the nurse typed (issue 36), in Debian Chromium against a served
clinic: values typed into the visit's lung-function form and into the new-patient form, not
saved, are back in their fields (marked unsaved) after the lock fires and the PIN unlocks.
The idle time passes on Playwright's clock, not the wall clock."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from support import birth_year_for_age
from tablet import Tablet, log_in, new_page, register_patient, set_pin

pytestmark = pytest.mark.slow

require_axe()

PIN = "4071"


def idle_lock_and_unlock(page) -> None:
    """Leave the tablet past the 5-minute idle lock, then open it again with the PIN."""
    page.clock.fast_forward("06:00")
    page.wait_for_selector("#lock-screen")
    page.fill("#pin", PIN)
    with page.expect_navigation():
        page.click("#unlock-button")


def test_typed_lung_function_and_patient_form_come_back_after_the_idle_lock_and_pin(browser, server):
    context, page = new_page(browser, "en")
    tablet = Tablet(page, "en", "lock-keeps-typed")
    page.clock.install()
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    set_pin(page, NURSE_PASSWORD, PIN)

    register_patient(page, server.url, "CL36-E2E")
    page.click("#new-visit")
    page.wait_for_selector("#lung-form")
    visit_url = page.url
    page.fill("#lung-form input[name=fvc_percent]", "68")
    page.check("#lung-form input[name=dlco_not_performed]")
    idle_lock_and_unlock(page)
    page.wait_for_selector("#lung-unsaved")
    assert page.url == visit_url
    assert page.input_value("#lung-form input[name=fvc_percent]") == "68"
    assert page.is_checked("#lung-form input[name=dlco_not_performed]")

    page.goto(server.url + "/patients/new")
    page.fill("input[name=code]", "CL36-HALF")
    typed_birth_year = str(birth_year_for_age(79))
    page.fill("input[name=birth_year]", typed_birth_year)
    page.check("input[name=sex][value=M]")
    page.select_option("select[name=ctd_diagnosis]", "RA")
    page.check("input[name=smoking][value=former]")
    page.fill("input[name=pack_years]", "12.5")
    page.check("input[name=symptoms][value=dry_cough]")
    page.fill("input[name=medications]", "methotrexate")
    idle_lock_and_unlock(page)
    page.wait_for_selector("#patient-unsaved")
    assert page.url == server.url + "/patients/new"
    assert page.input_value("input[name=code]") == "CL36-HALF"
    assert page.input_value("input[name=birth_year]") == typed_birth_year
    assert page.is_checked("input[name=sex][value=M]") and page.is_checked("input[name=symptoms][value=dry_cough]")
    assert page.input_value("select[name=ctd_diagnosis]") == "RA"
    assert page.input_value("input[name=medications]") == "methotrexate"
    assert page.is_checked("input[name=smoking][value=former]") and page.input_value("input[name=pack_years]") == "12.5"
    tablet.check("patient-form-after-lock", orientations=("portrait",))
    tablet.assert_clean()
    context.close()
