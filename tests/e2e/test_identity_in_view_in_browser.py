"""Brief h68 (point 5), in Chromium: on a long visit page the nurse scrolls down to the blood tests,
the result and the referral, and the patient's code, birth year, sex and diagnosis stay in view
(a sticky bar) instead of scrolling off with the page's heading, in portrait and landscape, in
English and Chinese; the page still passes the clinic-day checks (44 px targets, axe-core, no
English left on the Chinese page), and what the nurse taps is not hidden under the bar."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, ORIENTATIONS, require_axe
from edge.web.i18n import CATALOG
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()


def in_view(page, selector: str) -> bool:
    return page.evaluate("""(selector) => { const box = document.querySelector(selector).getBoundingClientRect();
        return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0; }""", selector)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_patient_stays_in_view_where_the_nurse_acts(browser, clinic, lang):
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "identity-in-view")
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    code = f"CL68-ID{lang[:2].upper()}"
    register_patient(page, clinic.url, code, birth_year=1947, sex="M", ctd="RA")
    page.click("#new-visit")
    page.wait_for_selector("#assess-button")
    bar = page.inner_text("#identity-bar")
    for shown in (code, "1947", CATALOG["sex_M"][lang], CATALOG["ctd_RA"][lang]):
        assert shown in bar
    for orientation in ORIENTATIONS:
        page.set_viewport_size(ORIENTATIONS[orientation])
        for target in ("#labs-button", "#assess-button"):  # far down the page
            page.locator(target).scroll_into_view_if_needed()
            page.evaluate("(selector) => document.querySelector(selector).scrollIntoView()", target)
            assert in_view(page, "#identity-bar"), f"{orientation}: the patient scrolled out of view at {target}"
            assert not in_view(page, "#checklist h1"), f"{orientation}: the page did not scroll"
            # The target itself is not under the bar (anchors and scrolling land below it).
            assert page.evaluate("""(selector) => { const bar = document.querySelector('#identity-bar').getBoundingClientRect();
                return document.querySelector(selector).getBoundingClientRect().top >= bar.bottom; }""", target)
    page.set_viewport_size(ORIENTATIONS["portrait"])
    with page.expect_navigation():
        page.click("#assess-button")  # a tap below the bar reaches its button
    page.wait_for_selector("#refer-form")
    assert in_view(page, "#identity-bar")  # landing on #result keeps the patient in view
    tablet.check("identity-bar-at-the-result")
    tablet.assert_clean()
    context.close()
