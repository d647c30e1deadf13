"""h130, in Chromium against a served clinic, in English and Chinese: a lab value corrected on the tablet
shows the earlier one struck and never flagged; a visit whose result went out of date in another tab
(a blood test entered there) is not finished from the first tab: the page says why, the visit stays open,
and it finishes once the result is calculated again. The server's rules:
tests/edge/test_lab_correction_shown.py, tests/edge/test_finish_needs_current_result.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from edge.web.i18n import CATALOG
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_corrected_lab_and_a_finish_on_an_out_of_date_result(browser, server, lang):
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "finish-out-of-date")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, f"CL130-F{lang[:2].upper()}")
    page.click("#new-visit")
    page.wait_for_selector("#labs-form")
    for value in ("400", "200"):  # LDH typed wrong, then corrected
        page.fill("#lab_ldh", value)
        with page.expect_navigation():
            page.click("#labs-button")
    rows = page.locator("#lab-results tbody tr")
    assert rows.count() == 2
    assert CATALOG["lab_superseded"][lang] in rows.nth(0).inner_text()
    assert CATALOG["flag_high"][lang] not in rows.nth(0).inner_text()
    with page.expect_navigation():
        page.click("#assess-button")
    page.wait_for_selector("#assessment")

    other = context.new_page()  # a colleague's tab on the same visit enters a blood test that came back
    other.goto(page.url.split("#")[0])
    other.fill("#lab_kl6", "1500")
    with other.expect_navigation():
        other.click("#labs-button")
    other.close()

    with page.expect_navigation():
        page.click("#finish-button")
    assert page.inner_text("#status-error") == CATALOG["err_finish_result_out_of_date"][lang]
    assert page.locator("#finish-button").count() == 1  # still open
    tablet.check("finish-refused-out-of-date", orientations=("portrait",))
    with page.expect_navigation():
        page.click("#assess-button")
    with page.expect_navigation():
        page.click("#finish-button")
    page.wait_for_selector("#visit-closed")
    tablet.assert_clean()
    context.close()
