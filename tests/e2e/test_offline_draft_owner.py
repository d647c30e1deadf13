"""A visit draft typed offline belongs to the nurse and session that typed it (brief h38), in Debian
Chromium against a served clinic: it survives her idle lock and is sent once her PIN reopens the
session; at logout it leaves the tablet, and the next nurse to open the visit neither sends it
under her own name nor finds it in the tablet's storage. "Offline" here is the draft route
aborted as a dropped network would, so the logout itself still reaches the server."""
from __future__ import annotations

import subprocess

import pytest

from e2e_support import NURSE_PASSWORD
from served import ildscreen_command
from support import clean_env
from tablet import log_in, new_page, register_patient, set_pin

pytestmark = pytest.mark.slow

PIN = "4071"
QUEUED_JS = """() => Object.keys(localStorage).filter((k) => k.startsWith('ildscreen-draft-'))
                                           .map((k) => localStorage.getItem(k)).join(' ')"""


def drop_drafts(page) -> None:
    """The network drops every draft save from now on; the page queues the draft on the tablet."""
    page.route("**/visits/*/draft", lambda route: route.abort("internetdisconnected"))


def type_offline(page, text: str) -> None:
    page.fill("textarea[data-draft=notes]", text)
    page.wait_for_function("() => document.body.dataset.draftSaved === 'queued'")
    assert text in page.evaluate(QUEUED_JS)


def add_nurse(server, username: str) -> None:
    subprocess.run([*ildscreen_command(), "users", "add", username, "--role", "nurse", "--password-stdin",
                    "--data-dir", str(server.data_dir)], input=NURSE_PASSWORD + "\n", text=True, check=True,
                   capture_output=True, env=clean_env())


def test_an_offline_draft_is_sent_after_the_pin_unlock_and_never_under_the_next_nurses_session(browser, server):
    add_nurse(server, "nurse2")
    context, page = new_page(browser, "en")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    set_pin(page, NURSE_PASSWORD, PIN)
    register_patient(page, server.url, "CL38-E2E")
    page.click("#new-visit")
    page.wait_for_selector("textarea[data-draft=notes]")
    visit_url = page.url

    # Her own idle lock (here "Lock now") keeps the queue; her PIN reopens the session, which sends it.
    drop_drafts(page)
    type_offline(page, "A: wheeze at rest")
    page.click("#lock-now-button")
    page.wait_for_selector("#lock-screen")
    assert "A: wheeze at rest" in page.evaluate(QUEUED_JS)
    page.unroute("**/visits/*/draft")
    page.fill("#pin", PIN)
    with page.expect_navigation():
        page.click("#unlock-button")
    page.wait_for_function("() => document.body.dataset.draftSaved === 'yes'")
    assert page.evaluate(QUEUED_JS) == ""

    # Typed offline again, then she logs out: the queue leaves the tablet with her.
    drop_drafts(page)
    type_offline(page, "A: typed offline, then logged out")
    with page.expect_navigation():
        page.click("#logout-button")
    page.wait_for_selector("#login-form")
    page.unroute("**/visits/*/draft")
    assert page.evaluate(QUEUED_JS) == ""

    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or "")
            if request.method == "POST" and request.url.endswith("/draft") else None)
    log_in(page, server.url, "nurse2", NURSE_PASSWORD)
    page.goto(visit_url)
    page.wait_for_selector("textarea[data-draft=notes]")
    page.wait_for_timeout(1000)  # time for a queued draft to be sent, had one been kept
    assert not any("logged out" in body for body in sent), sent
    assert page.evaluate(QUEUED_JS) == ""
    page.reload()
    assert page.input_value("textarea[data-draft=notes]") == "A: wheeze at rest"  # only what she saved herself
    context.close()


def new_visit(page, url: str, code: str) -> str:
    register_patient(page, url, code)
    page.click("#new-visit")
    page.wait_for_selector("textarea[data-draft=notes]")
    return page.url


def lock_without_pin_from(page, visit_url: str) -> None:
    """Her idle lock ("Lock now") on another visit's page: no PIN, so the session ends on the login page."""
    page.goto(visit_url)
    page.wait_for_selector("textarea[data-draft=notes]")
    page.click("#lock-now-button")
    page.wait_for_selector("#login-form")


def log_in_here(page, username: str) -> None:
    """The password login on the page the lock opened (its URL returns to the locked page)."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", NURSE_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#logout-button")


def test_after_a_lock_without_a_pin_her_offline_draft_of_another_visit_is_hers_again_and_no_one_elses(
        browser, server):
    """Brief h46: the idle lock of a nurse without a PIN ends her session; what she had queued offline for
    another visit waits on the tablet, is sent once she logs in again, and is dropped unsent when another
    nurse logs in instead."""
    add_nurse(server, "nurse2")
    context, page = new_page(browser, "en")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)  # no PIN: her lock ends the session
    visit_a = new_visit(page, server.url, "CL46-E2E-A")
    visit_b = new_visit(page, server.url, "CL46-E2E-B")

    page.goto(visit_a)
    page.wait_for_selector("textarea[data-draft=notes]")
    drop_drafts(page)
    type_offline(page, "A: typed offline before her lock")
    page.unroute("**/visits/*/draft")
    lock_without_pin_from(page, visit_b)  # the queue is for visit A, not the page that locked
    assert "A: typed offline before her lock" in page.evaluate(QUEUED_JS)  # the login page leaves it

    log_in_here(page, "nurse1")
    page.goto(visit_a)
    page.wait_for_function("() => document.body.dataset.draftSaved === 'yes'")
    assert page.evaluate(QUEUED_JS) == ""
    page.reload()
    assert page.input_value("textarea[data-draft=notes]") == "A: typed offline before her lock"

    # Queued again, locked again, and this time another nurse logs in: dropped, never sent in her name.
    drop_drafts(page)
    type_offline(page, "A: queued, then nurse2 logged in")
    page.unroute("**/visits/*/draft")
    lock_without_pin_from(page, visit_b)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or "")
            if request.method == "POST" and request.url.endswith("/draft") else None)
    log_in_here(page, "nurse2")
    assert page.evaluate(QUEUED_JS) == ""
    page.goto(visit_a)
    page.wait_for_selector("textarea[data-draft=notes]")
    page.wait_for_timeout(1000)  # time for a queued draft to be sent, had one been kept
    assert not any("nurse2 logged in" in body for body in sent), sent
    assert page.input_value("textarea[data-draft=notes]") == "A: typed offline before her lock"
    context.close()


def test_a_draft_still_queued_is_put_back_in_its_field_when_the_page_loads_online(browser, server):
    """Brief h114, point 5: the page is drawn with the server's older value; what the tablet still had queued
    (typed while the network was down) is newer, so it goes back in its field as it is sent, not only on the
    next reload."""
    context, page = new_page(browser, "en")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, "CL114-E2E")
    page.click("#new-visit")
    notes = "textarea[data-draft=notes]"
    page.wait_for_selector(notes)
    page.fill(notes, "A: saved online")
    page.wait_for_function("() => document.body.dataset.draftSaved === 'yes'")
    drop_drafts(page)
    type_offline(page, "A: typed offline, newer")
    page.unroute("**/visits/*/draft")

    page.reload()  # online again: the page shows the server's "saved online"; the queue holds the newer one

    page.wait_for_function("() => document.body.dataset.draftSaved === 'yes'")
    assert page.input_value(notes) == "A: typed offline, newer"
    assert "A: typed offline, newer" not in page.evaluate(QUEUED_JS)  # sent: the queue is empty
    page.reload()  # the server has it: the field shows it from the page itself
    page.wait_for_selector(notes)
    assert page.input_value(notes) == "A: typed offline, newer"
    context.close()
