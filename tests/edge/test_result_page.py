"""The result section and the referral letter show the guideline line, the advice, the
validation note and both uncertainties, in the page's language, from the assessment JSON."""
import datetime as dt

import pytest

from support import PATIENT, patch_user
from edge.web.i18n import CATALOG


@pytest.fixture
def assessed(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    return visit, assessment


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_shows_guideline_line_advice_validation_and_uncertainty(client, assessed, lang):
    visit, assessment = assessed
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert CATALOG["guideline_ssc"][lang] in page
    for step in CATALOG["advice_steps_hrct_pfts"][lang].split("|"):
        assert step in page
    assert CATALOG["validation_note"][lang] in page
    low, high = (f"{value * 100:.0f}" for value in assessment["interval"])
    missing = assessment["if_missing_measured"]
    # Plain words (issue 27): no "90% interval", no "clinical prior".
    assert CATALOG["plain_interval"][lang].format(low=low, high=high) in page
    assert CATALOG["plain_interval_missing"][lang].format(
        missing_low=f"{missing['low'] * 100:.0f}", missing_high=f"{missing['high'] * 100:.0f}") in page
    interval = page.split('id="risk-interval">', 1)[1].split("</p>", 1)[0]
    assert "prior" not in interval and "90% interval" not in interval


def test_the_letter_names_the_guideline_line_validation_and_model_versions(client, nurse, assessed):
    visit, _ = assessed
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    client.set_cookie("lang", "en")
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    assert CATALOG["guideline_ssc"]["en"] in letter and CATALOG["validation_note"]["en"] in letter
    labs = assessment["validation"]["models"]["labs"]
    assert labs["version"] in letter and labs["statement"] in letter


def test_the_page_shows_the_likelihood_ratio_the_risk_applied(client, nurse, assessed):
    visit, _ = assessed
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    applied = assessment["contributions"]["labs"]["applied_likelihood_ratio"]  # after cap and dependence weight
    name = CATALOG["modality_labs"]["en"]
    if applied >= 1.1:
        assert CATALOG["driver_raised"]["en"].format(name=name, factor=f"{applied:.1f}") in page
    elif applied <= 1 / 1.1:
        assert CATALOG["driver_lowered"]["en"].format(name=name, factor=f"{1 / applied:.1f}") in page
    else:
        assert CATALOG["driver_unchanged"]["en"].format(name=name) in page


@pytest.mark.parametrize("percent, key, values", [(0.4, "freq_under_1", {}), (42.4, "freq_about", {"count": "42"}),
                                                  (99.6, "freq_over_99", {})])
def test_the_risk_reads_as_a_natural_frequency_never_about_more_than_99(percent, key, values):
    from edge.web.presenters import natural_frequency

    assert natural_frequency(percent) == (key, values)


@pytest.mark.parametrize("recommendation, key", [
    ({"advice": "hrct_pfts", "priority": "urgent"}, "action_hrct_pfts_urgent"),
    ({"advice": "hrct_pfts", "priority": "within_3_months"}, "action_hrct_pfts_within_3_months"),
    ({"advice": "hrct_pfts", "priority": "routine"}, "action_hrct_pfts_routine"),
    ({"advice": "discuss", "priority": "routine"}, "action_discuss"),
    ({"advice": "rescreen", "priority": "routine"}, "action_rescreen"),
    ({"advice": "something_new", "priority": "routine"}, None)])
def test_every_advice_has_a_what_to_do_by_when_sentence_in_both_languages(recommendation, key):
    from edge.web.presenters import action_key

    assert action_key(recommendation) == key
    if key:
        assert set(CATALOG[key]) == {"en", "zh-CN"}


def test_monitoring_has_its_sentence_only_with_the_plan_it_names():
    from edge.web.presenters import action_key, action_values

    plan = {"pft_every_months": [3, 6]}
    assert action_key({"advice": "monitoring", "priority": "routine"}, plan) == "action_monitoring"
    assert action_values({"advice": "monitoring", "rescreen_months": None}, plan) == {"months": None, "every": "3–6",
                                                                                      "date": None}
    assert action_key({"advice": "monitoring", "priority": "routine"}) is None  # no plan: the stored text is shown
    key = "action_monitoring"
    if key:
        assert set(CATALOG[key]) == {"en", "zh-CN"}


def test_an_ended_monitoring_has_its_sentence_with_the_date_and_no_interval():
    from edge.fusion.monitoring import ended_plan, ended_recommendation
    from edge.web.presenters import action_key, action_values, pft_every

    plan = ended_plan({"date": "2026-02-20", "reason": "died", "note": ""})
    recommendation = ended_recommendation(plan, priority="routine")
    assert pft_every(plan) is None
    assert action_key(recommendation, plan) == "action_monitoring_ended"
    assert action_values(recommendation, plan)["date"] == "2026-02-20"
    assert "2026-02-20" in CATALOG["action_monitoring_ended"]["zh-CN"].format(**action_values(recommendation, plan))


def test_missing_tests_are_ranked_by_how_much_they_could_move_the_risk():
    from edge.web.presenters import missing_ranked

    ranked = missing_ranked(["labs", "breath", "auscultation"],
                            {"labs": (0.0, 0.0), "breath": None, "auscultation": (-1.8, 1.1)})
    # Known movers first, then unknown ones (could still matter), then ones that cannot move it.
    assert [item["modality"] for item in ranked] == ["auscultation", "breath", "labs"]
    assert [item["could_change"] for item in ranked] == [True, None, False]


def test_a_test_not_done_that_cannot_change_the_advice_is_never_said_to_be_measured(client, assessed):
    """h130: with nothing recorded, "Not done yet" listed lung sounds and breath as "measured but not yet
    counted": a nurse could read the lung sounds as done and skip them."""
    visit, assessment = assessed
    assert {"auscultation", "breath"} <= set(assessment["missing"])
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    ranked = page.split('id="not-measured"', 1)[1].split("</ol>", 1)[0]
    cannot = [item for item in ranked.split("<li")[1:] if CATALOG["missing_cannot_change"]["en"] in item]
    assert cannot, ranked  # the unvalidated models' modalities are listed as unable to change the advice
    for item in cannot:
        assert "measured but" not in item and "not yet counted even when measured" in item


def test_the_letter_names_who_referred_with_full_name_and_role_and_is_translated(client, nurse, db, assessed):
    """Issue 27: "Referred by" showed the login name of whoever printed; the zh letter kept the
    safety statements in English. Citations may stay in their language, labelled."""
    visit, _ = assessed
    db.execute("UPDATE users SET full_name = 'Li Mei' WHERE role = 'nurse'")
    db.conn.commit()
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    client.set_cookie("lang", "en")
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    assert 'id="letter-referrer">Li Mei, nurse<' in letter
    client.set_cookie("lang", "zh-CN")
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    assert 'id="letter-referrer">Li Mei, 护士<' in letter
    assert "not for clinical use" not in letter.split('id="letter-models"', 1)[1].split("</ul>", 1)[0]
    source = letter.split('id="letter-source">', 1)[1].split("</p>", 1)[0]
    assert CATALOG["source_original_language"]["zh-CN"] in source and 'lang="en"' in source


def test_users_carry_a_full_name_for_letters(client, admin):
    created = client.post("/api/v1/users", json={"username": "wang.fang", "role": "clinician",
                                                 "full_name": "  Wang   Fang "}, headers=admin)
    assert created.status_code == 201 and created.json["full_name"] == "Wang Fang"
    changed = patch_user(client, created.json['id'], {"full_name": "Dr Wang Fang"}, admin)
    assert changed.status_code == 200 and changed.json["full_name"] == "Dr Wang Fang"
    too_long = patch_user(client, created.json['id'], {"full_name": "x" * 101}, admin)
    assert too_long.status_code == 422


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_synthetic_lab_model_is_shown_as_measured_not_yet_counted_with_its_reason(client, nurse, assessed, lang):
    visit, _ = assessed
    panel = [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]
    assert client.post(f"/api/v1/visits/{visit['id']}/labs", json={"results": panel}, headers=nurse).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    assert assessment["contributions"]["labs"]["reason_code"] == "synthetic"
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    line = CATALOG["not_counted_line"][lang].format(modality=CATALOG["modality_labs"][lang],
                                                    reason=CATALOG["not_counted_synthetic"][lang])
    assert line.replace("'", "&#39;") in page or line in page


# SSc-ILD: PFTs every 3-6 months in the first year after the confirming HRCT, every 6 after it. The
# visit is today, so the HRCT is dated from today: 60 days before is in the first year, 500 after it.
@pytest.mark.parametrize(("days_before", "first_year", "every"), [(60, True, "3–6"), (500, False, "6")])
def test_confirmed_ild_shows_when_the_next_pfts_are_due_on_the_result_timeline_and_worklist(
        client, nurse, db, days_before, first_year, every):
    from support import login
    from edge import audit
    from edge.users import create_user

    create_user(db, audit.CLI_OPERATOR, username="doctor3", role="clinician", password="correct horse battery")
    clinician = login(client, "doctor3")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=clinician).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=clinician).json
    assert client.post(f"/api/v1/patients/{patient['id']}/outcomes", headers=clinician,
                       json={"date": (dt.date.today() - dt.timedelta(days=days_before)).isoformat(),
                             "source": "hrct", "ild": "present"}).status_code == 201
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={"fvc_percent": 82, "dlco_percent": 70},
                             headers=clinician).json
    plan = assessment["monitoring"]
    assert assessment["pathway"] == "monitoring" and plan["last_pft"] == visit["started_at"][:10]
    assert plan["first_year"] is first_year
    client.set_cookie("lang", "en")
    due = CATALOG["next_pft_due"]["en"].format(start=plan["next_pft_from"], end=plan["next_pft_due"])
    for url in (f"/visits/{visit['id']}", f"/patients/{patient['id']}", "/"):
        assert due in client.get(url).get_data(as_text=True), url
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert CATALOG["guideline_monitoring"]["en"] in page
    # The generic Table 4 list names every CTD; the page also says which interval is this patient's.
    key = "first_year" if first_year else "later"
    assert CATALOG[f"monitoring_pft_every_{key}"]["en"].format(every=every) in page
    # The headline says what to do in the nurse's language, naming the patient's interval; the stored
    # English text of the recommendation is not shown in its place.
    assert CATALOG["action_monitoring"]["en"].format(every=every) in page
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert CATALOG["action_monitoring"]["zh-CN"].format(every=every) in page
    assert assessment["recommendation"]["text"] not in page
