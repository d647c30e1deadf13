"""Three clinical rules carried over from earlier sessions (brief h76), through the visit flow:

- anti-MDA5 no longer asks for an urgent HRCT at every visit once an HRCT read since the antibody was
  first on record is there (ILD present: the IIM monitoring line; ILD absent: PFTs and a symptom review
  at the programme's anti-MDA5 interval); rapidly worsening breathlessness stays urgent;
- an HRCT read as no ILD after one read as ILD keeps the monitoring pathway and tells the clinician the
  reads disagree (en, zh-CN);
- a Sjögren's patient without a blood count at this visit keeps the lymphopenia of a recent earlier
  count, named with its date (look-back window: a programme setting)."""
import datetime as dt
import re

import pytest
from markupsafe import escape

from support import PATIENT, assert_referral_follows_freshness, freshness_by_assessment, login, patch_visit
from edge.web.i18n import CATALOG

TODAY = dt.date.today()
IIM_MDA5 = {**PATIENT, "ctd_diagnosis": "IIM", "autoantibodies": ["anti-MDA5"], "symptoms": []}
SJOGREN = {**PATIENT, "ctd_diagnosis": "SjD", "autoantibodies": [], "smoking": "never", "pack_years": None, "symptoms": [],
           "sex": "F"}
LOW_COUNT = [{"analyte": "lymphocytes", "value": 0.8, "unit": "10*9/L"}]


def days_ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


@pytest.fixture
def clinician(client, make_user):
    make_user("clin1", "clinician")
    return login(client, "clin1")


def register(client, headers, patient):
    created = client.post("/api/v1/patients", json=patient, headers=headers)
    assert created.status_code == 201, created.json
    return created.json["id"]


def open_visit(client, headers, db, patient_id, *, on=None):
    """A visit of ``patient_id``, dated ``on`` (ISO date) when given: an earlier visit."""
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=headers).json["id"]
    if on:
        db.execute("UPDATE visits SET started_at = ? WHERE id = ?", [f"{on}T09:00:00.000+00:00", visit_id])
        db.conn.commit()
    return visit_id


def assess(client, headers, visit_id, **body):
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def hrct(client, headers, patient_id, day, ild):
    entered = client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=headers,
                          json={"date": day, "source": "hrct", "ild": ild})
    assert entered.status_code == 201, entered.json


# --- 1. anti-MDA5 ------------------------------------------------------------------------------

def scanned_mda5_patient(client, clinician, db, ild, *, patient=IIM_MDA5, scanned_days_ago=80):
    """An anti-MDA5 patient assessed (urgent) 90 days ago, scanned since, and seen again today."""
    patient_id = register(client, clinician, patient)
    first = assess(client, clinician, open_visit(client, clinician, db, patient_id, on=days_ago(90)))
    assert first["tier"] == "urgent" and [flag["code"] for flag in first["red_flags"]] == ["anti_mda5"]
    hrct(client, clinician, patient_id, days_ago(scanned_days_ago), ild)
    return patient_id, open_visit(client, clinician, db, patient_id)


def test_an_hrct_without_ild_since_anti_mda5_gives_pfts_at_the_anti_mda5_interval_not_urgent_hrct(client, clinician,
                                                                                                   db):
    _patient_id, visit_id = scanned_mda5_patient(client, clinician, db, "absent")
    assessment = assess(client, clinician, visit_id)
    recommendation = assessment["recommendation"]
    assert assessment["red_flags"] == [] and assessment["tier"] != "urgent"
    # The tier is the score's (high from the clinical picture alone here: it does not undo the HRCT).
    assert recommendation["advice"] == "pfts" and recommendation["priority"] != "urgent"
    assert recommendation["rescreen_months"] == 6  # triage_anti_mda5_rescreen_months, not the low-risk 12
    assert recommendation["anti_mda5_hrct"] == {"date": days_ago(80), "ild": "absent"}
    assert f"anti-MDA5 on record; the HRCT on {days_ago(80)}" in recommendation["text"]
    assert assessment["inputs"]["anti_mda5_since"] == days_ago(90)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_page_says_the_hrct_answered_anti_mda5(client, clinician, db, lang):
    _patient_id, visit_id = scanned_mda5_patient(client, clinician, db, "absent")
    assess(client, clinician, visit_id)
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="urgent-banner"' not in page
    note = str(escape(CATALOG["anti_mda5_hrct_note_absent"][lang].format(date=days_ago(80), months=6)))
    assert note in page
    assert CATALOG["action_pfts"][lang].format(months=6) in page


def test_an_hrct_with_ild_since_anti_mda5_puts_the_patient_on_routine_iim_monitoring(client, clinician, db):
    _patient_id, visit_id = scanned_mda5_patient(client, clinician, db, "present")
    assessment = assess(client, clinician, visit_id)
    assert assessment["pathway"] == "monitoring" and assessment["red_flags"] == []
    assert assessment["recommendation"]["priority"] == "routine"
    assert assessment["monitoring"]["pft_every_months"] == [3, 6]  # Table 4, IIM-ILD first year


@pytest.mark.parametrize("ild", ["absent", "present"])
def test_rapidly_worsening_breathlessness_keeps_anti_mda5_urgent_after_the_hrct(client, clinician, db, ild):
    patient_id, visit_id = scanned_mda5_patient(client, clinician, db, ild)
    version = client.get(f"/api/v1/patients/{patient_id}", headers=clinician).json["version"]
    edited = client.patch(f"/api/v1/patients/{patient_id}", json={"symptoms": ["rapidly_worsening_dyspnoea"],
                                                                  "version": version}, headers=clinician)
    assert edited.status_code == 200, edited.json
    assessment = assess(client, clinician, visit_id)
    assert [flag["code"] for flag in assessment["red_flags"]] == ["anti_mda5_rapid_dyspnoea"]
    assert assessment["tier"] == "urgent" and assessment["recommendation"]["priority"] == "urgent"


def test_an_hrct_read_before_anti_mda5_was_on_record_does_not_answer_it(client, clinician, db):
    _patient_id, visit_id = scanned_mda5_patient(client, clinician, db, "absent", scanned_days_ago=120)
    assessment = assess(client, clinician, visit_id)
    assert [flag["code"] for flag in assessment["red_flags"]] == ["anti_mda5"]
    assert assessment["tier"] == "urgent" and assessment["recommendation"]["advice"] == "hrct_pfts"
    assert assessment["recommendation"]["anti_mda5_hrct"] is None


@pytest.mark.parametrize("ctd", ["SSc", "RA", "SjD", "MCTD", "SLE", "undetermined"])
def test_anti_mda5_is_answered_by_the_hrct_whatever_the_ctd(client, clinician, db, ctd):
    _patient_id, visit_id = scanned_mda5_patient(client, clinician, db, "absent",
                                                 patient={**IIM_MDA5, "ctd_diagnosis": ctd})
    assessment = assess(client, clinician, visit_id)
    assert assessment["red_flags"] == [] and assessment["tier"] != "urgent"
    assert assessment["recommendation"]["anti_mda5_hrct"] == {"date": days_ago(80), "ild": "absent"}
    assert assessment["recommendation"]["rescreen_months"] <= 6


# --- 2. an HRCT without ILD after one with ILD --------------------------------------------------

def discordant_patient(client, clinician, db, patient=None):
    patient_id = register(client, clinician, patient or {**PATIENT, "symptoms": []})
    hrct(client, clinician, patient_id, days_ago(200), "present")
    hrct(client, clinician, patient_id, days_ago(30), "absent")
    return patient_id, open_visit(client, clinician, db, patient_id)


def test_a_later_hrct_without_ild_keeps_monitoring_and_asks_a_clinician_to_review_the_reads(client, clinician, db):
    _patient_id, visit_id = discordant_patient(client, clinician, db)
    assessment = assess(client, clinician, visit_id)
    recommendation = assessment["recommendation"]
    assert assessment["pathway"] == "monitoring" and recommendation["advice"] == "monitoring"
    assert recommendation["discordant_hrct"] == {"ild_on": days_ago(200), "no_ild_on": days_ago(30)}
    assert recommendation["next_steps"][0].startswith("Discuss the disagreeing HRCT reads")
    assert f"HRCT on {days_ago(30)} read no ILD after the HRCT on {days_ago(200)} read ILD" in recommendation["text"]


def test_the_review_names_the_most_recent_read_with_ild(client, clinician, db):
    patient_id = register(client, clinician, {**PATIENT, "symptoms": []})
    for days, ild in ((400, "present"), (200, "present"), (30, "absent")):
        hrct(client, clinician, patient_id, days_ago(days), ild)
    assessment = assess(client, clinician, open_visit(client, clinician, db, patient_id))
    assert assessment["confirmed_ild"]["date"] == days_ago(400)  # monitoring counts from the first read
    assert assessment["recommendation"]["discordant_hrct"] == {"ild_on": days_ago(200), "no_ild_on": days_ago(30)}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_page_shows_that_the_hrct_reads_disagree(client, clinician, db, lang):
    _patient_id, visit_id = discordant_patient(client, clinician, db)
    assess(client, clinician, visit_id)
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    note = str(escape(CATALOG["discordant_hrct_note"][lang].format(ild_on=days_ago(200), no_ild_on=days_ago(30))))
    assert note in page


def test_reads_that_agree_or_an_ild_read_last_carry_no_discordance(client, clinician, db):
    patient_id = register(client, clinician, {**PATIENT, "symptoms": []})
    hrct(client, clinician, patient_id, days_ago(300), "absent")
    hrct(client, clinician, patient_id, days_ago(200), "present")
    visit_id = open_visit(client, clinician, db, patient_id)
    assert assess(client, clinician, visit_id)["recommendation"]["discordant_hrct"] is None
    hrct(client, clinician, patient_id, days_ago(100), "absent")
    hrct(client, clinician, patient_id, days_ago(50), "present")  # ILD read again: the last read agrees
    assert assess(client, clinician, visit_id)["recommendation"]["discordant_hrct"] is None


# --- 3. lymphopenia on an earlier recent blood count ----------------------------------------------

def sjogren_with_counts(client, nurse, db, counts):
    """A Sjögren's patient with a blood count at earlier visits (``counts``: days ago -> panel) and none today."""
    patient_id = register(client, nurse, SJOGREN)
    for days, panel in sorted(counts.items(), reverse=True):
        visit_id = open_visit(client, nurse, db, patient_id, on=days_ago(days))
        stored = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": panel}, headers=nurse)
        assert stored.status_code == 201, stored.json
    return open_visit(client, nurse, db, patient_id)


def test_lymphopenia_on_an_earlier_recent_count_selects_the_sjogren_line_naming_its_date(client, nurse, db):
    visit_id = sjogren_with_counts(client, nurse, db, {60: LOW_COUNT})
    assessment = assess(client, nurse, visit_id)
    guideline = assessment["recommendation"]["guideline"]
    assert guideline["code"] == "sjd_risk" and assessment["recommendation"]["advice"] == "hrct_pfts"
    finding, = guideline["risk_factor_findings"]
    assert (finding["value"], finding["date"]) == (0.8, days_ago(60))
    assert f"lymphocytes 0.8 x10^9/L on the blood count of {days_ago(60)}" in assessment["recommendation"]["text"]
    assert assessment["inputs"]["lymphocytes"] == pytest.approx(0.8)
    assert assessment["inputs"]["lymphocytes_date"] == days_ago(60)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_page_names_the_date_of_an_earlier_count(client, nurse, db, lang):
    visit_id = sjogren_with_counts(client, nurse, db, {60: LOW_COUNT})
    assess(client, nurse, visit_id)
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    factors = page.split('id="risk-factors">', 1)[1].split("</p>", 1)[0]
    line = CATALOG["risk_factor_lymphopenia_dated"][lang].format(value="0.8", cutoff="1", date=days_ago(60))
    assert str(escape(line)) in factors


@pytest.mark.parametrize(("counts", "line"), [
    ({400: LOW_COUNT}, "none"),  # older than the 12-month look-back
    ({90: LOW_COUNT, 30: [{"analyte": "lymphocytes", "value": 1.9, "unit": "10*9/L"}]}, "none"),  # newest is normal
    ({300: LOW_COUNT}, "sjd_risk")])
def test_only_the_newest_count_within_the_look_back_counts(client, nurse, db, counts, line):
    visit_id = sjogren_with_counts(client, nurse, db, counts)
    assert assess(client, nurse, visit_id)["recommendation"]["guideline"]["code"] == line


def test_this_visits_count_wins_over_an_earlier_one(client, nurse, db):
    visit_id = sjogren_with_counts(client, nurse, db, {60: LOW_COUNT})
    normal = [{"analyte": "lymphocytes", "value": 1.9, "unit": "10*9/L"}]
    assert client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": normal}, headers=nurse).status_code == 201
    assessment = assess(client, nurse, visit_id)
    assert assessment["recommendation"]["guideline"]["code"] == "none"
    assert assessment["inputs"]["lymphocytes_date"] is None  # this visit's count


def test_a_cancelled_visits_count_is_not_read(client, nurse, db):
    visit_id = sjogren_with_counts(client, nurse, db, {60: LOW_COUNT})
    earlier = db.execute("SELECT id FROM visits WHERE id != ? ORDER BY id", [visit_id]).fetchone()[0]
    db.execute("UPDATE visits SET status = 'cancelled' WHERE id = ?", [earlier])
    db.conn.commit()
    assert assess(client, nurse, visit_id)["recommendation"]["guideline"]["code"] == "none"


def test_a_look_back_of_0_reads_this_visits_count_only(tmp_path):
    from edge import audit
    from edge.app import create_app
    from edge.config import load_settings
    from edge.users import create_user

    app = create_app(load_settings(data_dir=tmp_path / "d", triage_lymphopenia_lookback_months=0))
    db = app.extensions["ildscreen"].folder.connect()
    create_user(db, audit.CLI_OPERATOR, username="nurse1", role="nurse", password="correct horse battery")
    client = app.test_client()
    headers = login(client, "nurse1")
    visit_id = sjogren_with_counts(client, headers, db, {60: LOW_COUNT})
    assessment = assess(client, headers, visit_id)
    assert assessment["recommendation"]["guideline"]["code"] == "none"
    assert assessment["inputs"]["lymphocytes"] is None and assessment["thresholds"]["lymphopenia_lookback_months"] == 0


# --- 3b. a count entered on an earlier visit after the result ----------------------------------------

def out_of_date_line(page: str) -> str:
    found = re.search(r'id="result-out-of-date">([^<]+)<', page)
    return found.group(1) if found else ""


def sjogren_assessed_with_an_earlier_visit(client, nurse, db, *, earlier_days_ago=60, counts=None):
    """A Sjögren's patient with an open visit ``earlier_days_ago`` without a count (and ``counts`` at
    other earlier visits), and today's visit calculated without lymphopenia: (earlier visit, today's
    visit, its result)."""
    visit_id = sjogren_with_counts(client, nurse, db, counts or {})
    patient_id = db.execute("SELECT patient_id FROM visits WHERE id = ?", [visit_id]).fetchone()[0]
    earlier = open_visit(client, nurse, db, patient_id, on=days_ago(earlier_days_ago))
    first = assess(client, nurse, visit_id)
    assert first["recommendation"]["guideline"]["code"] == "none" and first["freshness"]["current"]
    return earlier, visit_id, first


def enter(client, headers, visit_id, panel) -> None:
    stored = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": panel}, headers=headers)
    assert stored.status_code == 201, stored.json


def test_a_count_entered_on_an_earlier_visit_the_look_back_reads_makes_the_result_out_of_date(client, nurse, db):
    earlier, visit_id, first = sjogren_assessed_with_an_earlier_visit(client, nurse, db)
    enter(client, nurse, earlier, LOW_COUNT)
    verdicts = assert_referral_follows_freshness(client, nurse, visit_id)  # refused, naming it
    assert verdicts[first["id"]]["changed"] == ["earlier_blood_count"] and not verdicts[first["id"]]["current"]
    for lang in ("en", "zh-CN"):
        client.set_cookie("lang", lang)
        page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
        assert str(escape(CATALOG["changed_earlier_blood_count"][lang])) in out_of_date_line(page)
        assert 'id="refer-form"' not in page and 'id="refer-needs-current"' in page
    again = assess(client, nurse, visit_id)  # what the look-back now reads: the Sjögren's risk line
    assert again["recommendation"]["guideline"]["code"] == "sjd_risk" and again["freshness"]["current"]
    assert again["inputs"]["lymphocytes_date"] == days_ago(60)
    # The visit the look-back read cancelled: it reads none again.
    assert patch_visit(client, earlier, {"status": "cancelled"}, nurse).status_code == 200
    assert freshness_by_assessment(client, nurse, visit_id)[again["id"]]["changed"] == ["earlier_blood_count"]


def later_visit(client, nurse, db, visit_id) -> int:
    """Another open visit of the patient of ``visit_id`` (today's), dated after it (tomorrow)."""
    patient_id = db.execute("SELECT patient_id FROM visits WHERE id = ?", [visit_id]).fetchone()[0]
    return open_visit(client, nurse, db, patient_id, on=days_ago(-1))


def other_patients_visit(client, nurse, db, visit_id) -> int:
    return open_visit(client, nurse, db, register(client, nurse, {**SJOGREN, "code": "CL96-0002"}), on=days_ago(60))


@pytest.mark.parametrize("where", [
    "older_than_the_look_back",  # 400 days ago: the 12-month window leaves it out
    "older_than_a_newer_count",  # a normal count 30 days ago is the newest: the look-back reads only that
    "after_this_visit",  # a visit dated after the one calculated
    "another_patient",
    "this_visit_has_its_own",  # this visit's own count wins; entering it was the change ('labs')
])
def test_a_count_the_look_back_would_not_read_is_no_change(client, nurse, db, where):
    normal = [{"analyte": "lymphocytes", "value": 1.9, "unit": "10*9/L"}]
    earlier, visit_id, first = sjogren_assessed_with_an_earlier_visit(
        client, nurse, db, earlier_days_ago=400 if where == "older_than_the_look_back" else 60,
        counts={30: normal} if where == "older_than_a_newer_count" else None)
    if where == "this_visit_has_its_own":
        enter(client, nurse, visit_id, normal)
        first = assess(client, nurse, visit_id)
    target = {"after_this_visit": lambda: later_visit(client, nurse, db, visit_id),
              "another_patient": lambda: other_patients_visit(client, nurse, db, visit_id)}.get(where, lambda: earlier)()
    enter(client, nurse, target, LOW_COUNT)
    assert freshness_by_assessment(client, nurse, visit_id)[first["id"]]["current"]
    again = assess(client, nurse, visit_id)  # indeed: calculating again gives the same advice
    assert again["recommendation"]["guideline"]["code"] == "none"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_letter_names_changes_made_elsewhere_than_at_the_visit_as_such(client, nurse, make_user, db, lang):
    """After the referral: a blood test at the visit, a count on an earlier visit, an HRCT on the patient's
    record and an end of ILD monitoring. The letter names each change kind in the nurse's language, and its
    line does not say they were made at the visit: three of them were not."""
    earlier, visit_id, first = sjogren_assessed_with_an_earlier_visit(client, nurse, db)
    sent = client.post(f"/api/v1/visits/{visit_id}/referrals", headers=nurse,
                       json={"reason": "new cough", "assessment_id": first["id"]})
    assert sent.status_code == 201, sent.json
    patient_id = db.execute("SELECT patient_id FROM visits WHERE id = ?", [visit_id]).fetchone()[0]
    enter(client, nurse, visit_id, [{"analyte": "crp", "value": 4, "unit": "mg/L"}])
    enter(client, nurse, earlier, LOW_COUNT)
    make_user("clin1", "clinician")
    clinician = login(client, "clin1")
    hrct(client, clinician, patient_id, days_ago(30), "present")
    ended = client.post(f"/api/v1/patients/{patient_id}/monitoring-ends", headers=clinician,
                        json={"date": days_ago(10), "reason": "transferred"})
    assert ended.status_code == 201, ended.json
    kinds = ["labs", "earlier_blood_count", "outcomes", "monitoring"]
    assert freshness_by_assessment(client, clinician, visit_id)[first["id"]]["changed"] == kinds
    referral_id = db.execute("SELECT id FROM referrals").fetchone()[0]
    client.set_cookie("lang", lang)
    letter = client.get(f"/referrals/{referral_id}/letter").get_data(as_text=True)
    line = re.search(r'id="letter-changed">([^<]+)<', letter).group(1)
    names = ("、" if lang == "zh-CN" else ", ").join(CATALOG[f"changed_{kind}"][lang] for kind in kinds)
    assert line == str(escape(CATALOG["letter_changed_after"][lang].format(changes=names)))
    assert ("就诊中" if lang == "zh-CN" else "at the visit") not in line
