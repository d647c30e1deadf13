"""A real clinic day on the tablet (issue 16), in Debian Chromium against a served clinic in
Shanghai time: each test reproduces one defect a nurse met and shows it fixed, in English and
Chinese, portrait 820x1180 and landscape 1180x820. Every page is screenshotted in both
orientations under test-artifacts/e2e/, its touch targets measured (>= 44 CSS px), checked
with axe-core (no serious or critical violation), and in Chinese searched for English left over.
No test here calls the JSON API, and the pages must not either.
"""
from __future__ import annotations

import datetime as dt
import io
import sqlite3
from zoneinfo import ZoneInfo

import pytest

from common.passwords import MAX_PASSWORD_LENGTH
from e2e_support import NURSE_PASSWORD, require_axe
from support import birth_year_for_age, wav_bytes
from tablet import Tablet, log_in, new_page, one_time_account, register_patient
from test_breath_api import breath_csv

pytestmark = pytest.mark.slow

require_axe()

WORDS = {
    "en": {"recording": "Recording…", "risk_meaning": "in 100 patients like this", "letter": "Referral for high-resolution CT",
           "offline": "No connection", "mic": "microphone is blocked", "locked": "locked after a pause",
           "antibody": "anti-Scl-70", "reason_needed": "The advice for this patient is not a CT scan.",
           "withdrawn": "withdrawn before it was sent", "nurse": "nurse"},
    "zh-CN": {"recording": "正在录音…", "risk_meaning": "名类似患者中", "letter": "肺部高分辨率 CT 转诊单",
              "offline": "连接中断", "mic": "麦克风被禁止", "locked": "闲置后已锁定",
              "antibody": "抗 Scl-70 抗体", "reason_needed": "对该患者的建议不是做 CT。",
              "withdrawn": "发送前已撤回", "nurse": "护士"},
}


def _pdf_pages(pdf: bytes) -> int:
    """Pages in a PDF Chromium printed: its page objects (``/Type /Page``, not ``/Pages``)."""
    import re

    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_first_time_nurse_screens_a_patient_from_login_to_the_printed_letter(browser, clinic, lang, tmp_path):
    """Fresh account with a one-time password; the whole visit on the pages alone."""
    words = WORDS[lang]
    username = f"newnurse{lang[:2]}"
    one_time = one_time_account(clinic.data_dir, username)
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "first-visit")
    page.goto(clinic.url + "/")
    tablet.check("login")
    log_in(page, clinic.url, username, one_time)
    page.wait_for_selector("#password-form")  # no way past the one-time password but choosing one
    assert page.locator("#forced-notice").is_visible()
    tablet.check("password-forced")
    page.fill("#current_password", one_time)
    page.fill("#new_password", "short")
    page.fill("#repeat_password", "different")
    page.click("#password-button")
    page.wait_for_selector("#error-summary")
    page.wait_for_function("() => document.activeElement.id === 'error-summary'")  # focus on the errors, in view
    assert page.locator("#error-new_password, #error-repeat_password").count() == 2
    tablet.check("password-errors")
    page.fill("#current_password", one_time)
    page.fill("#new_password", "my own password 7")
    page.fill("#repeat_password", "my own password 7")
    page.click("#password-button")
    page.wait_for_selector("#search-form")
    tablet.check("home")

    page.click("#register-link")
    code = f"CL7-{lang[:2].upper()}16"
    page.fill("input[name=code]", code)
    page.fill("input[name=birth_year]", str(birth_year_for_age(76)))
    page.check("input[name=sex][value=F]")
    page.select_option("select[name=ctd_diagnosis]", "SSc")
    page.check("input[name=autoantibodies][value=anti-Scl-70]")
    page.check("input[name=symptoms][value=exertional_dyspnoea]")
    tablet.check("register")
    page.click("#patient-form button[type=submit]")
    page.wait_for_selector("#new-visit")
    page.click("#new-visit")
    page.wait_for_selector("#checklist")
    tablet.check("visit-start")

    # Chest map: back view, L/R, bases first, numbered 1 at the left base.
    first = page.locator(".chest .site").first
    assert first.get_attribute("data-site") == "posterior_left_base" and first.text_content().strip() == "1"
    assert page.input_value("#chest-site") == "posterior_left_base"
    assert page.locator(".chest text.side").count() == 2  # L and R on the back view
    page.click("#record-button")
    page.wait_for_function("() => document.body.dataset.recording === 'yes'")
    assert words["recording"] in page.inner_text("#record-status")  # countdown
    page.wait_for_function("() => document.getElementById('level-meter').value > 0")  # the level meter moves
    page.click(".chest .site[data-site=posterior_right_upper]")
    assert page.input_value("#chest-site") == "posterior_left_base"  # the site is locked during a take
    tablet.check("recording", accessibility=False)
    page.wait_for_timeout(7000)  # the quality gate needs at least 6 s of sound
    page.click("#record-button")
    page.wait_for_selector(".recording.latest .verdict")  # the verdict right after the take
    assert page.locator(".recording.latest audio").count() == 1  # playback
    assert page.locator(".recording.latest button").count() == 1  # re-record
    assert {"en": "tablet microphone", "zh-CN": "平板麦克风"}[lang] in page.inner_text(".recording.latest")
    # The microphone's script sends the form's chest piece (it starts on the diaphragm), not "not stated".
    assert {"en": "Chest piece: Diaphragm", "zh-CN": "听诊头：膜型面"}[lang] in page.inner_text(".recording.latest")
    tablet.check("take-verdict")
    if page.locator("#keep-take").count():
        page.click("#keep-take")
        page.wait_for_selector("#chest-site")
        assert page.input_value("#chest-site") == "posterior_right_base"  # auto-advance to the next base
        assert page.locator(".chest .site.done[data-site=posterior_left_base]").count() == 1  # done, marked
    upload = tmp_path / "right-base.wav"
    upload.write_bytes(wav_bytes(seconds=8, rate=4000))
    page.select_option("#chest-site", "posterior_right_base")
    page.select_option("#chest-piece", "extended")
    page.set_input_files("#file-input", str(upload))
    page.click("#upload-button")
    page.wait_for_selector(".recording >> nth=1")
    assert {"en": "Extended filter", "zh-CN": "扩展滤波模式"}[lang] in page.inner_text(".recording >> nth=1")

    # Labs: two mistakes, both reported at once, summary focused; the reload never re-posts.
    page.fill("#lab_hgb", "150")
    page.select_option("select[name=unit_hgb]", "g/dL")
    page.fill("#lab_crp", "forty")
    page.fill("#lab_wbc", "7.1")
    page.click("#labs-button")
    page.wait_for_selector("#lab-error-summary")
    page.wait_for_function("() => document.activeElement.id === 'lab-error-summary'")  # focus on the errors
    assert page.locator("#lab-error-hgb").is_visible() and page.locator("#lab-error-crp").is_visible()
    tablet.check("labs-errors")
    page.reload()
    assert page.input_value("#lab_hgb") == "150"  # the reload shows what was typed, posts nothing
    page.fill("#lab_hgb", "15.0")
    page.fill("#lab_crp", "40")
    page.click("#labs-button")
    page.wait_for_selector("#lab-results")
    assert page.locator("#lab-results .flag").count() >= 1  # CRP 40 mg/L is flagged high
    tablet.check("labs-saved")

    page.fill("input[name=fvc_percent]", "92")
    page.fill("input[name=dlco_percent]", "85")
    page.click("#lung-button")
    page.wait_for_selector("#checklist")
    page.click("#assess-button")
    page.wait_for_selector("#headline-text")
    # One headline: risk in words on the badge (the only coloured part), natural frequency, what to do.
    assert words["risk_meaning"] in page.inner_text("#headline-text")
    assert page.locator("#tier-badge").is_visible()
    assert page.evaluate("getComputedStyle(document.getElementById('headline-text')).color") == \
        page.evaluate("getComputedStyle(document.body).color")  # the tier colour on the badge only
    assert page.locator("#guideline-line").is_visible() and page.locator("#not-measured").is_visible()
    tablet.check("result")

    page.click("#refer-button")
    page.wait_for_selector("#letter-link")
    page.click("#finish-button")
    page.wait_for_selector("#visit-closed")
    page.click("#letter-link")
    page.wait_for_selector("#letter-code")
    page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    page.click("#print-button")
    assert page.evaluate("window.__printed") == 1
    letter = page.inner_text("body")
    for must in ("Clinic 7", "021-5555", words["antibody"], code, words["letter"]):
        assert must in letter
    for part in ("#letter-labs", "#letter-risk", "#letter-validation", "#letter-signature"):
        assert page.inner_text(part).strip() not in ("", "—")
    assert words["nurse"] in page.inner_text("#letter-referrer")  # full name (or login) and role
    page.emulate_media(media="print")
    assert not page.locator("#letter-back").is_visible()  # the A4 print has no buttons
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    assert _pdf_pages(pdf) == 1, "the letter of a typical referral prints on one A4 page"
    page.emulate_media(media="screen")
    tablet.check("letter")
    page.click("#letter-back")
    page.wait_for_selector("#checklist")
    page.click("h1 a")
    page.wait_for_selector("#timeline")
    assert page.locator(".trend .axis").count() == 2
    tablet.check("timeline")

    assert tablet.api_calls == []  # the whole visit ran on the pages
    tablet.assert_clean()
    context.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_shared_tablet_back_after_logout_and_recalculation_and_the_idle_lock(browser, clinic, lang):
    words = WORDS[lang]
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "shared-tablet")
    page.clock.install()
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL7-BK{lang[:2].upper()}", birth_year=birth_year_for_age(78), sex="M", ctd="RA",
                     symptoms=("rapidly_worsening_dyspnoea",))
    page.click("#new-visit")
    page.wait_for_selector("#assess-button")
    page.click("#assess-button")
    page.wait_for_selector("#urgent-banner")  # the red flag is a banner above the steps, not a line below
    assert page.locator("#nothing-measured").is_visible() and page.locator("#risk-percent").count() == 0
    assert page.locator("#refer-button.urgent").is_visible()
    first = page.inner_text("#assessment")
    tablet.check("urgent")
    page.goto(page.url.split("?")[0].split("#")[0] + "?again=1")
    page.fill("input[name=fvc_percent]", "60")
    # Both are form posts answered by a redirect: wait for each new page, since the elements
    # waited for are already on the old one.
    with page.expect_navigation():
        page.click("#lung-button")
    with page.expect_navigation():
        page.click("#assess-button")
    page.wait_for_selector("#red-flags")
    second = page.inner_text("#assessment")
    assert second != first
    page.go_back()
    page.go_back()
    page.wait_for_selector("#assessment")
    assert page.inner_text("#assessment") == second  # Back shows the current result, never the old one

    visit_url = page.url
    page.clock.fast_forward("06:00")  # past ILDSCREEN_IDLE_LOGOUT_MINUTES (5)
    page.wait_for_selector("#locked-notice")
    assert words["locked"] in page.inner_text("#locked-notice")
    tablet.check("locked")
    page.go_back()
    page.wait_for_load_state()
    assert page.locator("#login-form").count() == 1 and "CL7-BK" not in page.content()  # no patient after lock
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    page.click("#logout-button")
    page.wait_for_selector("#login-form")
    page.go_back()
    page.wait_for_load_state()
    assert page.locator("#login-form").count() == 1 and "CL7-BK" not in page.content()
    assert visit_url  # (the lock returned to the visit's URL after login: covered by test_ui_pages)
    tablet.assert_clean()
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_todays_worklist_is_in_the_clinics_time_zone(browser, clinic, lang):
    context, page = new_page(browser, lang)
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL7-TZ{lang[:2].upper()}", birth_year=birth_year_for_age(71), ctd="IIM")
    page.click("#new-visit")
    page.wait_for_selector("#checklist")
    shanghai_now = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    assert shanghai_now.strftime("%Y-%m-%d") in page.inner_text("h1")  # Shanghai's date, whatever UTC says
    page.goto(clinic.url + "/")
    row = page.locator("#today-list tr", has_text=f"CL7-TZ{lang[:2].upper()}")
    assert row.count() == 1
    shown = row.locator("td").nth(1).inner_text()
    moment = dt.datetime.combine(shanghai_now.date(), dt.time.fromisoformat(shown), tzinfo=ZoneInfo("Asia/Shanghai"))
    assert abs((moment - shanghai_now).total_seconds()) < 300
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_board_status_connect_and_a_capture_with_prompt_and_progress(browser, clinic, lang):
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "board")
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL7-BD{lang[:2].upper()}", birth_year=birth_year_for_age(75))
    page.click("#new-visit")
    page.wait_for_selector("#auscultation")
    connect = page.locator("#auscultation .board button")
    if connect.count():  # not connected yet: the nurse connects it from the visit, no API
        connect.click()
        page.wait_for_selector("#steth-capture")
    assert page.locator("#auscultation .board .ok").count() == 1
    # Runs after the page's own submit handler; sessionStorage outlives the navigation.
    page.evaluate("() => { window.addEventListener('submit', () => sessionStorage.setItem('prompt', "
                  "document.querySelector('#steth-capture .capture-progress').hidden ? 'hidden' : "
                  "document.querySelector('#steth-capture .prompt').textContent)); }")
    page.click("#steth-capture button[type=submit]")
    page.wait_for_selector(".recording[data-recording-id]")
    prompt = page.evaluate("() => sessionStorage.getItem('prompt')")
    assert {"en": "through the mouth", "zh-CN": "张口深呼吸"}[lang] in prompt  # the prompt and progress showed
    assert page.locator(".recording", has_text={"en": "board", "zh-CN": "设备"}[lang]).count() == 1
    tablet.check("board-capture")
    tablet.assert_clean()
    context.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_blocked_microphone_and_a_dropped_network_are_explained(browser, clinic, lang):
    words = WORDS[lang]
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "failures")
    context.add_init_script("navigator.mediaDevices.getUserMedia = () => "
                            "Promise.reject(new DOMException('denied', 'NotAllowedError'));")
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL7-NW{lang[:2].upper()}", birth_year=birth_year_for_age(77), ctd="SLE")
    page.click("#new-visit")
    page.wait_for_selector("#record-button")
    page.click("#record-button")
    page.wait_for_selector("#mic-error:not([hidden])")
    assert words["mic"] in page.inner_text("#mic-error")
    tablet.check("mic-denied")

    context.set_offline(True)
    page.fill("textarea[data-draft=notes]", "stairs 2 floors")
    page.wait_for_selector("#offline-banner:not([hidden])")
    assert words["offline"] in page.inner_text("#offline-banner")
    page.fill("#lab_crp", "12")
    page.click("#labs-button")
    page.wait_for_timeout(500)
    assert page.locator("#labs-form").count() == 1 and page.input_value("#lab_crp") == "12"  # still here, typed
    tablet.check("offline", accessibility=False)
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("() => document.body.dataset.draftSaved === 'yes'")
    page.reload()
    assert page.input_value("textarea[data-draft=notes]") == "stairs 2 floors"  # the queued draft arrived
    tablet.assert_clean()
    context.close()


def test_every_template_and_error_path_is_translated_in_chinese(browser, clinic, tmp_path):
    """Walks every page and error path in zh-CN and fails on any English word left."""
    context, page = new_page(browser, "zh-CN")
    tablet = Tablet(page, "zh-CN", "zh-walk")
    page.goto(clinic.url + "/login")
    page.fill("input[name=username]", "nurse1")
    page.fill("input[name=password]", "wrong password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-form .error")
    tablet.check("login-error", orientations=("landscape",))
    page.fill("input[name=username]", "nurse1")
    # The field's maxlength stops typing at the cap (brief h101); a hand-made post can still send more, and the
    # server refuses it before hashing (brief h100). Lift the attribute to send one from the real page.
    page.eval_on_selector("input[name=password]", "field => field.removeAttribute('maxlength')")
    page.fill("input[name=password]", "x" * (MAX_PASSWORD_LENGTH + 1))
    with page.expect_navigation():  # the previous page has a .error too: wait for the answer to this post
        page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-form .error")
    assert str(MAX_PASSWORD_LENGTH) in page.inner_text("#login-form .error")
    tablet.check("login-password-too-long", orientations=("landscape",))
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    tablet.check("home", orientations=("landscape",))
    page.fill("#search-code", "NOBODY")
    page.click("#search-button")
    page.wait_for_selector("#search-results")
    tablet.check("search-none", orientations=("landscape",))
    page.goto(clinic.url + "/account/password")
    page.click("#password-button")
    page.wait_for_selector("#error-summary")
    tablet.check("password-errors", orientations=("landscape",))
    page.goto(clinic.url + "/patients/new")
    page.fill("input[name=code]", "王 小明")
    page.click("#patient-form button[type=submit]")
    page.wait_for_selector("#error-code")
    tablet.check("register-errors", orientations=("landscape",))
    page.fill("input[name=code]", "CL7-ZHWALK")
    page.fill("input[name=birth_year]", str(birth_year_for_age(76)))
    page.check("input[name=sex][value=F]")
    page.select_option("select[name=ctd_diagnosis]", "MCTD")
    page.click("#patient-form button[type=submit]")
    page.wait_for_selector("#new-visit")
    page.click("#new-visit")
    page.wait_for_selector("#file-input")
    short = tmp_path / "short.wav"
    short.write_bytes(wav_bytes(seconds=2, rate=4000))
    page.set_input_files("#file-input", str(short))
    page.click("#upload-button")
    page.wait_for_selector(".recording")
    tablet.check("poor-take", orientations=("landscape",), accessibility=False)
    page.click("#upload-button")  # no file chosen
    page.wait_for_selector("#upload-error")
    tablet.check("upload-error", orientations=("landscape",), accessibility=False)
    bad_labs = tmp_path / "labs.csv"
    bad_labs.write_text("analyte,value,unit\nhgb,abc,g/L\n", encoding="utf-8")
    page.set_input_files("#labs-import input[type=file]", str(bad_labs))
    page.click("#labs-import button[type=submit]")
    page.wait_for_selector("#labs-error")
    tablet.check("lab-import-error", orientations=("landscape",), accessibility=False)
    bad_breath = tmp_path / "breath.csv"
    bad_breath.write_bytes(io.BytesIO(b"not,a,breath\n1,2,3\n").getvalue())
    page.set_input_files("#breath-form input[type=file]", str(bad_breath))
    page.click("#breath-form button[type=submit]")
    page.wait_for_selector("#breath-error, #breath-list li")
    tablet.check("breath-error", orientations=("landscape",), accessibility=False)
    # A reading that scores says when and by which breath model (brief h129): the label stays untranslated.
    good_breath = tmp_path / "reading.csv"
    good_breath.write_text(breath_csv(), encoding="utf-8")
    page.set_input_files("#breath-form input[type=file]", str(good_breath))
    page.click("#breath-form button[type=submit]")
    page.wait_for_selector("#breath-list [id^=breath-scored-]")
    assert page.inner_text("#breath-list [id^=breath-scored-]").startswith("评分时间：")
    tablet.check("breath-scored", orientations=("landscape",), accessibility=False)
    page.fill("#lab_hgb", "abc")
    page.click("#labs-button")
    page.wait_for_selector("#lab-error-summary")
    tablet.check("lab-errors", orientations=("landscape",), accessibility=False)
    page.fill("input[name=fvc_percent]", "900")
    page.click("#lung-button")
    page.wait_for_selector("#lung-error")
    tablet.check("lung-error", orientations=("landscape",), accessibility=False)
    page.click("#assess-button")
    page.wait_for_selector("#assessment")
    tablet.check("visit-errors", orientations=("landscape",))
    page.click("#refer-button")
    page.wait_for_selector("#letter-link")
    page.click("#letter-link")
    page.wait_for_selector("#letter-code")
    tablet.check("letter", orientations=("landscape",))
    page.go_back()
    page.wait_for_selector("#withdraw-button")
    # The hospital reports the CT before the withdrawal arrives (brief h100): the visit comes back saying so,
    # with the reason as typed.
    with sqlite3.connect(clinic.data_dir / "ildscreen.db") as store:
        store.execute("UPDATE referrals SET status = 'reported' WHERE status IN ('queued', 'retrying')")
    page.fill("#withdraw-reason", "患者已迁居外地")
    with page.expect_navigation():
        page.click("#withdraw-button")
    page.wait_for_selector("#withdraw-reason-error")
    assert "患者已迁居外地" in page.inner_text("#withdraw-reason-kept")
    tablet.check("withdraw-too-late", orientations=("landscape",))
    page.click("h1 a")
    page.wait_for_selector("#timeline")
    tablet.check("timeline", orientations=("landscape",))
    page.goto(clinic.url + "/visits/999999")
    tablet.check("not-found", orientations=("landscape",))
    page.goto(clinic.url + "/no/such/page")
    tablet.check("no-page", orientations=("landscape",))
    tablet.assert_clean()
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_low_risk_referral_needs_a_reason_and_can_be_withdrawn(browser, clinic, lang):
    """Issue 27: a low-risk patient was sent for CT with one blue tap and could not be withdrawn.
    Now the tablet warns, asks for the clinical reason, prints it on the letter, and a queued
    referral is withdrawn; the symptoms step opens the patient's details; 'Lock now' locks."""
    words = WORDS[lang]
    context, page = new_page(browser, lang)
    tablet = Tablet(page, lang, "low-risk-referral")
    log_in(page, clinic.url, "nurse1", NURSE_PASSWORD)
    register_patient(page, clinic.url, f"CL7-LR{lang[:2].upper()}", birth_year=birth_year_for_age(70), ctd="SLE")
    page.click("#new-visit")
    page.wait_for_selector("#assess-button")
    page.click("#symptoms-link")  # the checklist's symptoms step opens the details form
    page.wait_for_selector("#patient-form")
    tablet.check("edit-details")
    page.click("#save-patient")  # no symptoms ticked: reviewed, none present
    page.wait_for_selector("#checklist")
    assert page.locator(".step-done[data-step=symptoms]").count() == 1
    page.click("#assess-button")
    page.wait_for_selector("#refer-warning")
    assert words["reason_needed"] in page.inner_text("#refer-warning")
    assert "urgent" not in (page.get_attribute("#refer-button", "class") or "")
    tablet.check("refer-reason")
    page.evaluate("() => document.getElementById('refer-reason').removeAttribute('required')")
    with page.expect_navigation():
        page.click("#refer-button")  # no reason: refused, the field says why
    page.wait_for_selector("#refer-reason-error")
    reason = {"en": "New crackles heard by the rheumatologist", "zh-CN": "风湿科医生听到新的爆裂音"}[lang]
    page.fill("#refer-reason", reason)
    page.click("#refer-button")
    page.wait_for_selector("#referral-reason")
    page.click("#letter-link")
    page.wait_for_selector("#letter-reason")
    assert reason in page.inner_text("#letter-reason")
    tablet.check("letter-against-advice", orientations=("portrait",))
    page.click("#letter-back")
    page.wait_for_selector("#withdraw-button")
    # A reason over the limit (the field's maxlength lifted, as a page cached before it had one): the
    # page comes back with the reason as typed and the limit beside it, nothing withdrawn (brief h97).
    page.evaluate("() => document.getElementById('withdraw-reason').removeAttribute('maxlength')")
    too_long = {"en": "Patient moved away. ", "zh-CN": "患者已迁居外地。"}[lang] * 70
    page.fill("#withdraw-reason", too_long)
    with page.expect_navigation():
        page.click("#withdraw-button")
    page.wait_for_selector("#withdraw-reason-error")
    assert "500" in page.inner_text("#withdraw-reason-error")
    assert page.input_value("#withdraw-reason") == too_long and words["withdrawn"] not in page.inner_text("#referral-status")
    tablet.check("withdraw-reason-too-long")
    page.fill("#withdraw-reason", too_long[:120])
    with page.expect_navigation():
        page.click("#withdraw-button")
    page.wait_for_selector("#referral-status")
    assert words["withdrawn"] in page.inner_text("#referral-status")
    tablet.check("withdrawn")
    page.click("#lock-now-button")
    page.wait_for_selector("#login-form")  # no PIN set: locking ends the session
    tablet.assert_clean()
    context.close()
