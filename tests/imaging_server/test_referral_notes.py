"""The hospital's readers see why each patient was referred: the referral's page and its JSON show the
clinic's reasons and notes (the bundle as ``imaging_client.referral`` builds it) as escaped text, in the
order sent with the advice first; the worklist marks an urgent referral and disagreeing HRCT reads;
intake refuses too many or too long notes and control characters, naming the field, and then stores and
changes nothing; nothing identifies the patient."""
from __future__ import annotations

import copy
import json

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from edge.fusion.monitoring import discordant_hrct
from imaging_client.referral import (CONFIRMED_UNUSUAL_NOTE, LOCAL_OBSERVATION_SYSTEM, NOTE_KIND_URL,
                                     build_referral_bundle, pseudonym)
from imaging_server.app import create_app
from imaging_server.nodule_review import add_reader
from imaging_server.programme_i18n import CATALOG
from imaging_server.referrals import MAX_TEXT_CHARS, MAX_TEXTS
from imaging_server.store import add_clinic, open_database

PATIENT_CODE = "CL01-0042"
SECRET = b"s" * 32
MODEL = {"version": "labs-0.1.0", "training_population": "synthetic cohorts (no patient data)",
         "statement": "Trained on synthetic data only; not validated on patients; not for clinical use."}
HOSTILE_REASON = 'Second opinion <script>alert("x")</script> & <b>both</b> reads'


def assessment(*, advice: str = "hrct_pfts", priority: str = "within_3_months", text: str = "HRCT plus PFTs.",
               discordant: dict | None = None, pathway: str = "screening") -> dict:
    """An assessment as the clinic stores it (edge.fusion.triage's keys the referral reads)."""
    return {"probability": 0.42, "tier": "high", "pathway": pathway,
            "recommendation": {"advice": advice, "priority": priority, "text": text, "discordant_hrct": discordant,
                               "guideline": {"code": "ssc", "line": "Systemic sclerosis: screen with HRCT and PFTs.",
                                             "source": "Johnson SR et al. 2023 ACR/CHEST"}},
            "contributions": {},
            "validation": {"note": "Not validated for clinical use.", "models": {"labs": MODEL}}}


def clinic_bundle(code: str, **values) -> dict:
    reason = values.pop("reason", None)
    return build_referral_bundle(referral_code=code, tier="high", patient_code=PATIENT_CODE, birth_year=1952,
                                 sex="F", site_secret=SECRET, assessment=assessment(**values), reason=reason)


DISCORDANT = discordant_hrct({"date": "2025-05-01"}, {"date": "2026-03-01", "ild": "absent"})
BUNDLES = {
    # A red flag (anti-MDA5): urgent, HRCT this week (FHIR asap).
    "ILD-AAAAAAAAAA": lambda code: clinic_bundle(code, priority="urgent", text="HRCT plus PFTs (urgent)."),
    # Monitoring with disagreeing HRCT reads, referred by the clinician against the advice.
    "ILD-BBBBBBBBBB": lambda code: clinic_bundle(
        code, advice="monitoring", pathway="monitoring", priority="routine", discordant=DISCORDANT, reason=HOSTILE_REASON,
        text="ILD is confirmed: monitor it. <i>Tier</i> & PFTs every 3-6 months.\nSecond line."),
    # High risk, HRCT within 3 months: nothing a reader must not miss.
    "ILD-CCCCCCCCCC": lambda code: clinic_bundle(code),
}


@pytest.fixture
def hospital(imaging_settings):  # noqa: F811
    """The CT server's test client, its database (closed after) and clinic and reader headers."""
    client = create_app(imaging_settings).test_client()
    db = open_database(imaging_settings.database_target)
    clinic, reader = add_clinic(db, "clinic-north"), add_reader(db, "dr-wang")
    yield client, db, {"Authorization": f"Bearer {clinic}"}, {"Authorization": f"Bearer {reader}"}
    db.close()


def send(client, clinic: dict, bundle: dict):
    code = bundle["entry"][0]["resource"]["identifier"][0]["value"]
    return client.post("/api/v1/referrals", json=bundle, headers={**clinic, "Idempotency-Key": code})


def sent(hospital, *codes: str) -> dict[str, dict]:
    client, _db, clinic, _reader = hospital
    bundles = {code: BUNDLES[code](code) for code in codes}
    for bundle in bundles.values():
        assert send(client, clinic, bundle).status_code == 201
    return bundles


def notes_of(bundle: dict) -> list[dict]:
    return bundle["entry"][0]["resource"]["note"]


def test_the_referral_page_shows_the_reasons_and_notes_as_escaped_text_in_the_order_sent(hospital):
    client, _db, _clinic, reader = hospital
    code = "ILD-BBBBBBBBBB"
    bundle = sent(hospital, code)[code]
    texts = [note["text"] for note in notes_of(bundle)]
    assert texts[0].startswith("ILD monitoring (ILD confirmed): ILD is confirmed") and "HRCT reads disagree" in texts[1]

    view = client.get(f"/api/v1/reader/referrals/{code}", headers=reader)
    assert view.status_code == 200
    assert [note["text"] for note in view.json["notes"]] == texts
    assert [note["kind"] for note in view.json["notes"]][:3] == ["advice", "discordant_hrct_reads", "against_advice"]
    assert view.json["reasons"] == [f"Clinician's reason: {HOSTILE_REASON}"]
    assert view.json["priority"] == "routine" and view.json["must_not_miss"] == ["discordant_hrct_reads"]

    page = client.get(f"/reader/referrals/{code}", headers=reader).get_data(as_text=True)
    # Escaped, never markup: no element the clinic's words could have made.
    assert "<script>" not in page and "<i>Tier</i>" not in page and "<b>both</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;both&lt;/b&gt;" in page
    shown = [page.index(_escaped(text)) for text in texts]
    assert shown == sorted(shown)  # every note, in the order sent, the advice first
    assert page.count('class="note"') == len(texts)
    assert page.index(_escaped(CATALOG["note_kind_advice"]["en"])) < shown[0]
    assert page.index(CATALOG["marker_discordant_hrct_reads"]["en"]) < shown[0]


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_the_advice_is_shown_first_whatever_its_place_and_old_notes_without_kinds_in_the_order_sent(hospital):
    client, _db, clinic, reader = hospital
    moved = clinic_bundle("ILD-DDDDDDDDDD")
    notes = notes_of(moved)
    notes.append(notes.pop(0))  # the advice sent last
    assert send(client, clinic, moved).status_code == 201
    shown = client.get("/api/v1/reader/referrals/ILD-DDDDDDDDDD", headers=reader).json["notes"]
    assert [note["text"] for note in shown] == [notes[-1]["text"], *(note["text"] for note in notes[:-1])]

    plain = clinic_bundle("ILD-EEEEEEEEEE", advice="monitoring", discordant=DISCORDANT, reason="Second opinion")
    for note in notes_of(plain):  # an older clinic's bundle: notes without kinds
        del note["extension"]
    assert send(client, clinic, plain).status_code == 201
    view = client.get("/api/v1/reader/referrals/ILD-EEEEEEEEEE", headers=reader).json
    assert view["notes"] == [{"kind": None, "text": note["text"]} for note in notes_of(plain)]
    assert view["must_not_miss"] == []  # the marker rests on the kind, not on the words


def test_the_worklist_puts_urgent_first_and_marks_what_a_reader_must_not_miss(hospital):
    client, _db, _clinic, reader = hospital
    sent(hospital, "ILD-CCCCCCCCCC", "ILD-BBBBBBBBBB", "ILD-AAAAAAAAAA")
    worklist = client.get("/api/v1/reader/referrals", headers=reader)
    assert worklist.status_code == 200
    rows = {row["referral_code"]: row for row in worklist.json["referrals"]}
    assert [row["referral_code"] for row in worklist.json["referrals"]] == [
        "ILD-AAAAAAAAAA", "ILD-CCCCCCCCCC", "ILD-BBBBBBBBBB"]  # asap, urgent (3 months), routine
    assert {code: row["must_not_miss"] for code, row in rows.items()} == {
        "ILD-AAAAAAAAAA": ["urgent"], "ILD-BBBBBBBBBB": ["discordant_hrct_reads"], "ILD-CCCCCCCCCC": []}
    assert all("notes" not in row and row["clinic"] == "clinic-north" for row in rows.values())

    page = client.get("/reader/referrals", headers=reader).get_data(as_text=True)
    for code, markers in (("ILD-AAAAAAAAAA", ["urgent"]), ("ILD-BBBBBBBBBB", ["discordant_hrct_reads"]),
                          ("ILD-CCCCCCCCCC", [])):
        row = page.split(f'id="referral-{code}"', 1)[1].split("</tr>", 1)[0]
        assert [part.split('"', 1)[0] for part in row.split('data-marker="')[1:]] == markers
        for marker in markers:
            assert CATALOG[f"marker_{marker}"]["en"] in row
        assert f'href="/reader/referrals/{code}"' in row
    assert "HRCT reads disagree:" not in page  # the worklist marks; the notes are on the referral's page


def test_the_pages_follow_the_language_and_keep_the_clinics_words(hospital):
    client, _db, _clinic, reader = hospital
    code = "ILD-BBBBBBBBBB"
    bundle = sent(hospital, code)[code]
    headers = {**reader, "Accept-Language": "zh-CN"}
    page = client.get(f"/reader/referrals/{code}", headers=headers).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    for key in ("note_kind_advice", "referral_notes", "marker_discordant_hrct_reads", "priority_routine"):
        assert CATALOG[key]["zh-CN"] in page
    assert _escaped(notes_of(bundle)[0]["text"]) in page
    worklist = client.get("/reader/referrals", headers=headers).get_data(as_text=True)
    assert CATALOG["title_worklist"]["zh-CN"] in worklist and CATALOG["status_awaiting_images"]["zh-CN"] in worklist


def _switch_link(html: str) -> str:
    return html.split('id="language-switch"', 1)[1].split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")


def test_the_reader_pages_switch_language_and_come_back_to_the_same_page(hospital):
    client, _db, _clinic, reader = hospital
    code = "ILD-BBBBBBBBBB"
    sent(hospital, code)
    page = client.get(f"/reader/referrals/{code}", headers=reader).get_data(as_text=True)
    assert '<html lang="en">' in page and CATALOG["other_language"]["en"] in page
    link = _switch_link(page)
    assert link == f"/reader/language?to=zh-CN&next=/reader/referrals/{code}"
    switched = client.get(link)  # open without a session: the sign-in form has the switch too
    assert switched.status_code == 303 and switched.headers["Location"] == f"/reader/referrals/{code}"
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("lang=zh-CN;") and "Path=/;" in cookie and "SameSite=Lax" in cookie
    page = client.get(f"/reader/referrals/{code}", headers=reader).get_data(as_text=True)  # the client keeps it
    assert '<html lang="zh-CN">' in page and CATALOG["note_kind_advice"]["zh-CN"] + "：" in page
    assert "HRCT reads disagree: the HRCT on 2026-03-01" in page  # the clinic's words stay as sent

    # The worklist keeps its filters; back to English.
    worklist = client.get("/reader/referrals?priority=routine&limit=2", headers=reader).get_data(as_text=True)
    assert CATALOG["title_worklist"]["zh-CN"] in worklist
    back = client.get(_switch_link(worklist))
    assert back.headers["Location"] == "/reader/referrals?priority=routine&limit=2"
    assert '<html lang="en">' in client.get("/reader/referrals", headers=reader).get_data(as_text=True)

    for target in ("/programme", "//evil.example/reader", "https://evil.example/reader", "/reader/%2e%2e/programme"):
        answer = client.get("/reader/language", query_string={"to": "zh-CN", "next": target})
        assert answer.status_code == 303 and answer.headers["Location"] == "/reader/referrals", target
    unknown = client.get("/reader/language?to=fr&next=/reader/referrals")
    assert unknown.status_code == 303 and "Set-Cookie" not in unknown.headers


def test_the_reader_sign_in_form_switches_language_and_keeps_where_it_leads(hospital):
    client, _db, _clinic, _reader = hospital
    form = client.get("/reader/referrals/ILD-AAAAAAAAAA")
    assert form.status_code == 401
    link = _switch_link(form.get_data(as_text=True))
    assert link == "/reader/language?to=zh-CN&next=/reader/referrals/ILD-AAAAAAAAAA"
    client.get(link)
    form = client.get("/reader/referrals/ILD-AAAAAAAAAA").get_data(as_text=True)
    assert CATALOG["reader_sign_in_intro"]["zh-CN"] in form and 'name="next" value="/reader/referrals/ILD-AAAAAAAAAA"' in form
    # A form answered to a wrong password: its switch leads where the form leads, not to the POST's address.
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    wrong = client.post("/reader/sign-in", data={"name": "dr-wang", "password": "not the password", "csrf_token": token,
                                                 "next": "/reader/referrals/ILD-AAAAAAAAAA"})
    assert wrong.status_code == 401
    assert _switch_link(wrong.get_data(as_text=True)) == "/reader/language?to=en&next=/reader/referrals/ILD-AAAAAAAAAA"
    # The programme's switch leads only to programme pages.
    answer = client.get("/programme/language?to=en&next=/reader/referrals")
    assert answer.headers["Location"] == "/programme"


@pytest.mark.parametrize("door, other", [("/reader", "/programme"), ("/programme", "/reader")])
def test_a_language_chosen_at_one_door_is_the_other_doors_too(hospital, door, other):
    """A radiologist who also views the programme chooses once: each switch sets the language of every page
    of this server and clears the per-door cookies older versions set, which would otherwise win."""
    client, _db, _clinic, _reader = hospital
    answer = client.get(f"{door}/language?to=zh-CN")
    cookies = answer.headers.getlist("Set-Cookie")
    assert cookies[0].startswith("lang=zh-CN;") and "Path=/;" in cookies[0]
    assert sorted(cookie.split("Path=", 1)[1].split(";", 1)[0] for cookie in cookies[1:]) == ["/programme", "/reader"]
    assert all(cookie.startswith("lang=;") and "Max-Age=0" in cookie for cookie in cookies[1:])
    assert '<html lang="zh-CN">' in client.get(other).get_data(as_text=True)  # the other door's sign-in form
    client.get(f"{other}/language?to=en")
    assert '<html lang="en">' in client.get(door).get_data(as_text=True)
    assert "Set-Cookie" not in client.get(f"{door}/language?to=fr").headers  # an unknown language clears nothing


def test_nothing_identifies_the_patient_on_the_reader_views(hospital):
    client, _db, _clinic, reader = hospital
    sent(hospital, "ILD-AAAAAAAAAA")
    hidden = (PATIENT_CODE, pseudonym(PATIENT_CODE, SECRET))
    for path in ("/api/v1/reader/referrals", "/api/v1/reader/referrals/ILD-AAAAAAAAAA", "/reader/referrals",
                 "/reader/referrals/ILD-AAAAAAAAAA"):
        text = client.get(path, headers=reader).get_data(as_text=True)
        assert "ILD-AAAAAAAAAA" in text and not any(value in text for value in hidden), path


def test_only_readers_see_the_referrals_and_an_unknown_code_is_404(hospital):
    client, _db, clinic, reader = hospital
    sent(hospital, "ILD-AAAAAAAAAA")
    for path in ("/api/v1/reader/referrals", "/api/v1/reader/referrals/ILD-AAAAAAAAAA", "/reader/referrals",
                 "/reader/referrals/ILD-AAAAAAAAAA"):
        for headers in ({}, clinic):
            answer = client.get(path, headers=headers)
            if path.startswith("/reader") and not headers:  # a person's browser: the sign-in form
                assert answer.status_code == 401 and 'id="sign-in"' in answer.get_data(as_text=True), path
                continue
            assert answer.status_code == 401 and answer.json["error"]["code"] == "authentication_failed", path
    for code in ("ILD-ZZZZZZZZZZ", "not-a-code"):
        for path in (f"/api/v1/reader/referrals/{code}", f"/reader/referrals/{code}"):
            assert client.get(path, headers=reader).status_code == 404


def test_a_revoked_referral_shows_as_withdrawn(hospital):
    client, _db, clinic, reader = hospital
    sent(hospital, "ILD-AAAAAAAAAA")
    assert client.post("/api/v1/referrals/ILD-AAAAAAAAAA/revoke", headers=clinic).status_code == 200
    assert client.get("/api/v1/reader/referrals/ILD-AAAAAAAAAA", headers=reader).json["status"] == "revoked"
    page = client.get("/reader/referrals", headers=reader).get_data(as_text=True)
    assert CATALOG["status_revoked"]["en"] in page


def test_a_referral_stored_before_intake_checked_notes_still_shows_its_text_notes(hospital):
    client, db, _clinic, reader = hospital
    code = "ILD-CCCCCCCCCC"
    bundle = sent(hospital, code)[code]
    request = bundle["entry"][0]["resource"]
    kept = request["note"][0]
    request["note"] = [{"authorString": "no text"}, "a string", {"text": 5}, kept,
                       {"extension": [{"url": NOTE_KIND_URL, "valueCode": 7}], "text": "odd kind"}]
    request["reasonCode"] = [{"text": "Screening"}, "not an object"]
    with db.write():  # as an older server stored it, without today's intake checks
        db.execute("UPDATE referrals SET bundle = :bundle WHERE code = :code",
                   {"bundle": json.dumps(bundle), "code": code})
    view = client.get(f"/api/v1/reader/referrals/{code}", headers=reader)
    assert view.status_code == 200
    assert view.json["notes"] == [{"kind": "advice", "text": kept["text"]}, {"kind": None, "text": "odd kind"}]
    assert view.json["reasons"] == ["Screening"]
    assert client.get(f"/reader/referrals/{code}", headers=reader).status_code == 200
    assert client.get("/reader/referrals", headers=reader).status_code == 200


def _note(text: str) -> dict:
    return {"extension": [{"url": NOTE_KIND_URL, "valueCode": "model"}], "text": text}


def _with(change):
    def changed(bundle: dict) -> dict:
        change(bundle["entry"][0]["resource"])
        return bundle
    return changed


REFUSED = {
    "too long": (_with(lambda request: request["note"].append(_note("x" * (MAX_TEXT_CHARS + 1)))),
                 "note[{last}].text", f"{MAX_TEXT_CHARS + 1} characters; at most {MAX_TEXT_CHARS}"),
    "too many": (_with(lambda request: request["note"].extend(_note(f"n{i}") for i in range(MAX_TEXTS))),
                 "note", f"items; at most {MAX_TEXTS}"),
    "bell": (_with(lambda request: request["note"].append(_note("tier \x07high"))),
             "note[{last}].text", "control character U+0007 at character 6"),
    "escape": (_with(lambda request: request["note"].append(_note("\x1b[31mred"))),
               "note[{last}].text", "control character U+001B at character 1"),
    "right-to-left override": (_with(lambda request: request["note"].append(_note("ILD \u202eabsent"))),
                               "note[{last}].text", "control character U+202E"),
    "control in the reason": (_with(lambda request: request["reasonCode"].append({"text": "why\x00"})),
                              "reasonCode[1].text", "control character U+0000"),
    "too many reasons": (_with(lambda request: request["reasonCode"].extend({"text": "r"} for _ in range(MAX_TEXTS))),
                         "reasonCode", f"items; at most {MAX_TEXTS}"),
    "empty note": (_with(lambda request: request["note"].append({"text": "  "})), "note[{last}].text", "required"),
    "note not a list": (_with(lambda request: request.update(note={"text": "x"})), "note", "must be a list"),
    "malformed kind": (_with(lambda request: request["note"].append(
        {"extension": [{"url": NOTE_KIND_URL, "valueCode": "<b>"}], "text": "x"})),
        "note[{last}].extension", "valueCode must match"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_bad_notes_are_refused_at_intake_naming_the_field_and_nothing_stored_changes(hospital, case):
    client, db, clinic, reader = hospital
    code = "ILD-CCCCCCCCCC"
    stored = sent(hospital, code)[code]
    before = db.row("SELECT bundle, bundle_sha256, updated_at FROM referrals WHERE code = :code", {"code": code})
    change, field, reason = REFUSED[case]
    for bad in (change(copy.deepcopy(stored)), change(clinic_bundle("ILD-FFFFFFFFFF"))):
        answer = send(client, clinic, bad)
        assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error", answer.json
        last = len(bad["entry"][0]["resource"]["note"]) - 1 if isinstance(bad["entry"][0]["resource"]["note"], list) \
            else 0
        expected = "entry[0].resource." + field.format(last=last)
        named = {item["field"]: item["reason"] for item in answer.json["error"]["fields"]}
        assert expected in named and reason in named[expected], named
        assert expected in answer.json["error"]["message"]
    # The referral sent before is as it was; the new one was never stored.
    assert db.row("SELECT bundle, bundle_sha256, updated_at FROM referrals WHERE code = :code",
                  {"code": code}) == before
    assert json.loads(before["bundle"]) == stored
    assert db.scalar("SELECT COUNT(*) AS n FROM referrals") == 1
    assert client.get("/api/v1/reader/referrals/ILD-FFFFFFFFFF", headers=reader).status_code == 404


def test_notes_at_the_limits_are_accepted(hospital):
    client, _db, clinic, reader = hospital
    bundle = clinic_bundle("ILD-GGGGGGGGGG")
    notes = notes_of(bundle)
    notes.extend(_note("tab\tand\r\nline breaks are text") for _ in range(MAX_TEXTS - len(notes) - 1))
    notes.append(_note("y" * MAX_TEXT_CHARS))
    assert len(notes) == MAX_TEXTS
    assert send(client, clinic, bundle).status_code == 201
    shown = client.get("/api/v1/reader/referrals/ILD-GGGGGGGGGG", headers=reader).json["notes"]
    assert [note["text"] for note in shown] == [note["text"] for note in notes]


UNUSUAL_LYMPHOCYTES = {"loinc": "26474-7", "analyte": "Lymphocytes", "si_value": 0.4, "si_unit": "10*9/L",
                       "confirmed_unusual": True}
KL6 = {"loinc": None, "analyte": "KL-6", "si_value": 820, "si_unit": "U/mL"}
HOSTILE_UNCERTAINTY = 'Interval <b>wide</b> & "only" labs <script>x()</script>'


def bundle_with_results(code: str) -> dict:
    """The clinic's bundle with the risk's notes (its validation and its uncertainty) and a lymphocyte count
    the nurse confirmed as unusual (a lab Observation's note), as ``imaging_client.referral`` builds it."""
    return build_referral_bundle(referral_code=code, tier="high", patient_code=PATIENT_CODE, birth_year=1952, sex="F",
                                 site_secret=SECRET, assessment={**assessment(), "uncertainty": HOSTILE_UNCERTAINTY},
                                 lab_results=[KL6, UNUSUAL_LYMPHOCYTES])


def test_the_observations_notes_are_shown_in_the_order_sent_as_escaped_text(hospital):
    client, _db, clinic, reader = hospital
    code = "ILD-HHHHHHHHHH"
    bundle = bundle_with_results(code)
    assert send(client, clinic, bundle).status_code == 201
    sent_notes = [{"observation": entry["resource"]["code"]["text"], "code": _programme_code(entry["resource"]),
                   "text": note["text"]}
                  for entry in bundle["entry"] if entry["resource"]["resourceType"] == "Observation"
                  for note in entry["resource"].get("note", [])]
    assert [note["text"] for note in sent_notes] == ["Not validated for clinical use.", HOSTILE_UNCERTAINTY,
                                                     CONFIRMED_UNUSUAL_NOTE]
    view = client.get(f"/api/v1/reader/referrals/{code}", headers=reader).json
    assert view["observation_notes"] == sent_notes
    assert sent_notes[2]["observation"] == "Lymphocytes" and sent_notes[2]["code"] is None  # a LOINC, the clinic's name
    assert [note["code"] for note in sent_notes[:2]] == ["ild-risk", "ild-risk"]

    page = client.get(f"/reader/referrals/{code}", headers=reader).get_data(as_text=True)
    section = page.split('id="observation-notes"', 1)[1]
    assert "<b>wide</b>" not in page and "<script>x()" not in page
    shown = [section.index(_escaped(note["text"])) for note in sent_notes]
    assert shown == sorted(shown) and section.count('class="observation-note"') == 3
    assert section.index("Lymphocytes:") < shown[2] and _escaped(CATALOG["observation_notes"]["en"]) in page
    assert section.count(CATALOG["observation_ild-risk"]["en"] + ":") == 2  # named by the programme's code
    zh = client.get(f"/reader/referrals/{code}", headers={**reader, "Accept-Language": "zh-CN"}).get_data(as_text=True)
    zh_section = zh.split('id="observation-notes"', 1)[1]
    assert CATALOG["observation_notes"]["zh-CN"] in zh
    # The programme's result in the page's language, the lab by the clinic's name; the notes in the clinic's words.
    assert zh_section.count(CATALOG["observation_ild-risk"]["zh-CN"] + "：") == 2 and "Lymphocytes：" in zh_section
    assert "ILD risk estimate" not in zh_section and _escaped(CONFIRMED_UNUSUAL_NOTE) in zh_section

    plain = clinic_bundle("ILD-JJJJJJJJJJ")  # the risk's validation note only, no labs
    assert send(client, clinic, plain).status_code == 201
    assert [note["text"] for note in client.get("/api/v1/reader/referrals/ILD-JJJJJJJJJJ", headers=reader).json[
        "observation_notes"]] == ["Not validated for clinical use."]


def _programme_code(observation: dict) -> str | None:
    return next((coding["code"] for coding in observation["code"].get("coding", [])
                 if coding["system"] == LOCAL_OBSERVATION_SYSTEM), None)


def _observation_with(change):
    """A change to the bundle's last Observation (the confirmed lymphocyte count), and that entry's index."""
    def changed(bundle: dict) -> tuple[dict, int]:
        index = len(bundle["entry"]) - 1
        change(bundle["entry"][index]["resource"])
        return bundle, index
    return changed


OBSERVATION_REFUSED = {
    "bell": (_observation_with(lambda obs: obs["note"].append({"text": "low \x07"})), "note[1].text",
             "control character U+0007 at character 5"),
    "right-to-left override": (_observation_with(lambda obs: obs["note"].insert(0, {"text": "\u202e0.4"})),
                               "note[0].text", "control character U+202E"),
    "too long": (_observation_with(lambda obs: obs["note"].append({"text": "x" * (MAX_TEXT_CHARS + 1)})),
                 "note[1].text", f"at most {MAX_TEXT_CHARS}"),
    "too many": (_observation_with(lambda obs: obs["note"].extend({"text": "n"} for _ in range(MAX_TEXTS))),
                 "note", f"items; at most {MAX_TEXTS}"),
    "empty": (_observation_with(lambda obs: obs["note"].append({"text": " "})), "note[1].text", "required"),
    "not a list": (_observation_with(lambda obs: obs.update(note="checked")), "note", "must be a list"),
    "name with a control character": (_observation_with(lambda obs: obs["code"].update(text="Lymph\x1bocytes")),
                                      "code.text", "control character U+001B"),
    "name not text": (_observation_with(lambda obs: obs["code"].update(text=["Lymphocytes"])), "code.text",
                      "must be text"),
}


@pytest.mark.parametrize("case", OBSERVATION_REFUSED)
def test_bad_observation_notes_are_refused_at_intake_naming_the_field_and_nothing_is_stored(hospital, case):
    client, db, clinic, reader = hospital
    change, field, reason = OBSERVATION_REFUSED[case]
    bad, index = change(bundle_with_results("ILD-KKKKKKKKKK"))
    answer = send(client, clinic, bad)
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error", answer.json
    named = {item["field"]: item["reason"] for item in answer.json["error"]["fields"]}
    expected = f"entry[{index}].resource.{field}"
    assert expected in named and reason in named[expected], named
    assert db.scalar("SELECT COUNT(*) AS n FROM referrals") == 0
    assert client.get("/api/v1/reader/referrals/ILD-KKKKKKKKKK", headers=reader).status_code == 404
