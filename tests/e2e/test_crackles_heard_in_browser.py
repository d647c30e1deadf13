"""Issue 24, in Chromium: the nurse uploads a take; a clinician, on the visit page, answers under it whether
crackles are heard (the page saying the answer does not change the result) and saves; the nurse then sees the
answer, read only. In English and Chinese, each page checked as in the clinic-day walk (44 px targets,
axe-core, no English left on the Chinese pages). The server's rules are in tests/edge/test_crackles_heard.py."""
from __future__ import annotations

import pytest

from e2e_support import NURSE_PASSWORD, require_axe
from edge.web.i18n import CATALOG
from served import run_cli
from support import wav_bytes
from tablet import Tablet, log_in, new_page, register_patient

pytestmark = pytest.mark.slow

require_axe()
CLINICIAN_PASSWORD = "clinician password 1"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clinician_answers_under_a_take_and_the_nurse_sees_it(browser, server, tmp_path, lang):
    run_cli(server.data_dir, "users", "add", "clinician1", "--role", "clinician", "--password-stdin",
            input=CLINICIAN_PASSWORD + "\n")
    nurse_context, nurse = new_page(browser, lang)
    log_in(nurse, server.url, "nurse1", NURSE_PASSWORD)
    register_patient(nurse, server.url, f"CL24-{lang[:2].upper()}")
    nurse.click("#new-visit")
    nurse.wait_for_selector("#file-input")
    take = tmp_path / "left-base.wav"
    take.write_bytes(wav_bytes(seconds=8, rate=4000))
    nurse.select_option("#chest-piece", "diaphragm")
    nurse.set_input_files("#file-input", str(take))
    nurse.click("#upload-button")
    nurse.wait_for_selector(".recording")
    assert nurse.locator("form.crackles-heard").count() == 0  # a nurse does not label
    recording_id = nurse.get_attribute(".recording", "data-recording-id")
    visit_url = nurse.url.split("?")[0].split("#")[0]

    doctor_context, doctor = new_page(browser, lang)
    tablet = Tablet(doctor, lang, "crackles-heard")
    log_in(doctor, server.url, "clinician1", CLINICIAN_PASSWORD)
    doctor.goto(visit_url)
    form = f"#crackles-heard-{recording_id}"
    doctor.wait_for_selector(form)
    assert doctor.inner_text(f"{form} legend") == CATALOG["crackles_heard_question"][lang]
    assert CATALOG["crackles_heard_note"][lang] in doctor.inner_text(form)
    tablet.check("question")
    doctor.get_by_label(CATALOG["crackles_heard_yes"][lang]).check()
    with doctor.expect_navigation():
        doctor.click(f"{form} button[type=submit]")
    doctor.wait_for_selector(f"#crackles-heard-saved-{recording_id}")
    assert doctor.is_checked(f"{form} input[value=yes]")
    tablet.check("saved", orientations=("portrait",))
    tablet.assert_clean()

    nurse.reload()
    shown = nurse.inner_text(f"#crackles-heard-{recording_id}")
    assert CATALOG["crackles_heard_shown"][lang].format(answer=CATALOG["crackles_heard_yes"][lang]) in shown
    assert CATALOG["crackles_heard_note"][lang] in shown
    nurse_context.close()
    doctor_context.close()
