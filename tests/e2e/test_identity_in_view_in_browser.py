"""Brief h68 (point 5), in Chromium: on a long visit page the nurse scrolls down to the blood tests,
the result and the referral, and the patient's code, birth year, sex and diagnosis stay in view
(a sticky bar) instead of scrolling off with the page's heading, in portrait and landscape, in
English and Chinese; the page still passes the clinic-day checks (44 px targets, axe-core, no
English left on the Chinese page), and what the nurse taps is not hidden under the bar."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, ORIENTATIONS, require_axe
from edge.web.i18n import CATALOG
from support import birth_year_for_age
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
    born = birth_year_for_age(79)
    register_patient(page, clinic.url, code, birth_year=born, sex="M", ctd="RA")
    page.click("#new-visit")
    page.wait_for_selector("#assess-button")
    bar = page.inner_text("#identity-bar")
    for shown in (code, str(born), CATALOG["sex_M"][lang], CATALOG["ctd_RA"][lang]):
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


BOXES_JS = """() => { const box = (selector) => { const r = document.querySelector(selector).getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, height: r.height}; };
  return {banner: box('#offline-banner'), bar: box('#identity-bar'), height: window.innerHeight}; }"""


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_offline_the_banner_and_the_patient_are_both_in_view(browser, clinic, lang):
    """Brief h71 (point 1): offline, the banner and the identity bar were both sticky at the top and
    the banner covered the patient. Both stay in view, one below the other, with its short text and
    with the longer 'could not reach the server' text, and what the nurse scrolls to lands below both."""
    context, page = new_page(browser, lang)
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL71-OF{lang[:2].upper()}", birth_year=birth_year_for_age(80), sex="F", ctd="SSc")
    page.click("#new-visit")
    page.wait_for_selector("#assess-button")
    context.set_offline(True)
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    page.wait_for_selector("#offline-banner:not([hidden])")
    for message in ("offlineText", "networkError"):
        page.evaluate("(key) => { document.getElementById('offline-banner').textContent = document.body.dataset[key]; }",
                      message)
        for orientation in ORIENTATIONS:
            page.set_viewport_size(ORIENTATIONS[orientation])
            for target in ("#labs-button", "#assess-button"):
                page.evaluate("(selector) => document.querySelector(selector).scrollIntoView()", target)
                boxes = page.evaluate(BOXES_JS)
                where = f"{message}, {orientation}, at {target}: {boxes}"
                banner, bar = boxes["banner"], boxes["bar"]
                assert banner["height"] > 0 and bar["height"] > 0, where
                assert bar["top"] >= banner["bottom"] - 0.5 or bar["bottom"] <= banner["top"] + 0.5, where  # no overlap
                for box in (banner, bar):
                    assert box["top"] >= -0.5 and box["bottom"] <= boxes["height"] + 0.5, where  # both in view
                assert not in_view(page, "#checklist h1"), f"{where}: the page did not scroll"
                assert in_view(page, target), where
                top = page.evaluate("(selector) => document.querySelector(selector).getBoundingClientRect().top", target)
                assert top >= max(banner["bottom"], bar["bottom"]) - 0.5, f"{where}: the target is under them"
    context.set_offline(False)
    context.close()
