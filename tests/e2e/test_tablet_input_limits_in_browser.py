"""The tablet's lab values and visit notes stop at the server's limits, in Debian Chromium against a
served clinic (brief h105): typing stops at the inputs' maxlength; a lab value over it (an old page
without the limit) comes back in Chinese naming its analyte, with what was typed; an autosave of
notes over the draft's limit is said on the page instead of silently, and the banner goes once the
notes are short enough to save. The server's side is in tests/edge/test_tablet_input_limits.py."""
from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from edge import patients
from edge.web.i18n import CATALOG
from edge.web.visit_views import VALUE_MAX_CHARS
from tablet import Tablet, log_in, new_page, register_patient, set_pin

pytestmark = pytest.mark.slow

require_axe()

DRAFT_SAVED_JS = "(state) => document.body.dataset.draftSaved === state"
NOTES = "textarea[data-draft=notes]"
PIN = "4071"


def draft_posts(server, status: int, *, at_least: int = 0) -> int:
    """How many autosaves the served clinic answered with ``status`` (its request log: one line each),
    once at least ``at_least`` have been read from its output (read by a thread, maybe just behind)."""
    deadline = time.monotonic() + 5
    while True:
        count = sum(bool(re.search(rf"POST /visits/<int:visit_id>/draft {status} ", line)) for line in server.lines)
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def stored_draft(server, visit_id: str) -> dict:
    """The visit's draft as the clinic's SQLite file holds it."""
    with sqlite3.connect(server.data_dir / "ildscreen.db") as store:
        return json.loads(store.execute("SELECT draft FROM visits WHERE id = ?", [int(visit_id)]).fetchone()[0])


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
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    banner = page.locator("#offline-banner")
    assert banner.is_visible()
    assert banner.inner_text() == CATALOG["err_draft_not_saved"]["zh-CN"].format(max=patients.DRAFT_MAX_VALUE)
    tablet.check("notes-not-saved", orientations=("portrait",))
    page.fill("textarea[data-draft=notes]", "n" * patients.DRAFT_MAX_VALUE)  # short enough: saved, banner gone
    page.wait_for_function(DRAFT_SAVED_JS, arg="yes")
    assert not banner.is_visible()
    tablet.assert_clean()
    context.close()


def test_a_refused_autosave_leaves_the_queue_keeps_its_text_and_goes_again_once_shortened(browser, server):
    context, page = new_page(browser, "en")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    set_pin(page, NURSE_PASSWORD, PIN)
    register_patient(page, server.url, "CL109-E2E")
    page.click("#new-visit")
    page.wait_for_selector(NOTES)
    visit_id = page.get_attribute("[data-visit]", "data-visit")
    banner = page.locator("#offline-banner")
    refused_words = CATALOG["err_draft_not_saved"]["en"].format(max=patients.DRAFT_MAX_VALUE)

    # Over the limit (an old page without it): refused once, said, the text left in its field.
    too_long = "n" * (patients.DRAFT_MAX_VALUE + 1)
    page.evaluate(f"() => document.querySelector('{NOTES}').removeAttribute('maxlength')")
    page.fill(NOTES, too_long)
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    assert draft_posts(server, 422, at_least=1) == 1
    assert banner.inner_text() == refused_words and page.input_value(NOTES) == too_long

    # The next autosaves (another field typed, the notes touched unchanged) send the rest, never the
    # refused notes again: no second 422, the lab value stored, the refusal still said.
    page.fill("#lab_crp", "4")  # each autosave posts every field but those refused as they stand
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    page.dispatch_event(NOTES, "input")
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    assert draft_posts(server, 200, at_least=2) == 2 and draft_posts(server, 422) == 1
    draft = stored_draft(server, visit_id)
    assert draft["lab_crp"] == "4" and "notes" not in draft
    assert banner.is_visible() and banner.inner_text() == refused_words
    assert page.input_value(NOTES) == too_long

    # The lock ("Lock now", as the idle lock) takes what was typed and not saved, but not the refused
    # notes, which would have the server refuse all of it: a lab value the autosave could not send is
    # kept. After the PIN the page is shown again: the notes as typed come back in their field from the
    # tablet, the refusal with them, and nothing is posted for them.
    page.route("**/visits/*/draft", lambda route: route.abort("internetdisconnected"))
    page.fill("#lab_hgb", "132")
    page.click("#lock-now-button")
    page.wait_for_selector("#lock-screen")
    assert stored_draft(server, visit_id)["lab_hgb"] == "132"
    page.unroute("**/visits/*/draft")
    page.fill("#pin", PIN)
    with page.expect_navigation():
        page.click("#unlock-button")
    page.wait_for_selector(NOTES)
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    assert page.input_value(NOTES) == too_long and banner.inner_text() == refused_words
    assert page.input_value("#lab_hgb") == "132"
    page.wait_for_timeout(1000)
    assert draft_posts(server, 422) == 1

    # Shortened: it goes, is stored, and the refusal is no longer said.
    page.fill(NOTES, "n" * patients.DRAFT_MAX_VALUE)
    page.wait_for_function(DRAFT_SAVED_JS, arg="yes")
    assert not banner.is_visible()
    assert stored_draft(server, visit_id)["notes"] == "n" * patients.DRAFT_MAX_VALUE
    assert draft_posts(server, 422) == 1
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('ildscreen-draft-')).length") == 0
    context.close()


def test_an_autosave_to_a_visit_closed_meanwhile_says_so_once_and_keeps_the_text(browser, server):
    """Closed in another tab: the autosave's 409 is said in the nurse's language, the note stays in
    its field, and it is not posted again until she changes it."""
    context, page = new_page(browser, "zh-CN")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, "CL109-CLOSED")
    page.click("#new-visit")
    page.wait_for_selector(NOTES)
    visit_id = page.get_attribute("[data-visit]", "data-visit")
    closed = page.request.post(f"{server.url}/visits/{visit_id}/status", max_redirects=0, form={
        "csrf_token": page.get_attribute("meta[name=csrf-token]", "content"), "action": "close",
        "version": page.get_attribute("#status-form input[name=version]", "value")})
    assert closed.status == 302

    page.fill(NOTES, "crackles at both bases")
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    assert draft_posts(server, 409, at_least=1) == 1
    assert page.inner_text("#offline-banner") == CATALOG["err_visit_closed"]["zh-CN"]
    page.dispatch_event(NOTES, "input")  # an autosave tick with the note unchanged: nothing is posted
    page.wait_for_function(DRAFT_SAVED_JS, arg="refused")
    page.wait_for_timeout(1000)
    assert draft_posts(server, 409) == 1 and page.input_value(NOTES) == "crackles at both bases"
    context.close()
