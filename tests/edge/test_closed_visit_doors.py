"""A closed visit answers "closed" at every door (brief h114, point 1), against a real ``ildscreen serve`` and
its SQLite file: a lab file import, a breath upload and a lung-sound take (upload and the tablet's microphone)
posted from a page shown before the visit closed come back on the visit page (409) saying it is closed, beside
the step, whatever the file (a good one or one the step would refuse), and nothing is stored; the microphone's
script gets 409 ``visit_closed`` with the words it shows. One rule decides (edge.patients.require_open_visit):
the API answers 409 ``visit_closed`` at its doors too.

A referral: a completed visit whose result is current is referred (finishing closes the checklist; the result's
advice is what the referral acts on), a cancelled one is not (409 ``visit_closed``, the tablet's page saying so
with the reason as typed and what to do), and nothing is sent.
"""
from __future__ import annotations

import re
import sqlite3

import pytest
from markupsafe import escape

from served import serving_nurse
from support import wav_bytes
from test_breath_api import breath_csv
from test_tablet_input_limits import NURSE_PASSWORD, Tablet, assessed_visit, closed_visit
from edge import outbox
from edge.web.i18n import CATALOG

CLOSED = {lang: str(escape(CATALOG["err_visit_closed"][lang])) for lang in ("en", "zh-CN")}
# Each door of a step: its route, the page's id for the answer, a file the step would store, one it refuses.
DOORS = {
    "labs": ("labs/file", "labs-closed", ("panel.csv", b"analyte,value,unit\ncrp,4,mg/L\n"),
             ("panel.csv", b"name,value\nhgb,1\n")),
    "breath": ("breath", "breath-closed", ("reading.csv", breath_csv().encode()), ("reading.csv", b"not,a,reading\n")),
    "take": ("recordings", "auscultation-closed", ("take.wav", wav_bytes(seconds=8)), ("take.wav", b"RIFF....")),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serving_nurse(tmp_path_factory.mktemp("served") / "data", NURSE_PASSWORD)


def stored(served) -> dict:
    with sqlite3.connect(served.data_dir / "ildscreen.db") as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("lab_results", "breath_readings", "recordings", "referrals")}


def post_file(tablet: Tablet, path: str, file: tuple[str, bytes], *, fetch: bool = False, **form):
    return tablet.session.post(
        f"{tablet.url}{path}", data={"csrf_token": tablet.csrf, "chest_site": "posterior_left_base", **form},
        files={"file": file}, allow_redirects=False, timeout=60,
        headers={"X-Requested-With": "fetch"} if fetch else {})


@pytest.mark.parametrize("status", ["close", "finish"])
@pytest.mark.parametrize("good", [True, False], ids=["file", "refused_file"])
@pytest.mark.parametrize("door", list(DOORS))
def test_a_file_sent_to_a_closed_visit_is_answered_that_it_is_closed_on_its_page(served, door, good, status):
    lang = "zh-CN" if door == "breath" else "en"
    tablet = Tablet(served, lang)
    visit = assessed_visit(tablet, f"H114-{door}-{good}-{status}")
    page = tablet.get(f"/visits/{visit['id']}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert tablet.post(f"/visits/{visit['id']}/status", {"action": status, "version": version}).status_code == 302
    route, answer_id, file, refused = DOORS[door]
    before = stored(served)

    answer = post_file(tablet, f"/visits/{visit['id']}/{route}", file if good else refused)

    assert answer.status_code == 409
    assert f'id="{answer_id}">{CLOSED[lang]}</p>' in answer.text and 'id="visit-closed"' in answer.text
    assert answer.text.count('class="field-error"') == 1  # that one: nothing about the file
    assert stored(served) == before


@pytest.mark.parametrize("good", [True, False], ids=["take", "refused_take"])
def test_a_microphone_take_to_a_closed_visit_answers_its_script_that_it_is_closed(served, good):
    tablet = Tablet(served, "zh-CN")
    visit = closed_visit(tablet, f"H114-MIC-{good}")
    before = stored(served)
    answer = post_file(tablet, f"/visits/{visit['id']}/recordings", DOORS["take"][2 if good else 3], fetch=True,
                       source="microphone")
    assert answer.status_code == 409
    assert answer.json() == {"error": {"code": "visit_closed", "message": CATALOG["err_visit_closed"]["zh-CN"]}}
    assert stored(served) == before


def test_the_api_answers_visit_closed_at_every_door(served):
    tablet = Tablet(served)
    visit = closed_visit(tablet, "H114-API")
    before = stored(served)
    for route, _, file, _ in DOORS.values():
        answer = tablet.session.post(f"{tablet.url}/api/v1/visits/{visit['id']}/{route}", files={"file": file},
                                     data={"chest_site": "posterior_left_base"} if route == "recordings" else {},
                                     headers={"X-CSRF-Token": tablet.csrf}, timeout=60)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "visit_closed", (route, answer.text)
        assert f"visit {visit['id']} is cancelled" in answer.json()["error"]["message"]
    assert stored(served) == before


def test_a_completed_visit_with_a_current_result_is_referred(served):
    """Finishing closes the checklist, not the result's advice: referring it needs no new visit."""
    tablet = Tablet(served)
    visit = assessed_visit(tablet, "H114-REF-DONE")
    tablet.api("PATCH", f"/visits/{visit['id']}", {"status": "completed", "version": visit["version"]})
    referral = tablet.api("POST", f"/visits/{visit['id']}/referrals", {"reason": "new cough"})
    assert referral["visit_id"] == visit["id"] and referral["status"] == "queued"


def test_a_cancelled_visit_is_not_referred(served):
    tablet = Tablet(served)
    visit = assessed_visit(tablet, "H114-REF-CANCELLED")
    page = tablet.get(f"/visits/{visit['id']}").text
    shown = re.search(r'name="assessment_id" value="(\d+)"', page).group(1)
    tablet.api("PATCH", f"/visits/{visit['id']}", {"status": "cancelled", "version": visit["version"]})
    before = stored(served)

    api = tablet.session.post(f"{tablet.url}/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                              headers={"X-CSRF-Token": tablet.csrf}, timeout=30)
    page = tablet.post(f"/visits/{visit['id']}/refer", {"reason": "new cough", "assessment_id": shown})

    assert api.status_code == 409 and api.json()["error"]["code"] == "visit_closed"
    assert f"visit {visit['id']} is cancelled" in api.json()["error"]["message"]
    assert page.status_code == 409  # the form of a page shown before it was cancelled: said, as typed
    assert f'id="refer-closed">{escape(CATALOG["err_refer_visit_cancelled"]["en"])}</p>' in page.text
    assert "<q>new cough</q>" in page.text
    assert stored(served) == before


def test_the_tablet_refers_a_completed_visit_from_its_page(served):
    """Finished before the referral was sent: the page still offers it (no draft kept: a reason over the
    limit comes back in the answer beside the form, as typed, naming the limit), and it is sent."""
    tablet = Tablet(served)
    visit = assessed_visit(tablet, "H114-REF-TABLET")
    page = tablet.get(f"/visits/{visit['id']}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert tablet.post(f"/visits/{visit['id']}/status", {"action": "finish", "version": version}).status_code == 302
    page = tablet.get(f"/visits/{visit['id']}").text
    assert 'id="visit-closed"' in page and 'id="refer-form"' in page and "data-lock-draft" not in page
    shown = re.search(r'name="assessment_id" value="(\d+)"', page).group(1)
    typed = "new cough and breathlessness on the stairs " * 15
    before = stored(served)

    long = tablet.post(f"/visits/{visit['id']}/refer", {"reason": typed, "assessment_id": shown})

    assert long.status_code == 422 and 'id="refer-form"' in long.text and 'id="refer-closed"' not in long.text
    assert 'id="refer-reason-error">' in long.text and f"at most {outbox.MAX_REASON_CHARS}" in long.text
    assert f'aria-describedby="refer-reason-error">{escape(typed)}</textarea>' in long.text
    assert stored(served) == before
    sent = tablet.post(f"/visits/{visit['id']}/refer", {"reason": "new cough", "assessment_id": shown})
    assert sent.status_code == 302
    assert stored(served)["referrals"] == before["referrals"] + 1
