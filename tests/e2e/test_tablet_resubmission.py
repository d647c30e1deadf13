"""A double tap on the tablet sends a form once (brief h33, the tablet's safety, point 4): the page's
script drops a second submission while the first is on its way, so a take is never stored twice.
The server's own answers to a form sent twice are in tests/edge/test_ui_resubmission.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD
from support import wav_bytes
from tablet import log_in, new_page, register_patient


@pytest.mark.slow
def test_a_double_tap_on_upload_sends_the_take_once(browser, server, tmp_path):
    context, page = new_page(browser, "en")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, "CL33-DT01")
    page.click("#new-visit")
    page.wait_for_selector("#recording-form")
    take = tmp_path / "take.wav"
    take.write_bytes(wav_bytes(seconds=8.0))
    page.set_input_files("#file-input", str(take))
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url)
            if request.method == "POST" and request.url.endswith("/recordings") else None)
    with page.expect_navigation():
        page.dblclick("#upload-button")
    page.wait_for_selector("#recording-list li")
    page.wait_for_timeout(1500)  # time for a second post, had one been sent
    assert len(posts) == 1, posts
    page.reload()
    assert page.locator("#recording-list li").count() == 1
    context.close()
