"""Chinese pages have no English space between Chinese words (brief h128). A template that puts a looked-up
phrase beside another (``{{ t('a') }} {{ b }}``, or an element, a newline, another element) or a label before its
value (``{{ t('a') }}: {{ b }}``) left spaces inside Chinese text; each join now says what it joins
(``edge.web.i18n.separators``: a sentence after a sentence, two pieces of a line, a label and its value), lists
take ``join_list`` and bracketed words ``bracketed``. Every page a nurse, a clinician or an admin opens, rendered in
zh-CN through the real app for visits with takes (crackles, clear, through the bell, refused, one a clinician
listened to), a breath reading, labs, lung function, an HRCT and referrals (following and against the advice), open
and closed, has none in its visible text; the English pages read as before (compared when this was written).
"""
from __future__ import annotations

import re

import pytest

from chinese_text import spaces_in_chinese as chinese_spaces
from support import PATIENT, csrf_of, login, post_visit_status
from test_breath_api import breath_csv, upload as upload_breath
from test_chest_piece import stored_take
from test_ui_lung_sound_result import LOW_RISK, REFUSALS, stored_take as stored_refused_take

#: The clinician's own words, shown as she typed them (the referral reason this test types, with a space).
TYPED = (re.compile(r"家属要求␣进一步检查"),)


def spaces_in_chinese(page: str) -> list[str]:
    """:func:`chinese_text.spaces_in_chinese`, the words this test types allowed."""
    return chinese_spaces(page, also_allowed=TYPED)


@pytest.fixture
def clinic(client, make_user):
    """A clinic with a patient's earlier (finished, referred) visit and today's open one, each with everything the
    pages show, and a low-risk patient referred against the advice: each page's path by name."""
    make_user("nurse1", "nurse")
    make_user("clin1", "clinician")
    make_user("admin2", "admin")
    clinician = login(client, "clin1")
    db = client.application.extensions["ildscreen"].folder.connect()
    patient_id = client.post("/api/v1/patients", headers=clinician,
                             json={**PATIENT, "symptoms": ["dry_cough", "exertional_dyspnoea"]}).json["id"]

    def visit_with_everything() -> int:
        visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=clinician).json["id"]
        stored_take(db, visit_id, "posterior_left_base", 0.9, "diaphragm")
        stored_take(db, visit_id, "posterior_right_base", 0.02, "bell")
        stored_refused_take(db, visit_id, "lateral_left_base", 0.03, issues=REFUSALS[:1])
        assert upload_breath(client, clinician, visit_id, breath_csv()).status_code == 201
        assert client.post(f"/api/v1/visits/{visit_id}/labs", headers=clinician, json={"results": [
            {"analyte": "hgb", "value": 12.5, "unit": "g/dL"},
            {"analyte": "lymphocytes", "value": 0.8, "unit": "10*9/L"}]}).status_code == 201
        csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
        client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "72",
                                                                "dlco_percent": "55"})
        assert client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf}).status_code == 302
        return visit_id

    earlier = visit_with_everything()
    referral = client.post(f"/api/v1/visits/{earlier}/referrals", json={"reason": "HRCT please"}, headers=clinician)
    assert referral.status_code == 201, referral.json
    client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                json={"date": "2026-01-05", "source": "hrct", "ild": "present"})
    csrf = csrf_of(client.get(f"/visits/{earlier}").get_data(as_text=True))
    post_visit_status(client, csrf, earlier, "finish")
    today = visit_with_everything()

    # A low-risk patient, lungs only, a take the clinician listened to: referred against the advice, for her reason.
    low_risk = client.post("/api/v1/patients", headers=clinician, json=LOW_RISK).json["id"]
    against = client.post(f"/api/v1/patients/{low_risk}/visits", json={}, headers=clinician).json["id"]
    labelled = stored_take(db, against, "posterior_left_base", 0.02, "diaphragm")
    stored_take(db, against, "posterior_right_base", 0.02, "diaphragm")
    assert client.put(f"/api/v1/recordings/{labelled}/crackles-heard", json={"crackles_heard": "no"},
                      headers=clinician).status_code == 200
    csrf = csrf_of(client.get(f"/visits/{against}").get_data(as_text=True))
    assert client.post(f"/visits/{against}/assess", data={"csrf_token": csrf}).status_code == 302
    referred_against = client.post(f"/api/v1/visits/{against}/referrals", headers=clinician,
                                   json={"reason": "家属要求 进一步检查"})
    assert referred_against.status_code == 201, referred_against.json
    post_visit_status(client, csrf, against, "finish")
    db.close()
    return {"home": "/", "new patient": "/patients/new", "patient": f"/patients/{patient_id}",
            "patient edit": f"/patients/{patient_id}/edit", "open visit": f"/visits/{today}",
            "closed visit": f"/visits/{earlier}", "letter": f"/referrals/{referral.json['id']}/letter",
            "low-risk patient": f"/patients/{low_risk}", "visit referred against the advice": f"/visits/{against}",
            "letter against the advice": f"/referrals/{referred_against.json['id']}/letter",
            "password": "/account/password", "dashboard": "/dashboard", "unknown visit": "/visits/999999"}


def test_no_chinese_page_spaces_two_chinese_words_apart(client, clinic):
    """Each page as each role sees it (the nurse's and the clinician's all open; the admin's dashboard), and the
    login page; every spot is listed, with the pages it is on."""
    found = {}
    for user in ("nurse1", "clin1", "admin2"):
        login(client, user)
        client.set_cookie("lang", "zh-CN")
        for name, path in clinic.items():
            page = client.get(path)
            if user != "admin2":  # the admin's pages are the dashboard and her password; the rest are refused
                refused = {"unknown visit": 404, "dashboard": 403 if user == "nurse1" else 200}
                assert page.status_code == refused.get(name, 200), (user, name)
            for spot in spaces_in_chinese(page.get_data(as_text=True)):
                found.setdefault(spot, []).append(f"{user} {name} ({page.status_code})")
    logged_out = client.application.test_client()
    logged_out.set_cookie("lang", "zh-CN")
    for spot in spaces_in_chinese(logged_out.get("/login?locked=1&pin_ended=1").get_data(as_text=True)):
        found.setdefault(spot, []).append("login")
    assert not found, "\n".join(f"{spot}   <- {', '.join(where)}" for spot, where in found.items())


def test_the_check_finds_a_space_between_chinese_words_across_inline_elements_not_between_blocks():
    """What the page check reads as one line: inline elements run on (a space between them is seen), blocks do not,
    scripts are not text; a number or a Latin word beside Chinese keeps its space."""
    assert spaces_in_chinese("<p><a>肺部听诊</a>\n  <span>已完成</span></p>") == ["肺部听诊␣已完成"]
    assert spaces_in_chinese("<p>听诊头: 膜型面</p><p>干咳, 气短</p>") == ["听诊头:␣膜型面", "干咳,␣气短"]
    assert spaces_in_chinese("<p>风险值仅供演示。 (呼气)</p>") == ["风险值仅供演示。␣(呼气)"]
    assert spaces_in_chinese("<li>肺部听诊</li>\n<li>已完成</li><script>'肺部 听诊'</script>") == []
    assert spaces_in_chinese("<p>每 100 名，经 KAUH 验证 · 高</p><p>原因：筛查（指南） · 理由</p>") == []
