"""Issue 24, in Chromium: a clinic that names its stethoscopes (settings stethoscopes, upload_stethoscope). The
nurse picks the stethoscope from the recording form's list (never typed) for a microphone take (the page's
script sends it) and for a file; each take on the visit page names its stethoscope and says whether the
crackle model was validated on it, and the result's note says what each chest piece found. In English and
Chinese, checked as in the clinic-day walk (44 px targets, axe-core, no English left on the Chinese pages).
The server's rules are in tests/edge/test_stethoscope.py and tests/edge/test_crackle_model_by_device.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, STETHOSCOPES, require_axe
from edge.web.i18n import CATALOG, LABEL_SEPARATORS
from support import wav_bytes
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()
LITTMANN, OTHER = STETHOSCOPES  # a stethoscope of the adults' validation, and one of no validation


def opening(key: str, lang: str) -> str:
    """The words a statement starts with, before its first value."""
    return CATALOG[key][lang].split("{")[0]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_nurse_picks_the_stethoscope_and_each_take_says_whether_the_model_was_validated_on_it(
        browser, clinic_with_stethoscopes, tmp_path, lang):
    server = clinic_with_stethoscopes
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "stethoscope")
    log_in(page, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, server.url, f"CL83-{lang[:2].upper()}")
    page.click("#new-visit")
    page.wait_for_selector("#stethoscope")
    assert page.input_value("#stethoscope") == LITTMANN  # the form starts on upload_stethoscope

    page.select_option("#chest-site", "posterior_right_base")
    page.select_option("#chest-piece", "diaphragm")
    page.select_option("#stethoscope", OTHER)
    page.click("#record-button")
    page.wait_for_function("() => document.body.dataset.recording === 'yes'")
    page.wait_for_timeout(2500)
    page.click("#record-button")  # stop: the WAV is uploaded with the form's choices and the page reloads
    page.wait_for_selector(".recording[data-recording-id]")
    microphone = page.get_attribute(".recording", "data-recording-id")

    take = tmp_path / "left-base.wav"
    take.write_bytes(wav_bytes(seconds=8, rate=4000))  # long enough to pass the gate: the result scores it
    page.select_option("#chest-site", "posterior_left_base")
    page.select_option("#chest-piece", "diaphragm")
    page.select_option("#stethoscope", LITTMANN)
    page.set_input_files("#file-input", str(take))
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelectorAll('.recording[data-recording-id]').length === 2")
    uploaded = [pk for pk in page.eval_on_selector_all(".recording", "els => els.map(e => e.dataset.recordingId)")
                if pk != microphone][0]

    assert page.inner_text(f"#take-{microphone} .stethoscope") == f"{CATALOG['stethoscope'][lang]}{LABEL_SEPARATORS[lang]}{OTHER}"
    assert page.inner_text(f"#stethoscope-note-{microphone}").startswith(opening("stethoscope_not_validated", lang))
    assert page.inner_text(f"#take-{uploaded} .stethoscope") == f"{CATALOG['stethoscope'][lang]}{LABEL_SEPARATORS[lang]}{LITTMANN}"
    assert page.inner_text(f"#stethoscope-note-{uploaded}").startswith(opening("stethoscope_validated", lang))
    tablet.check("takes")

    # The result's note on the crackle model says what each chest piece found alone (issue 24 item 8), in
    # the nurse's language (checked for English left on the Chinese page like the rest).
    page.click("#assess-button")
    page.wait_for_selector("#crackle-model-devices")
    devices = page.inner_text("#crackle-model-devices")
    assert devices.startswith(opening("crackle_model_by_device", lang))
    assert f"{CATALOG['chest_piece_bell'][lang]} {CATALOG['crackle_model_found'][lang].format(found=0, positive=3)}" \
        in devices
    tablet.check("result")
    tablet.assert_clean()
    context.close()
