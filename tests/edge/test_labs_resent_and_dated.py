"""A lab panel sent again (a tablet's or LIS's retry after a timeout) is stored once, by every way
panels come in (JSON, FHIR Bundle, file), answered 200 with what the visit holds, as a recording sent
again is; a panel that differs in any result is a new entry. A result's collected_at is a FHIR
dateTime on or before the visit's date (plus one day), refused otherwise with a 422 naming the field,
and the tablet's import says so in the nurse's language; rows stored before keep their text."""
import datetime as dt
import html

import pytest

from edge import labs
from edge.web.i18n import translate
from test_lab_unit_check_entry import USUAL, labs_audit, tablet_visit, visit_id  # noqa: F401 (visit_id: a fixture)
from test_lab_unit_check_import import bundle, import_on_tablet, upload


def rows(db, visit_id):
    return db.execute("SELECT analyte, value, unit, collected_at FROM lab_results WHERE visit_id = ? ORDER BY id",
                      [visit_id]).fetchall()


def visit_day(client, nurse, visit_id) -> dt.date:
    return dt.date.fromisoformat(client.get(f"/api/v1/visits/{visit_id}", headers=nurse).json["started_at"][:10])


def dated_bundle(when: str) -> dict:
    sent = bundle(*USUAL)
    for entry in sent["entry"]:
        entry["resource"]["effectiveDateTime"] = when
    return sent


CSV = b"analyte,value,unit,date\nhgb,12.5,g/dL,2026-01-05\ncreatinine,80,umol/L,2026-01-05\n"
# Each way a panel comes in, sending the same panel: (route, how it is sent).
WAYS = {
    "json": lambda client, nurse, visit_id: client.post(
        f"/api/v1/visits/{visit_id}/labs", headers=nurse,
        json={"results": [{**entry, "collected_at": "2026-01-05T08:30:00+08:00"} for entry in USUAL]}),
    "fhir": lambda client, nurse, visit_id: client.post(
        f"/api/v1/visits/{visit_id}/labs/fhir", headers=nurse, json=dated_bundle("2026-01-05")),
    "file": lambda client, nurse, visit_id: upload(client, nurse, visit_id, CSV),
}


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_panel_sent_again_stores_nothing_and_answers_200_with_the_stored_panel(client, nurse, visit_id, db, way):
    first = WAYS[way](client, nurse, visit_id)
    assert first.status_code == 201, first.json
    stored, audited = rows(db, visit_id), labs_audit(db)
    again = WAYS[way](client, nurse, visit_id)
    assert again.status_code == 200, again.json
    assert again.json == first.json  # the same rows (ids too) and score
    assert rows(db, visit_id) == stored and len(stored) == 2 and labs_audit(db) == audited == [{"results": 2}]


def test_a_panel_that_differs_in_one_result_is_a_new_entry_and_its_value_is_the_one_shown(client, nurse, visit_id, db):
    send = WAYS["json"]
    assert send(client, nurse, visit_id).status_code == 201
    corrected = [{**USUAL[0], "value": 12.9}, USUAL[1]]
    answer = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse, json={"results": corrected})
    assert answer.status_code == 201 and len(rows(db, visit_id)) == 4  # stored whole, as before
    assert labs_audit(db) == [{"results": 2}, {"results": 2}]
    shown = {row["analyte"]: row["value"] for row in labs.newest_of_each_analyte(answer.json["results"])}
    assert shown == {"hgb": 12.9, "creatinine": 80.0}
    resent = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse, json={"results": corrected})
    assert resent.status_code == 200 and len(rows(db, visit_id)) == 4  # the correction sent again: a repeat
    # The first panel sent after the correction differs from what counts now: stored, and counts again.
    assert send(client, nurse, visit_id).status_code == 201 and len(rows(db, visit_id)) == 6


@pytest.mark.parametrize(("when", "reason"), [
    ("yesterday", labs.NOT_A_SAMPLE_TIME), ("2026-02-30", labs.NOT_A_SAMPLE_TIME),
    ("2026-01-05T08:30:00", labs.NOT_A_SAMPLE_TIME),  # a time without its zone (FHIR requires one)
    ("05/01/2026", labs.NOT_A_SAMPLE_TIME), ("2099-01-01", labs.SAMPLE_AFTER_VISIT),
])
def test_the_api_refuses_a_collected_at_that_is_not_a_date_or_after_the_visit(client, nurse, visit_id, db, when, reason):
    sent = [USUAL[0], {**USUAL[1], "collected_at": when}]
    refused = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse, json={"results": sent})
    assert refused.status_code == 422, refused.json
    error = refused.json["error"]
    assert error["fields"] == [{"field": "results.1.collected_at", "reason": reason}]
    assert repr(when) in error["message"] and "creatinine" in error["message"]
    assert rows(db, visit_id) == [] and labs_audit(db) == []


def test_the_visit_day_plus_one_is_taken_and_the_day_after_is_not(client, nurse, visit_id, db):
    day = visit_day(client, nurse, visit_id)
    late = f"{day + dt.timedelta(days=2)}T00:00:00Z"
    refused = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                          json={"results": [{**USUAL[0], "collected_at": late}]})
    assert refused.status_code == 422 and refused.json["error"]["fields"][0]["reason"] == labs.SAMPLE_AFTER_VISIT
    taken = [f"{day + dt.timedelta(days=1)}T23:59:59+14:00", day.isoformat(), str(day.year), "2019-06"]
    for value, when in zip((12.1, 12.2, 12.3, 12.4), taken):
        saved = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                            json={"results": [{**USUAL[0], "value": value, "collected_at": when}]})
        assert saved.status_code == 201, (when, saved.json)
    assert [row[3] for row in rows(db, visit_id)] == taken  # stored as written


def test_a_fhir_bundle_and_a_csv_name_their_own_field(client, nurse, visit_id, db):
    fhir = client.post(f"/api/v1/visits/{visit_id}/labs/fhir", headers=nurse, json=dated_bundle("last week"))
    assert fhir.status_code == 422
    assert fhir.json["error"]["fields"] == [{"field": "effectiveDateTime", "reason": labs.NOT_A_SAMPLE_TIME}]
    csv = upload(client, nurse, visit_id, CSV.replace(b"2026-01-05\nc", b"2099-01-05\nc"))
    assert csv.status_code == 422
    assert csv.json["error"]["fields"] == [{"field": "date", "reason": labs.SAMPLE_AFTER_VISIT}]
    assert "'2099-01-05'" in csv.json["error"]["message"] and rows(db, visit_id) == []


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize(("date", "key"), [("2099-01-05", "err_lab_collected_at_after_visit"),
                                           ("yesterday", "err_lab_collected_at_unreadable")])
def test_the_tablet_import_says_what_is_wrong_with_the_date_in_her_language(ui, db, lang, date, key):
    client, _ = ui
    client.set_cookie("lang", lang)
    visit_id, csrf = tablet_visit(client)
    location = import_on_tablet(client, csrf, visit_id, CSV.replace(b"2026-01-05\nc", date.encode() + b"\nc"))
    assert date not in location.headers["Location"]  # what the file says stays out of the URL
    page = client.get(location.headers["Location"]).get_data(as_text=True)
    message = html.unescape(page.split('id="labs-error">')[1].split("</p>")[0])
    assert message == translate(key, lang) and rows(db, visit_id) == []


def test_a_row_stored_before_with_free_text_keeps_it_and_the_visit_still_shows(client, nurse, visit_id, db, ui):
    assert WAYS["json"](client, nurse, visit_id).status_code == 201
    db.execute("UPDATE lab_results SET collected_at = 'yesterday' WHERE visit_id = ?", [visit_id])
    db.conn.commit()
    listed = client.get(f"/api/v1/visits/{visit_id}/labs", headers=nurse)
    assert listed.status_code == 200 and {r["collected_at"] for r in listed.json["results"]} == {"yesterday"}
    assert client.get(f"/visits/{visit_id}").status_code == 200
    # Sent again with the old text: refused as any new result with it is; the stored rows are kept.
    again = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                        json={"results": [{**entry, "collected_at": "yesterday"} for entry in USUAL]})
    assert again.status_code == 422 and len(rows(db, visit_id)) == 2
