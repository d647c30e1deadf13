"""The shared tablet's PIN re-lock and the Cancel of a board capture (issue 16), in Debian
Chromium against a served clinic with a real-time simulated stethoscope on a pty, in English and
Chinese: idle -> lock screen -> wrong PIN -> right PIN back on the same page; five wrong PINs ->
the password login; a capture started, its progress seen, cancelled, and nothing stored.
The idle time passes on Playwright's clock, not the wall clock."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from tablet import Tablet, log_in, new_page, one_time_account, register_patient

pytestmark = pytest.mark.slow

require_axe()

PIN = "4071"
WORDS = {
    "en": {"owner": "Session of", "wrong": "Wrong PIN. Attempts left before the session ends: 4", "ended": "Too many wrong PINs",
           "saved": "PIN saved", "cancelled": "Capture cancelled"},
    "zh-CN": {"owner": "的会话", "wrong": "PIN 错误。再错 4 次", "ended": "PIN 错误次数过多",
              "saved": "PIN 码已保存", "cancelled": "采集已取消"},
}


def idle_until_locked(page) -> None:
    page.clock.fast_forward("06:00")  # past the 5-minute idle lock
    page.wait_for_selector("#lock-screen")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_idle_lock_asks_for_the_nurses_pin_and_returns_to_the_same_page(browser, board_clinic, lang):
    words = WORDS[lang]
    username = {"en": "nurse71", "zh-CN": "nurse72"}[lang]
    one_time = one_time_account(board_clinic.data_dir, username)
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "pin-lock")
    page.clock.install()
    log_in(page, board_clinic.url, username, one_time, then="#password-form")
    page.fill("#current_password", one_time)
    page.fill("#new_password", "my own password 7")
    page.fill("#repeat_password", "my own password 7")
    page.click("#password-button")
    page.wait_for_selector("#search-form")

    page.click("#account-link")
    page.fill("#pin_password", "my own password 7")
    page.fill("#pin", "1234")
    page.fill("#repeat_pin", "1234")
    page.click("#pin-button")
    page.wait_for_selector("#pin-error-summary")
    page.wait_for_function("() => document.activeElement.id === 'pin-error-summary'")  # the errors, in view
    assert page.locator("#error-pin").is_visible()  # a run is refused, beside the field
    page.fill("#pin_password", "my own password 7")
    page.fill("#pin", PIN)
    page.fill("#repeat_pin", PIN)
    with page.expect_navigation():  # #pin-state is on the page with the errors too: wait for the new one
        page.click("#pin-button")
    page.wait_for_selector("#pin-state")
    assert words["saved"] in page.inner_text("#pin-state")
    tablet.check("account-pin")

    code = f"CL9-PN{lang[:2].upper()}"
    patient_url = register_patient(page, board_clinic.url, code)
    idle_until_locked(page)
    assert code not in page.content() and words["owner"] in page.inner_text("#lock-owner")
    assert username in page.inner_text("#lock-owner")
    pin_box = page.locator("#pin")
    assert pin_box.get_attribute("inputmode") == "numeric" and pin_box.get_attribute("autocomplete") == "off"
    tablet.check("lock-screen")
    page.go_back()  # Back asks the server, which answers with the lock screen again
    page.wait_for_selector("#lock-screen")
    assert code not in page.content()

    page.fill("#pin", "9999")
    page.click("#unlock-button")
    page.wait_for_selector("#pin-error")
    assert words["wrong"] in page.inner_text("#pin-error")
    page.wait_for_function("() => document.activeElement.id === 'pin'")  # ready for the next try
    tablet.check("wrong-pin")
    page.fill("#pin", PIN)
    page.click("#unlock-button")
    page.wait_for_selector("#new-visit")
    assert page.url == patient_url and code in page.content()  # the same page, the same session

    idle_until_locked(page)
    for attempt in range(5):
        page.fill("#pin", f"80{attempt}6")
        with page.expect_navigation():  # each try is a form post; #pin-error is on the old page too
            page.click("#unlock-button")
        page.wait_for_selector("#pin-error, #login-form")
    page.wait_for_selector("#pin-ended-notice")
    assert words["ended"] in page.inner_text("#pin-ended-notice")
    tablet.check("pin-ended")
    page.goto(patient_url)
    page.wait_for_selector("#login-form")  # the session is over: only the password opens it
    assert code not in page.content()
    tablet.assert_clean()
    context.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_nurse_cancels_a_board_capture_and_nothing_is_stored(browser, board_clinic, lang):
    words = WORDS[lang]
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "board-cancel")
    log_in(page, board_clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, board_clinic.url, f"CL9-CX{lang[:2].upper()}")
    page.click("#new-visit")
    page.wait_for_selector("#auscultation")
    connect = page.locator("#auscultation .board button")
    if connect.count():
        connect.click()
        page.wait_for_selector("#steth-capture")
    page.click("#steth-capture button[type=submit]")
    page.wait_for_selector("#steth-capture .capture-cancel:not([hidden])")
    page.wait_for_function("() => document.querySelector('#steth-capture progress').value > 0")  # the board's progress
    assert page.locator("#steth-capture .prompt").is_visible()
    tablet.check("capture-running", orientations=("portrait",))
    page.click("#steth-capture .capture-cancel")
    page.wait_for_selector("#steth-capture .capture-message:not([hidden])")
    assert words["cancelled"] in page.inner_text("#steth-capture .capture-message")
    assert page.locator("#steth-capture .capture-progress").is_hidden()
    assert page.locator("#steth-capture button[type=submit]").is_enabled()
    tablet.check("capture-cancelled")
    page.reload()
    page.wait_for_selector("#auscultation")
    assert page.locator(".recording[data-recording-id]").count() == 0  # nothing stored
    assert page.locator("#auscultation .board .ok").count() == 1
    busy = {"en": "recording", "zh-CN": "采集中"}[lang]
    assert busy not in page.inner_text("#auscultation .board")  # the board is free

    # Leaving the page mid-capture cancels it at once (well before the 15 s orphan rule would).
    visit_url = page.url
    page.click("#steth-capture button[type=submit]")
    page.wait_for_selector("#steth-capture .capture-cancel:not([hidden])")
    page.goto(visit_url)
    for _ in range(10):  # at most ~5 s of reloads
        if busy not in page.inner_text("#auscultation .board"):
            break
        page.wait_for_timeout(500)
        page.reload()
    assert busy not in page.inner_text("#auscultation .board")
    assert page.locator(".recording[data-recording-id]").count() == 0
    tablet.assert_clean()
    context.close()
