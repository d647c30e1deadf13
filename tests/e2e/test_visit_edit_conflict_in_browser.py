"""The visit page's Finish button says so when the visit was edited since the page was shown (brief
h80): another client's PATCH of its notes comes first, the page's finish saves nothing and says why,
and finishing from the page as it came back goes. The server's answers are in
tests/edge/test_visit_user_edit_conflict.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD
from edge.web.i18n import CATALOG
from tablet import log_in, new_page, register_patient


@pytest.mark.slow
def test_finishing_a_visit_edited_since_the_page_was_shown_is_refused_and_said(browser, server):
    context, page = new_page(browser, "en")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, "CL80-BR01")
    page.click("#new-visit")
    page.wait_for_selector("#status-form")
    visit_url = page.url.split("#")[0]
    api = visit_url.replace("/visits/", "/api/v1/visits/")
    csrf = page.get_attribute('meta[name="csrf-token"]', "content")
    read = context.request.get(api).json()
    edited = context.request.patch(api, data={"notes": "seen by Dr Li", "version": read["version"]},
                                   headers={"X-CSRF-Token": csrf})
    assert edited.status == 200
    with page.expect_navigation():
        page.click("#finish-button")
    assert page.inner_text("#status-error") == CATALOG["err_visit_edited"]["en"]
    assert page.is_visible("#finish-button")  # still open: nothing was saved
    assert context.request.get(api).json()["status"] == "open"
    with page.expect_navigation():
        page.click("#finish-button")
    page.wait_for_selector("#visit-closed")
    assert page.locator("#status-error").count() == 0
    assert context.request.get(api).json()["status"] == "completed"
    context.close()
