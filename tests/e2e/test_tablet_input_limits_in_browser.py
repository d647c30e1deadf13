"""The tablet's lab values and visit notes stop at the server's limits, in Debian Chromium against a
served clinic (brief h105): typing stops at the inputs' maxlength; a lab value over it (an old page
without the limit) comes back in Chinese naming its analyte, with what was typed; an autosave of
notes over the draft's limit is said on the page instead of silently, and the banner goes once the
notes are short enough to save. The server's side is in tests/edge/test_tablet_input_limits.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from edge import patients
from edge.web.i18n import CATALOG
from edge.web.visit_views import VALUE_MAX_CHARS
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()

DRAFT_SAVED_JS = "(state) => document.body.dataset.draftSaved === state"


def test_lab_values_and_notes_stop_at_the_servers_limits_and_a_refusal_is_said(browser, server):
    context, page = new_page(browser, "zh-CN")
    tablet = Tablet(page, "zh-CN", "input-limits")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, "CL105-E2E")
    page.click("#new-visit")
    page.wait_for_selector("#labs-form")

    page.type("#lab_crp", "4" * (VALUE_MAX_CHARS + 5))  # typed keys stop at the limit
    assert page.input_value("#lab_crp") == "4" * VALUE_MAX_CHARS
    page.fill("#lab_crp", "4")
    # An old page without the limit: the value comes back beside its analyte, as typed, nothing stored.
    typed = "132" + " " * 10 + "g/L (ref 115-150)"
    page.evaluate("() => document.getElementById('lab_hgb').removeAttribute('maxlength')")
    page.fill("#lab_hgb", typed)
    page.click("#labs-button")
    page.wait_for_selector("#lab-error-hgb")
    assert page.inner_text("#lab-error-hgb") == CATALOG["err_lab_value_too_long"]["zh-CN"].format(max=VALUE_MAX_CHARS)
    assert page.input_value("#lab_hgb") == typed and page.input_value("#lab_crp") == "4"
    assert page.locator("#lab-results").count() == 0
    tablet.check("lab-value-too-long")

    # Notes over the draft's limit (an old page again): the autosave is refused and the page says so.
    page.evaluate("() => document.querySelector('textarea[data-draft=notes]').removeAttribute('maxlength')")
    page.fill("textarea[data-draft=notes]", "n" * (patients.DRAFT_MAX_VALUE + 1))
    page.wait_for_function(DRAFT_SAVED_JS, arg="no")
    banner = page.locator("#offline-banner")
    assert banner.is_visible()
    assert banner.inner_text() == CATALOG["err_draft_not_saved"]["zh-CN"].format(max=patients.DRAFT_MAX_VALUE)
    tablet.check("notes-not-saved", orientations=("portrait",))
    page.fill("textarea[data-draft=notes]", "n" * patients.DRAFT_MAX_VALUE)  # short enough: saved, banner gone
    page.wait_for_function(DRAFT_SAVED_JS, arg="yes")
    assert not banner.is_visible()
    tablet.assert_clean()
    context.close()
