"""The referral carries what the result page says beside the advice (brief h82): the HRCT that
answered anti-MDA5 (why the patient is not urgent), HRCT reads that disagree, a lymphopenia read
from an earlier visit's count with its date. The printed letter shows the page's own notes (en,
zh-CN; one template, ``_advice_notes.html``); the FHIR referral as queued says them in the
ServiceRequest note that carries the advice, and the hospital's intake (``imaging_server``)
accepts it. A patient with none of these has none of the notes."""
import json

import pytest
from markupsafe import escape

from edge.web.i18n import CATALOG
from imaging_server.app import create_app as create_hospital_app
from imaging_server.config import load_settings as load_hospital_settings
from imaging_server.store import add_clinic, open_database
from support import PATIENT
from test_carried_over_triage_rules import (IIM_MDA5, LOW_COUNT, assess, clinician, days_ago,  # noqa: F401 - fixture
                                            discordant_patient, hrct, register, scanned_mda5_patient,
                                            sjogren_with_counts)

LANGS = ("en", "zh-CN")
# The notes' element ids on the letter (the result page's own, from the same template).
NOTE_IDS = ("negative-hrct", "anti-mda5-hrct", "discordant-hrct")


@pytest.fixture
def hospital(tmp_path, no_env_settings):
    """The hospital's CT server (its referral API on a SQLite file) and a clinic token for it."""
    settings = load_hospital_settings(data_dir=tmp_path / "hospital", series_stable_s=0)
    app = create_hospital_app(settings)
    db = open_database(settings.database_target)
    token = add_clinic(db, "clinic-north")
    db.close()
    return app.test_client(), token


def refer(client, headers, db, visit_id, reason=None) -> tuple[int, dict]:
    """Refer the visit; the referral's id and its FHIR bundle as the outbox will send it."""
    created = client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": reason} if reason else {},
                          headers=headers)
    assert created.status_code == 201, created.json
    payload = db.execute("SELECT payload FROM referrals WHERE id = ?", [created.json["id"]]).fetchone()[0]
    return created.json["id"], json.loads(payload)


def sent_to_hospital(hospital, bundle) -> str:
    """Post the bundle to the hospital's referral API (it must accept it); the ServiceRequest's notes."""
    hospital_client, token = hospital
    request = bundle["entry"][0]["resource"]
    code = request["identifier"][0]["value"]
    accepted = hospital_client.post("/api/v1/referrals", json=bundle,
                                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": code})
    assert accepted.status_code == 201, accepted.json
    return "\n".join(note["text"] for note in request["note"])


def letters(client, referral_id) -> dict[str, str]:
    """The printed letter in each language."""
    shown = {}
    for lang in LANGS:
        client.set_cookie("lang", lang)
        shown[lang] = client.get(f"/referrals/{referral_id}/letter").get_data(as_text=True)
    return shown


def element(page: str, element_id: str) -> str:
    assert page.count(f'id="{element_id}"') == 1, element_id
    return page.split(f'id="{element_id}"', 1)[1].split("</p>", 1)[0]


def phrase(key: str, lang: str, **values) -> str:
    return str(escape(CATALOG[key][lang].format(**values)))


@pytest.mark.parametrize("ild", ["absent", "present"])
def test_an_hrct_that_answered_anti_mda5_is_on_the_letter_and_in_the_referral(client, clinician, db, hospital, ild):
    _patient_id, visit_id = scanned_mda5_patient(client, clinician, db, ild)
    assessment = assess(client, clinician, visit_id)
    assert assessment["tier"] != "urgent" and assessment["red_flags"] == []
    # Neither advice is HRCT (PFTs after the negative one; monitoring after ILD): the clinician says why.
    referral_id, bundle = refer(client, clinician, db, visit_id, reason="Radiology review of the anti-MDA5 HRCT")

    for lang, letter in letters(client, referral_id).items():
        assert 'id="letter-urgent"' not in letter
        assert phrase(f"anti_mda5_hrct_note_{ild}", lang, date=days_ago(80)) in element(letter, "anti-mda5-hrct")
    notes = sent_to_hospital(hospital, bundle)
    read = "showed no ILD" if ild == "absent" else "showed ILD"
    assert (f"anti-MDA5 on record; the HRCT on {days_ago(80)}, read since, {read}: no urgent HRCT for the antibody "
            "alone") in notes
    assert bundle["entry"][0]["resource"]["priority"] != "asap"  # FHIR's "this week" (imaging_client.referral)


def test_disagreeing_hrct_reads_are_on_the_letter_and_in_the_referral(client, clinician, db, hospital):
    _patient_id, visit_id = discordant_patient(client, clinician, db)
    assessment = assess(client, clinician, visit_id)
    assert assessment["recommendation"]["advice"] == "monitoring"
    every = "–".join(str(months) for months in dict.fromkeys(assessment["monitoring"]["pft_every_months"]))
    referral_id, bundle = refer(client, clinician, db, visit_id, reason="Second opinion on the HRCT reads")

    for lang, letter in letters(client, referral_id).items():
        shown = element(letter, "discordant-hrct")
        assert phrase("discordant_hrct_note", lang, ild_on=days_ago(200), no_ild_on=days_ago(30)) in shown
        # The advice line says "monitor" in the letter's language, not the stored English text, under a
        # monitoring label: the patient's ILD is confirmed, not screened for (brief h84).
        assert phrase("action_monitoring", lang, every=every) in element(letter, "letter-advice")
        assert phrase("monitoring_advice", lang) in element(letter, "letter-advice")
        assert phrase("screening_advice", lang) not in letter
        assert phrase("letter_outside_monitoring", lang) in element(letter, "letter-reason")
        assert str(escape(assessment["recommendation"]["text"])) not in letter
    notes = sent_to_hospital(hospital, bundle)
    assert f"The HRCT on {days_ago(30)} read no ILD after the HRCT on {days_ago(200)} read ILD" in notes
    # Confirmed ILD: the advice note says monitoring, never a screening tier (brief h84).
    assert notes.startswith(f"ILD monitoring (ILD confirmed): {assessment['recommendation']['text']}")
    assert "ILD screening tier" not in notes and "against the screening advice" not in notes
    assert "Referred outside the monitoring advice (which is not HRCT); clinician's reason: Second opinion" in notes


def test_after_monitoring_ended_the_referral_says_so_and_the_hospital_accepts_it(client, clinician, db, hospital):
    patient_id = register(client, clinician, PATIENT)
    hrct(client, clinician, patient_id, days_ago(200), "present")
    ended = client.post(f"/api/v1/patients/{patient_id}/monitoring-ends", headers=clinician,
                        json={"date": days_ago(20), "reason": "transferred"})
    assert ended.status_code == 201, ended.json
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=clinician).json["id"]
    assert assess(client, clinician, visit_id)["recommendation"]["advice"] == "monitoring_ended"
    referral_id, bundle = refer(client, clinician, db, visit_id, reason="New breathlessness: HRCT at the ILD clinic")
    for lang, letter in letters(client, referral_id).items():
        assert phrase("action_monitoring_ended", lang, date=days_ago(20)) in element(letter, "letter-advice")
    notes = sent_to_hospital(hospital, bundle)
    assert notes.startswith(f"ILD monitoring (ILD confirmed): ILD is confirmed; monitoring at this clinic was ended "
                            f"on {days_ago(20)} (care transferred to a hospital ILD clinic)")
    assert "ILD screening tier" not in notes


def test_lymphopenia_on_an_earlier_count_is_on_the_letter_and_in_the_referral_with_its_date(client, nurse, db,
                                                                                             hospital):
    visit_id = sjogren_with_counts(client, nurse, db, {60: LOW_COUNT})
    assert assess(client, nurse, visit_id)["recommendation"]["advice"] == "hrct_pfts"
    referral_id, bundle = refer(client, nurse, db, visit_id)

    for lang, letter in letters(client, referral_id).items():
        line = phrase("risk_factor_lymphopenia_dated", lang, value="0.8", cutoff="1", date=days_ago(60))
        assert line in element(letter, "risk-factors")
    notes = sent_to_hospital(hospital, bundle)
    assert f"lymphocytes 0.8 x10^9/L on the blood count of {days_ago(60)} (lymphopenia: below 1)" in notes


@pytest.mark.parametrize("patient", [PATIENT, {**IIM_MDA5, "code": "CL82-0001"}], ids=["ssc", "anti-mda5-unscanned"])
def test_a_patient_without_them_has_none_of_the_notes(client, clinician, db, hospital, patient):
    patient_id = register(client, clinician, patient)
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=clinician).json["id"]
    assessment = assess(client, clinician, visit_id)
    assert assessment["recommendation"]["advice"] == "hrct_pfts"
    referral_id, bundle = refer(client, clinician, db, visit_id)

    for letter in letters(client, referral_id).values():
        assert not [element_id for element_id in NOTE_IDS if f'id="{element_id}"' in letter]
        assert 'data-factor="risk_factor_lymphopenia' not in letter
    notes = sent_to_hospital(hospital, bundle)
    for said in ("read since", "read no ILD", "showed no ILD", "blood count"):
        assert said not in notes
    assert notes.startswith(f"ILD screening tier {assessment['tier']}; ")  # screening: the tier, as before
