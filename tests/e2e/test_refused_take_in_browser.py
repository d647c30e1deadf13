"""h130, in Chromium against a served clinic, in English and Chinese: a take whose sound cannot be used
is said for what it is (never "Choose a file first", which the page said for any refused sound), and a
breath reading from a chamber at an impossible humidity is shown as not counted with why, never as
"Quality OK". The server's rules: tests/edge/test_ui_refused_take_words.py, tests/edge/test_breath_api.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from edge.web.i18n import CATALOG, QUALITY_ISSUES
from support import wav_bytes
from tablet import Tablet, log_in, new_page, register_patient
from test_breath_api import impossible_humidity_reading

pytestmark = pytest.mark.slow

require_axe()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_refused_take_and_an_impossible_breath_reading_are_said_for_what_they_are(browser, server, lang, tmp_path):
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "refused-take")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, f"CL130-{lang[:2].upper()}")
    page.click("#new-visit")
    page.wait_for_selector("#recording-form")

    for name, sound, key in (("short.wav", wav_bytes(seconds=0.3), "err_audio_too_short"),
                             ("not-a-recording.wav", b"this is a text file, not a recording\n" * 30, "err_audio_file")):
        take = tmp_path / name
        take.write_bytes(sound)
        page.set_input_files("#file-input", str(take))
        with page.expect_navigation():
            page.click("#upload-button")
        assert page.inner_text("#upload-error") == CATALOG[key][lang]
        assert page.locator("#recording-list li").count() == 0  # nothing stored
    tablet.check("take-refused", orientations=("portrait",))

    reading = tmp_path / "breath.csv"
    reading.write_text(impossible_humidity_reading(), encoding="utf-8")
    page.set_input_files("#breath-form input[type=file]", str(reading))
    with page.expect_navigation():
        page.click("#breath-form button[type=submit]")
    listed = page.inner_text("#breath-list")
    assert CATALOG["quality_ok"][lang] not in listed
    assert QUALITY_ISSUES["breath:environment_out_of_range"][lang] in listed
    tablet.check("breath-impossible-humidity", orientations=("portrait",))
    tablet.assert_clean()
    context.close()
