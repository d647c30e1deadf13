"""The tablet pages through the Flask test client: a nurse's day without the JSON API.

Each test names the clinic-day defect it protects against (issue 16). Browser behaviour
(focus, touch targets, microphone, offline) is covered in tests/e2e.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from zoneinfo import ZoneInfo

import pytest

from edge import audit
from edge.users import create_user
from edge.web import clinic_time, presenters
from edge.web.i18n import translate
from support import PASSWORD, birth_year_for_age, csrf_of, login, post_visit_status, version_shown, wav_bytes

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN_EDITED = birth_year_for_age(75)  # 1951 when written (2026)


def register(client, csrf, code="CL16-0001", **extra) -> int:
    form = {"csrf_token": csrf, "code": code, "birth_year": str(birth_year_for_age(76)), "sex": "F", "ctd_diagnosis": "SSc",
            "smoking": "never", **extra}
    response = client.post("/patients/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def start_visit(client, csrf, patient_id) -> int:
    response = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf})
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_the_patient_search_is_a_post_and_the_code_never_enters_a_url(ui):
    client, csrf = ui
    register(client, csrf, code="CL16-SEARCH")
    posted = client.post("/", data={"csrf_token": csrf, "code": "CL16-SE"})
    # POST-redirect-GET (issue 27): Back after logout never meets "Confirm Form Resubmission".
    assert posted.status_code == 302 and "CL16" not in posted.headers["Location"]
    found = client.get(posted.headers["Location"])
    assert found.status_code == 200 and "CL16-SEARCH" in found.get_data(as_text=True)
    assert 'method="post"' in client.get("/").get_data(as_text=True).split('id="search-form"')[0][-200:]
    assert "CL16-SEARCH" not in client.get("/?code=CL16-SE").get_data(as_text=True)  # GET searches nothing
    refused = client.post("/", data={"code": "CL16-SE"})  # no CSRF token
    assert refused.status_code == 403


def test_a_first_time_nurse_must_choose_a_password_before_anything_else(client, db):
    _, one_time = create_user(db, audit.CLI_OPERATOR, username="newnurse", role="nurse")
    login(client, "newnurse", one_time)
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].startswith("/account/password")
    page = client.get(home.headers["Location"]).get_data(as_text=True)
    csrf = csrf_of(page)
    wrong = client.post("/account/password?next=/", data={"csrf_token": csrf, "current_password": "nope",
                                                          "new_password": "short", "repeat_password": "other"})
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 422  # every error at once, beside its field
    assert all(f'id="error-{name}"' in text for name in ("current_password", "repeat_password"))
    ok = client.post("/account/password?next=/", data={"csrf_token": csrf, "current_password": one_time,
                                                       "new_password": "my own password 1",
                                                       "repeat_password": "my own password 1"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_new_password_under_the_policy_is_refused_in_the_pages_language(ui):
    client, csrf = ui
    client.set_cookie("lang", "zh-CN")
    refused = client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                      "new_password": "short", "repeat_password": "short"})
    assert refused.status_code == 422 and "至少 10 个字符" in refused.get_data(as_text=True)


def test_the_idle_lock_ends_the_session_and_login_returns_to_the_page(ui):
    client, csrf = ui
    locked = client.post("/lock", data={"csrf_token": csrf, "next": "/patients/new"})
    assert locked.status_code == 302 and "locked=1" in locked.headers["Location"]
    assert client.get("/").status_code == 302  # the session is over, not just hidden
    assert "locked-notice" in client.get(locked.headers["Location"]).get_data(as_text=True)


def test_today_is_the_clinics_day_not_the_servers():
    shanghai = ZoneInfo("Asia/Shanghai")
    early = dt.datetime(2026, 3, 2, 23, 35, tzinfo=dt.timezone.utc)  # 07:35 on 3 March in Shanghai
    assert clinic_time.clinic_today(shanghai, now=early) == dt.date(2026, 3, 3)
    start, end = clinic_time.day_bounds_utc(dt.date(2026, 3, 3), shanghai)
    assert start == "2026-03-02T16:00:00.000+00:00" and end == "2026-03-03T16:00:00.000+00:00"
    assert clinic_time.local_datetime(early.isoformat(), shanghai) == "2026-03-03 07:35"


def test_the_worklist_lists_todays_visits_with_status_tier_and_missing_steps(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    page = client.get("/").get_data(as_text=True)
    row = page.split('id="today-list"')[1]
    assert f"/visits/{visit_id}" in row and "in progress" in row and "Lung sounds" in row


def test_an_unknown_clinic_time_zone_is_refused_naming_it(monkeypatch, tmp_path):
    from edge.config import load_settings
    from edge.errors import ConfigError

    monkeypatch.setenv("ILDSCREEN_CLINIC_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_settings(data_dir=tmp_path)


def test_lab_errors_come_all_at_once_and_a_reload_never_reposts(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    form = {"csrf_token": csrf, "lab_hgb": "150", "unit_hgb": "g/dL", "lab_wbc": "seven", "unit_wbc": "10*9/L",
            "lab_creatinine": "80", "unit_creatinine": "umol/L"}
    posted = client.post(f"/visits/{visit_id}/labs", data=form)
    assert posted.status_code == 302  # POST-redirect-GET: a reload repeats the GET only
    location = posted.headers["Location"]
    assert "150" not in location and "seven" not in location  # keys only, never values
    page = client.get(location).get_data(as_text=True)
    assert 'id="lab-error-summary"' in page
    assert 'id="lab-error-hgb"' in page and 'id="lab-error-wbc"' in page  # both, in one submit
    assert 'value="150"' in page and 'value="seven"' in page  # what was typed stays to be corrected
    assert "lab-results" not in page  # nothing stored: the panel is all or nothing
    form.update(lab_hgb="15.0", lab_wbc="7.1")
    saved = client.post(f"/visits/{visit_id}/labs", data=form)
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Haemoglobin" in page and "×10⁹/L" in page and ">hgb<" not in page  # names and readable units
    assert 'value="150"' not in page  # the corrected values replaced the draft


def test_a_visit_with_nothing_measured_shows_no_result_only_the_pretest_risk_and_advice(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="nothing-measured"' in page and 'id="risk-percent"' not in page
    assert 'id="guideline-line"' in page and 'id="next-steps"' in page


def test_a_measured_result_is_a_percentage_with_its_meaning_and_named_drivers(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_crp": "40", "unit_crp": "mg/L",
                                                  "lab_ldh": "400", "unit_ldh": "U/L"})
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    # Issue 27: one headline sentence (risk in words, natural frequency, what to do and by when),
    # the tier colour on the badge only, no competing percentage.
    headline = re.search(r'id="headline-text">([^<]+)<', page).group(1)
    assert re.search(r"(About \d+|Fewer than 1|more than 99) in 100 patients like this have ILD\.? \w", headline)
    assert "&gt;99" not in headline and 'class="result"' in page and 'class="result tier-' not in page
    assert re.search(r'class="tier-badge tier-(low|intermediate|high|urgent)"', page)
    assert "Blood-test model" not in page
    drivers = page.split('id="contributions"')[1].split("</ul>")[0]
    assert "Blood tests" in drivers and ("raised" in drivers or "lowered" in drivers or "barely" in drivers)
    assert "C-reactive protein" in drivers  # the out-of-range analyte is named (CRP 40 mg/L is high)
    not_measured = page.split('id="not-measured"')[1].split("</ol>")[0]
    # Missing modalities first, ranked; the untested blood tests folded into one counted line.
    assert not_measured.index("Lung sounds") < not_measured.index("blood tests not entered")
    assert "Haemoglobin" in not_measured.split("<details")[1]


def test_red_flags_show_an_urgent_banner_and_an_urgent_referral_button(ui):
    client, csrf = ui
    patient_id = register(client, csrf, symptoms="rapidly_worsening_dyspnoea")
    visit_id = start_visit(client, csrf, patient_id)
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert page.index('id="urgent-banner"') < page.index('id="assess-button"')  # above the result, in view
    assert 'class="urgent"' in page and "Urgent referral for HRCT" in page


def test_the_re_screening_interval_shown_is_the_assessments_own(ui):
    """The interval is a programme setting: the page and the letter words carry it, never a fixed 12."""
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf, birth_year=str(birth_year_for_age(36)), ctd_diagnosis="SLE"))
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "Screen again in 12 months" in page and "<li>Re-screen in 12 months</li>" in page
    assert "{months}" not in page


def test_lung_function_is_entered_on_the_tablet_and_feeds_the_red_flags(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    bad = client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "abc"})
    assert "lung_error" in bad.headers["Location"]
    client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "72",
                                                           "dlco_percent": "65"})
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "FVC below 80% predicted" in page and "DLCO below 80% predicted" in page
    # A red flag always gets a banner above the result, not only a line in the list (issue 27).
    assert page.index('id="flag-banner"') < page.index('id="assess-button"')


def test_a_visit_can_be_finished_and_then_takes_nothing_more(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    client.post(f"/visits/{visit_id}/steps/breath", data={"csrf_token": csrf, "skipped": "1"})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'class="step step-skipped" data-step="breath"' in page
    post_visit_status(client, csrf, visit_id, "finish")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="visit-closed"' in page and 'id="labs-form"' not in page
    refused = client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_crp": "4", "unit_crp": "mg/L"})
    assert refused.status_code == 409 and "closed" in refused.get_data(as_text=True)


def test_a_microphone_take_is_labelled_as_one_and_can_be_discarded(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    sent = client.post(f"/visits/{visit_id}/recordings", headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
                       data={"chest_site": "posterior_left_base", "source": "microphone",
                             "file": (io.BytesIO(wav_bytes(8.0)), "microphone.wav")})
    assert sent.status_code == 201
    take = sent.json["id"]
    page = client.get(f"/visits/{visit_id}?take={take}").get_data(as_text=True)
    assert "tablet microphone" in page and f"/recordings/{take}/audio" in page
    assert client.get(f"/recordings/{take}/audio").status_code == 200
    client.post(f"/recordings/{take}/discard", data={"csrf_token": csrf})
    assert f'id="take-{take}"' not in client.get(f"/visits/{visit_id}").get_data(as_text=True)


def test_a_discarded_take_keeps_its_id_and_nothing_kept_from_it_reaches_the_next_take(ui, db):
    """SQLite handed a discarded last take's id to the next take of the site: the trail read
    "discard recording 7" then "create recording 7", and a link, page or stale re-record button
    kept from take A played, highlighted or discarded take B (schema migration 11)."""
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))

    def take(sound: bytes) -> int:
        sent = client.post(f"/visits/{visit_id}/recordings", headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
                           data={"chest_site": "posterior_left_base", "source": "microphone",
                                 "file": (io.BytesIO(sound), "microphone.wav")})
        assert sent.status_code == 201, sent.get_data(as_text=True)
        return sent.json["id"]

    first = take(wav_bytes(8.0))
    assert client.post(f"/recordings/{first}/discard", data={"csrf_token": csrf}).status_code == 302
    second_sound = wav_bytes(9.0)
    second = take(second_sound)
    assert second != first
    assert client.get(f"/recordings/{first}/audio").status_code == 404
    assert client.get(f"/api/v1/recordings/{first}/audio").status_code == 404
    assert client.get(f"/recordings/{second}/audio").data == second_sound
    page = client.get(f"/visits/{visit_id}?take={first}").get_data(as_text=True)
    assert 'id="re-record-button"' not in page and f'id="re-record-{second}"' in page  # B is not "the take just made"
    stale = client.post(f"/recordings/{first}/discard", data={"csrf_token": csrf})  # a stale page's button
    assert stale.status_code == 302 and "discarded=already" in stale.headers["Location"]  # says so, removes nothing
    assert client.get(f"/recordings/{second}/audio").status_code == 200
    trail = db.execute("SELECT action, entity_id FROM audit_log WHERE entity = 'recording' "
                       "AND action IN ('create', 'discard') ORDER BY id").fetchall()
    assert trail == [("create", str(first)), ("discard", str(first)), ("create", str(second))]


def test_drafts_are_saved_through_the_page_and_refused_when_malformed(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    headers = {"X-CSRF-Token": csrf}
    assert client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": "stairs"}}, headers=headers).json == {
        "saved": True}
    assert "stairs" in client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert client.post(f"/visits/{visit_id}/draft", json=["notes"], headers=headers).status_code == 422
    assert client.post(f"/visits/{visit_id}/draft", json={"draft": {}}).status_code == 403  # no CSRF token


def test_ct_metrics_show_in_words_and_units_and_unknown_keys_are_kept():
    shown = presenters.ct_metrics({"haa_percent": 12.5, "lung_volume_ml": 4100.0, "new_metric": 3, "zones": {}})
    by_key = {item["key"]: item for item in shown}
    assert by_key["haa_percent"]["label"] == "ct_haa_percent" and by_key["haa_percent"]["unit"] == "%"
    assert by_key["new_metric"]["label"] is None and "zones" not in by_key


@pytest.mark.parametrize("ratio, direction", [(1.5, "raised"), (1.1, "raised"), (1.05, "unchanged"),
                                              (1 / 1.1, "lowered"), (0.5, "lowered")])
def test_a_driver_is_raised_lowered_or_unchanged_at_the_programme_bounds(ratio, direction):
    assessment = {"contributions": {"breath": {"likelihood_ratio": ratio}}}
    assert presenters._drivers(assessment, [], [])[0]["direction"] == direction


def test_a_certain_looking_interval_is_not_shown():
    base = {"probability": 0.999, "interval": [0.999, 0.999], "pretest_probability": 0.2, "tier": "high",
            "contributions": {"breath": {"likelihood_ratio": 50.0}}}
    view = presenters.result_view(base, recordings=[], lab_rows_=[], threshold=None, cannot_clear=())
    assert view["interval"] is None and view["percent_text"] == ">99%"


@pytest.mark.parametrize(("stored", "words"), [
    ({"code": "low_fvc", "tier": "high", "reason": "FVC 72% predicted (< 70%)", "cutoff": 70},
     "FVC below 70% predicted"),
    # Stored before the cut-off became a setting: no cut-off in the flag, made at the then fixed 80%.
    ({"code": "low_fvc", "tier": "high", "reason": "FVC 72% predicted (< 80%)"}, "FVC below 80% predicted")])
def test_a_pft_red_flag_names_the_cut_off_it_was_raised_at(stored, words):
    base = {"probability": 0.4, "interval": [0.3, 0.5], "pretest_probability": 0.2, "tier": "high",
            "contributions": {}, "red_flags": [stored]}
    flag = presenters.result_view(base, recordings=[], lab_rows_=[], threshold=None, cannot_clear=())["red_flags"][0]
    assert translate("flag_" + flag["code"], "en", cutoff=flag["cutoff"]) == words


def test_reference_flags_follow_the_catalogue_range():
    rows = presenters.lab_rows([{"analyte": "hgb", "loinc": "718-7", "value": 9.0, "unit": "g/dL", "si_value": 90.0,
                                 "si_unit": "g/L"}])
    assert rows[0]["flag"] == "low" and rows[0]["unit_text"] == "g/dL"


def test_the_error_page_is_html_in_the_nurses_language(ui):
    client, _ = ui
    client.set_cookie("lang", "zh-CN")
    missing = client.get("/visits/999999")
    assert missing.status_code == 404 and missing.content_type.startswith("text/html")
    assert "该页面或记录不存在" in missing.get_data(as_text=True)
    api = client.get("/api/v1/visits/999999")
    assert api.status_code == 404 and api.is_json  # the API keeps answering JSON
    assert json.loads(api.get_data(as_text=True))["error"]


def test_an_unknown_step_or_action_is_refused_naming_it(ui):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    assert client.post(f"/visits/{visit_id}/steps/xray", data={"csrf_token": csrf, "skipped": "1"}).status_code == 422
    assert client.post(f"/visits/{visit_id}/status", data={"csrf_token": csrf, "action": "delete"}).status_code == 422
    assert 'id="visit-closed"' not in client.get(f"/visits/{visit_id}").get_data(as_text=True)  # still open


@pytest.mark.parametrize("form", [{"fvc_percent": "9.9"}, {"fvc_percent": "200.1"},
                                  {"dlco_percent": "60", "dlco_not_performed": "1"}])
def test_lung_function_out_of_range_or_contradictory_is_refused_and_nothing_stored(ui, form, db):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    refused = client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, **form})
    assert "lung_error" in refused.headers["Location"]
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    stored = json.loads(db.execute("SELECT lung_function FROM visits WHERE id = ?", [visit_id]).fetchone()[0] or "{}")
    assert stored.get("fvc_percent") is None and stored.get("dlco_percent") is None
    # What was typed comes back beside the error (brief h33): refused is not lost.
    typed = form.get("fvc_percent", "")
    assert 'id="lung-error"' in page and f'name="fvc_percent" inputmode="decimal" value="{typed}"' in page


@pytest.mark.parametrize("fvc", ["10", "200"])
def test_lung_function_at_the_plausible_bounds_is_kept(ui, fvc):
    client, csrf = ui
    visit_id = start_visit(client, csrf, register(client, csrf))
    kept = client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": fvc})
    assert "lung_error" not in kept.headers["Location"]
    assert f'value="{float(fvc)}"' in client.get(f"/visits/{visit_id}").get_data(as_text=True)


def test_two_visits_on_one_day_are_distinct_numbered_points_oldest_first():
    visits = [  # newest first, as the timeline lists them
        {"id": 2, "started_at": "2026-03-03T06:10:00+00:00", "assessment": {"probability": 0.40}},
        {"id": 1, "started_at": "2026-03-03T01:05:00+00:00", "assessment": {"probability": 0.10}},
        {"id": 0, "started_at": "2026-03-02T01:05:00+00:00", "assessment": None},
    ]
    points = presenters.trend_points(visits)
    assert [p["visit"]["id"] for p in points] == [1, 2] and [p["number"] for p in points] == [1, 2]
    assert points[0]["x"] < points[1]["x"] and points[0]["y"] > points[1]["y"]  # higher risk is higher up
    shanghai = ZoneInfo("Asia/Shanghai")
    assert clinic_time.local_datetime(visits[0]["started_at"], shanghai) != clinic_time.local_datetime(
        visits[1]["started_at"], shanghai)


def test_lock_now_locks_the_tablet_at_a_tap(ui):
    """Issue 27: a "Lock now" control beside Log out; without a PIN it ends the session."""
    client, csrf = ui
    page = client.get("/").get_data(as_text=True)
    form = page.split('id="lock-form"', 1)[1].split("</form>", 1)[0]
    assert 'id="lock-now-button"' in form and " hidden" not in page.split('id="lock-form"', 1)[0][-80:]
    locked = client.post("/lock", data={"csrf_token": csrf, "next": "/"})
    assert locked.status_code == 302 and "/login" in locked.headers["Location"]
    assert client.get("/").status_code == 302  # the session ended


def test_patient_details_and_symptoms_are_edited_at_the_visit_and_audited(ui, db):
    """Issue 27: the checklist's Symptoms step linked nowhere and details could not be edited, so a
    patient without symptoms stayed 'to do' forever."""
    client, csrf = ui
    patient_id = register(client, csrf, code="CL27-EDIT")
    visit_id = start_visit(client, csrf, patient_id)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'class="step step-pending" data-step="symptoms"' in page
    link = re.search(r'href="(/patients/\d+/edit\?visit=\d+)" id="symptoms-link"', page)
    assert link and link.group(1) == f"/patients/{patient_id}/edit?visit={visit_id}"
    form = client.get(link.group(1)).get_data(as_text=True)
    assert 'id="edit-code"' in form and 'name="code"' not in form  # the code itself is not edited here
    saved = client.post(f"/patients/{patient_id}/edit", data={
        "csrf_token": csrf, "visit": str(visit_id), "birth_year": str(BORN_EDITED), "sex": "F", "ctd_diagnosis": "SSc",
        "smoking": "former", "autoantibodies": ["anti-Scl-70"], "version": version_shown(form)})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/visits/{visit_id}#checklist")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'class="step step-done" data-step="symptoms"' in page  # reviewed, none present
    patient = client.get(f"/api/v1/patients/{patient_id}").json
    assert patient["birth_year"] == BORN_EDITED and patient["smoking"] == "former" and patient["autoantibodies"] == ["anti-Scl-70"]
    actions = db.execute("SELECT action, entity FROM audit_log WHERE entity IN ('patient', 'visit') ORDER BY id").fetchall()
    assert ("update", "patient") in actions and ("review_symptoms", "visit") in actions
    form = client.get(f"/patients/{patient_id}/edit").get_data(as_text=True)
    bad = client.post(f"/patients/{patient_id}/edit", data={"csrf_token": csrf, "birth_year": "1800", "sex": "F",
                                                            "ctd_diagnosis": "SSc", "version": version_shown(form)})
    assert bad.status_code == 422 and 'id="error-birth_year"' in bad.get_data(as_text=True)
