"""A likely unit slip on the tablet's lab form, in Debian Chromium against a served clinic (brief
h70): the value is asked about in Chinese beside its field, with what was typed kept, and stored
once the nurse ticks "The value and unit are right"; the same for a lab file imported (brief h77),
and the stored value then says it was confirmed. The server's side is in
tests/edge/test_lab_unit_check_entry.py and test_lab_unit_check_import.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()


def new_visit_in_chinese(browser, server, code: str, name: str):
    """A nurse's tablet in Chinese on a new visit of a new patient: (context, page, tablet)."""
    context, page = new_page(browser, "zh-CN")
    tablet = Tablet(page, "zh-CN", name)
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, code)
    page.click("#new-visit")
    page.wait_for_selector("#labs-form")
    return context, page, tablet


def test_a_unit_slip_is_asked_in_chinese_and_stored_once_confirmed(browser, server):
    context, page, tablet = new_visit_in_chinese(browser, server, "CL70-E2E", "lab-unit-check")
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
    assert "护士已确认此值异常但无误" in page.inner_text("#lab-results")  # confirmed_unusual, shown with the value
    tablet.assert_clean()
    context.close()


def test_a_unit_slip_in_an_imported_file_is_asked_in_chinese_and_stored_once_confirmed(browser, server, tmp_path):
    panel = tmp_path / "panel.csv"
    panel.write_text("analyte,value,unit\nhgb,125,g/L\nbilirubin,0.8,umol/L\n", encoding="utf-8")
    context, page, tablet = new_visit_in_chinese(browser, server, "CL77-E2E", "lab-file-unit-check")
    page.set_input_files("#labs-import input[type=file]", str(panel))
    page.click("#labs-import button[type=submit]")
    page.wait_for_selector("#lab-file-check")
    assert "0.8 µmol/L 远低于参考范围" in page.inner_text("#lab-file-check")
    assert page.locator("#lab-results").count() == 0  # nothing of the file stored
    tablet.check("asked")
    page.check("#confirm_file")
    page.set_input_files("#labs-import input[type=file]", str(panel))
    page.click("#labs-import button[type=submit]")
    page.wait_for_selector("#lab-results")
    assert "护士已确认此值异常但无误" in page.inner_text("#lab-results") and page.locator("#lab-file-check").count() == 0
    tablet.assert_clean()
    context.close()
