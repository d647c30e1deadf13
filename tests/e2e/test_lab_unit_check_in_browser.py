"""A likely unit slip on the tablet's lab form, in Debian Chromium against a served clinic (brief
h70): the value is asked about in Chinese beside its field, with what was typed kept, and stored
once the nurse ticks "The value and unit are right". The server's side is in
tests/edge/test_lab_unit_check_entry.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()


def test_a_unit_slip_is_asked_in_chinese_and_stored_once_confirmed(browser, server):
    context, page = new_page(browser, "zh-CN")
    tablet = Tablet(page, "zh-CN", "lab-unit-check")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, "CL70-E2E")
    page.click("#new-visit")
    page.wait_for_selector("#labs-form")
    page.fill("#lab_bilirubin", "0.8")  # a report's mg/dL number, the form's unit left at µmol/L
    page.fill("#lab_hgb", "125")
    page.click("#labs-button")
    page.wait_for_selector("#lab-error-bilirubin")
    assert "0.8 µmol/L 远低于参考范围" in page.inner_text("#lab-error-bilirubin")
    assert page.input_value("#lab_bilirubin") == "0.8" and page.input_value("#lab_hgb") == "125"
    assert page.locator("#lab-results").count() == 0  # nothing stored, the usual haemoglobin neither
    tablet.check("asked")
    page.check("#confirm_bilirubin")
    page.click("#labs-button")
    page.wait_for_selector("#lab-results")
    assert "0.8 µmol/L" in page.inner_text("#lab-results") and page.locator("#lab-error-bilirubin").count() == 0
    tablet.assert_clean()
    context.close()
