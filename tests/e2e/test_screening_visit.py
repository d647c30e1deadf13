"""The whole screening visit in a real browser against a real server, in both languages:
login, register (with a validation error first), record from the microphone, upload a file,
a reload mid-visit, result, referral, letter, timeline. Screenshots of every step at tablet
size are saved under test-artifacts/e2e/. The pages must ask nothing of any other host."""
from __future__ import annotations

import json

import pytest

from e2e_support import ARTIFACTS, NURSE_PASSWORD
from support import birth_year_for_age, wav_bytes

TEXT = {
    "en": {"required": "Required.", "code_error": "3–32 letters", "record": "Record 20 s", "stop": "Stop",
           "assess": "Calculate risk", "refer": "Refer for HRCT",
           "lab_error": "Not possible in this unit: check the value and the unit."},
    "zh-CN": {"required": "必填。", "code_error": "3–32 位字母", "record": "录音 20 秒", "stop": "停止",
              "assess": "计算风险", "refer": "转诊做高分辨率 CT",
              "lab_error": "该单位下数值不可能：请核对数值和单位。"},
}
PORTRAIT = {"width": 800, "height": 1280}
LANDSCAPE = {"width": 1280, "height": 800}


class Shots:
    def __init__(self, page, lang):
        self.page, self.folder, self.count = page, ARTIFACTS / lang, 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str, *, landscape: bool = False) -> None:
        self.count += 1
        if landscape:
            self.page.set_viewport_size(LANDSCAPE)
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}{'-landscape' if landscape else ''}.png"),
                             full_page=True)
        if landscape:
            self.page.set_viewport_size(PORTRAIT)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_nurse_screens_a_patient_from_login_to_timeline(browser, server, lang, tmp_path):
    text = TEXT[lang]
    context = browser.new_context(viewport=PORTRAIT, locale=lang, device_scale_factor=1)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    shots = Shots(page, lang)

    page.goto(server.url + "/")
    assert page.locator("html").get_attribute("lang") == lang  # default from the browser's language
    shots.take("login")
    page.fill("input[name=username]", "nurse1")
    page.fill("input[name=password]", NURSE_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(server.url + "/")
    shots.take("today")

    page.click("#register-link")
    page.fill("input[name=code]", "王 小明")  # a name, not a code
    page.click("#patient-form button[type=submit]")
    assert text["code_error"] in page.inner_text("#error-code")  # beside the field, in the user's language
    assert page.inner_text("#error-sex") == text["required"]
    shots.take("register-errors")
    page.fill("input[name=code]", f"CL7-{lang[:2].upper()}01")
    page.fill("input[name=birth_year]", str(birth_year_for_age(76)))
    page.check("input[name=sex][value=F]")
    page.select_option("select[name=ctd_diagnosis]", "SSc")
    page.check("input[name=autoantibodies][value=anti-Scl-70]")
    page.check("input[name=symptoms][value=exertional_dyspnoea]")
    shots.take("register-filled")
    page.click("#patient-form button[type=submit]")
    page.wait_for_selector("#new-visit")
    page.click("#new-visit")
    page.wait_for_selector("#auscultation")
    shots.take("visit-start", landscape=True)

    page.click(".chest .site[data-site=posterior_right_base]")
    assert page.input_value("#chest-site") == "posterior_right_base"
    page.click("#record-button")
    page.wait_for_function("() => document.body.dataset.recording === 'yes'")
    page.wait_for_timeout(2500)
    shots.take("recording")
    page.click("#record-button")  # stop: the WAV is uploaded and the page reloads with it
    page.wait_for_selector(".recording[data-recording-id]")
    page.wait_for_selector(".recording[data-drawn=yes]", timeout=15000)
    assert_the_crackle_map_shades_the_windows_the_server_marks(page)
    shots.take("recorded")

    upload = tmp_path / "left-base.wav"
    upload.write_bytes(wav_bytes(seconds=4, rate=4000))
    page.select_option("#chest-site", "posterior_left_base")
    page.set_input_files("#file-input", str(upload))
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelectorAll('.recording[data-recording-id]').length === 2")
    shots.take("uploaded")

    page.fill("#lab_hgb", "150")  # haemoglobin typed in g/L while the unit says g/dL
    page.select_option("select[name=unit_hgb]", "g/dL")
    page.fill("#lab_wbc", "7.1")
    page.select_option("select[name=unit_wbc]", "10*3/uL")
    page.fill("#lab_creatinine", "0.9")
    page.select_option("select[name=unit_creatinine]", "mg/dL")
    page.click("#labs-button")
    assert page.inner_text("#lab-error-hgb") == text["lab_error"]  # beside the field, in the user's language
    shots.take("labs-error")
    page.fill("#lab_hgb", "15.0")
    page.click("#labs-button")
    page.wait_for_selector("#lab-results")
    assert "g/dL" in page.inner_text("#lab-results") and "g/L" in page.inner_text("#lab-results")
    shots.take("labs-saved")

    page.fill("textarea[data-draft=notes]", "patient breathless on stairs")
    page.wait_for_function("() => document.body.dataset.draftSaved === 'yes'")
    page.reload()
    assert page.input_value("textarea[data-draft=notes]") == "patient breathless on stairs"  # nothing lost

    page.click("#assess-button")
    page.wait_for_selector("#assessment")
    assert page.locator("#synthetic-banner").is_visible()  # the labs model is synthetic-only
    assert page.locator("#tier-badge").is_visible() and page.locator("#headline-text").is_visible()
    assert page.locator("#next-steps li").count() >= 1
    shots.take("result")
    shots.take("result", landscape=True)

    page.click("#refer-button")
    page.wait_for_selector("#referral-status")
    shots.take("referral")
    page.click("#letter-link")
    page.wait_for_selector("#letter-code")
    assert page.inner_text("#letter-code").startswith("ILD-")
    assert page.locator(".qr svg").count() == 1
    shots.take("letter")

    page.go_back()
    page.click("h1 a")
    page.wait_for_selector("#timeline")
    assert "ILD-" in page.inner_text("#timeline")
    shots.take("timeline")

    foreign = [url for url in requested if not url.startswith((server.url, "data:", "blob:"))]
    assert foreign == []
    context.close()


def assert_the_crackle_map_shades_the_windows_the_server_marks(page) -> None:
    """The page shades exactly the windows the server marks ``crackles`` (at the take's own threshold,
    on the calibrated scale: edge.auscultation.windows_with_crackles), never by a number of its own.
    The take is drawn again with marked windows that a fixed raw 0.5 would read the other way, and
    the top row of the waveform (which the trace never reaches) is read where each window lies."""
    item = page.locator(".recording[data-drawn=yes]").first
    assert item.get_attribute("data-shaded-windows") == str(
        sum(window.get("crackles") is True for window in json.loads(item.get_attribute("data-windows"))))
    shaded = page.evaluate("""async () => {
      const item = document.querySelector(".recording[data-drawn=yes]");
      item.dataset.windows = JSON.stringify([
        {start_s: 0.0, end_s: 0.5, crackle_probability: 0.30, crackles: true},
        {start_s: 0.5, end_s: 1.0, crackle_probability: 0.40, crackles: true},
        {start_s: 1.0, end_s: 1.5, crackle_probability: 0.90, crackles: false}]);
      const wave = item.querySelector("canvas.waveform");
      wave.getContext("2d").clearRect(0, 0, wave.width, wave.height);
      await drawRecording(item);
      const response = await fetch(`/recordings/${item.dataset.recordingId}/audio`, {credentials: "same-origin"});
      const audio = await new OfflineAudioContext(1, 1, 8000).decodeAudioData(await response.arrayBuffer());
      const top = wave.getContext("2d").getImageData(0, 0, wave.width, 1).data;
      const alphaAt = (seconds) => top[4 * Math.floor(wave.width * seconds / audio.duration) + 3];
      return {count: item.dataset.shadedWindows, alpha: [0.25, 0.75, 1.25].map(alphaAt)};
    }""")
    assert shaded["count"] == "2"
    assert shaded["alpha"][0] > 0 and shaded["alpha"][1] > 0 and shaded["alpha"][2] == 0, shaded


@pytest.mark.slow
def test_the_language_switch_changes_every_label(browser, server):
    context = browser.new_context(viewport=PORTRAIT, locale="en")
    page = context.new_page()
    page.goto(server.url + "/login")
    assert page.inner_text("h1") == "Log in"
    page.click("#language-switch")
    assert page.inner_text("h1") == "登录"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    context.close()
