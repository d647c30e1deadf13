"""Brief h66 (the tablet's safety, point 1), in Chromium: the nurse has the result open in one tab
while a colleague, in another tab on the same visit, enters a blood test that came back. The first
tab's "Refer" does not send the old result: the page comes back saying the result is out of date
and what changed, with no referral form until the risk is calculated again; then it refers. In
English and Chinese, each page checked as in the clinic-day walk (44 px targets, axe-core, no
English left on the Chinese pages). The server's rules are in tests/edge/test_ui_stale_result.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from edge.web.i18n import CATALOG
from support import birth_year_for_age
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_referral_from_a_tab_showing_an_out_of_date_result_is_held(browser, clinic, lang):
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "stale-result")
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL7-SR{lang[:2].upper()}", birth_year=birth_year_for_age(78), ctd="SSc",
                     symptoms=("dry_cough",))
    page.click("#new-visit")
    page.wait_for_selector("#assess-button")
    page.click("#assess-button")
    page.wait_for_selector("#refer-form")
    assert page.locator("#result-out-of-date").count() == 0

    other = context.new_page()  # the colleague's tab on the same visit (same session)
    other.goto(page.url.split("#")[0])
    other.fill("#lab_kl6", "1200")
    with other.expect_navigation():
        other.click("#labs-button")
    other.wait_for_selector("#lab-results")
    other.close()

    if page.locator("#refer-reason").count():
        page.fill("#refer-reason", "new cough")
    with page.expect_navigation():
        page.click("#refer-button")
    page.wait_for_selector("#result-out-of-date")
    assert CATALOG["changed_labs"][lang] in page.inner_text("#result-out-of-date")
    assert page.locator("#referral-status").count() == 0 and page.locator("#refer-form").count() == 0
    assert page.inner_text("#refer-needs-current") == CATALOG["refer_needs_current_result"][lang]
    tablet.check("refer-held-out-of-date")

    with page.expect_navigation():
        page.click("#assess-button")
    page.wait_for_selector("#refer-form")
    assert page.locator("#result-out-of-date").count() == 0
    if page.locator("#refer-reason").count():  # the reason typed before waits in the form
        assert page.input_value("#refer-reason") == "new cough"
    with page.expect_navigation():
        page.click("#refer-button")
    page.wait_for_selector("#referral-status")
    tablet.check("referred-after-recalculating", orientations=("portrait",))
    tablet.assert_clean()
    context.close()
