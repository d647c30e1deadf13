"""The tablet's input limits and the answers a hand-made post gets (brief h101), against a real
``ildscreen serve``: a PIN longer than any PIN is never hashed and answers as a wrong one; each
limited input carries the server's own limit as its ``maxlength``; a lung-function value over its
limit is refused whole, as typed, never cut; an unknown finish/close action and a referral typed on a
visit closed meanwhile come back on the visit page, in words, instead of a bare error page. So do a
lab value over its limit (brief h105), naming its analyte, and lab or lung-function values sent on a
visit closed meanwhile, as typed; the notes stop at the draft's limit, and an autosave over it is said.
"""
from __future__ import annotations

import re
import sqlite3

import pytest
import requests
from markupsafe import escape

from common.passwords import MAX_PASSWORD_LENGTH
from edge import auth, outbox, patients
from edge.freshness import CHANGE_KINDS
from edge.schemas import ErrorBody, ResultFreshness
from edge.users import PIN_LENGTHS
from edge.web.i18n import CATALOG, LABEL_SEPARATORS
from edge.web.views import LAB_FORM_ANALYTES
from edge.web.visit_views import VALUE_MAX_CHARS
from served import ServedProcess, serving_nurse
from support import PASSWORD, birth_year_for_age

NURSE_PASSWORD = "nurse password 1"
PIN = "4071"
PATIENT = {"code": "H101-0001", "birth_year": birth_year_for_age(70), "sex": "F", "ctd_diagnosis": "SLE",
           "autoantibodies": [], "smoking": "never", "symptoms": []}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serving_nurse(tmp_path_factory.mktemp("served") / "data", NURSE_PASSWORD)


class Tablet:
    """A browser session of nurse1 on the served tablet, its pages in ``lang``: its CSRF token, and posts
    as its forms send them."""

    def __init__(self, served: ServedProcess, lang: str = "en"):
        self.url = served.url
        self.session = requests.Session()
        self.session.cookies.set("lang", lang)
        self.csrf = self.session.post(f"{self.url}/api/v1/auth/login", timeout=10,
                                      json={"username": "nurse1", "password": NURSE_PASSWORD}).json()["csrf_token"]

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=10)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.session.post(self.url + path, data={"csrf_token": self.csrf, **data}, allow_redirects=False,
                                 timeout=30)

    def api(self, method: str, path: str, body: dict) -> dict:
        answer = self.session.request(method, f"{self.url}/api/v1{path}", json=body,
                                      headers={"X-CSRF-Token": self.csrf}, timeout=30)
        assert answer.status_code < 300, answer.text
        return answer.json()


def locked_tablet(served) -> Tablet:
    """nurse1 with a PIN, her tablet locked on the home page."""
    tablet = Tablet(served)
    assert tablet.post("/account/pin", {"pin_password": NURSE_PASSWORD, "pin": PIN, "repeat_pin": PIN}).status_code == 302
    assert tablet.post("/lock", {"next": "/"}).headers["Location"] == "/unlock?next=/"
    return tablet


def test_a_pin_longer_than_any_pin_answers_and_counts_as_a_wrong_pin(served):
    """Counted, like any guess posted to a locked session: its answer (attempts left) is a wrong PIN's,
    and the fifth wrong answer, overlong or not, ends the session."""
    tablet = locked_tablet(served)
    overlong = "7" * 1_000_000
    for left, pin in zip((4, 3, 2, 1), ("9999", overlong, "9" * (PIN_LENGTHS.stop), overlong)):
        answer = tablet.post("/unlock", {"pin": pin})
        assert answer.status_code == 401 and f"Attempts left before the session ends: {left}." in answer.text
    ended = tablet.post("/unlock", {"pin": overlong})
    assert ended.status_code == 302 and ended.headers["Location"] == "/login?pin_ended=1"
    assert tablet.post("/unlock", {"pin": PIN}).headers["Location"].startswith("/login")  # over: the password it is


def test_a_pin_of_a_length_no_pin_has_is_never_hashed(ui, monkeypatch):
    client, csrf = ui
    client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, "pin": PIN, "repeat_pin": PIN})
    client.post("/lock", data={"csrf_token": csrf, "next": "/"})
    hashed = []
    checked = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda stored, pin: hashed.append(len(pin)) or checked(stored, pin))
    for pin in ("7" * 100_000, "9" * PIN_LENGTHS.stop, "9999"):
        assert client.post("/unlock", data={"csrf_token": csrf, "pin": pin}).status_code == 401
    assert hashed == [4]  # only the PIN that could be one
    assert client.post("/unlock", data={"csrf_token": csrf, "pin": PIN}).status_code == 302


def maxlength_of(page: str, name: str) -> str:
    """The ``maxlength`` of the page's input or textarea named ``name`` ('' when it has none)."""
    tag = re.search(rf'<(?:input|textarea)[^>]*\bname="{name}"[^>]*>', page)
    assert tag, f"no field {name!r}"
    found = re.search(r'\bmaxlength="(\d+)"', tag.group(0))
    return found.group(1) if found else ""


def assessed_visit(tablet: Tablet, code: str) -> dict:
    patient = tablet.api("POST", "/patients", {**PATIENT, "code": code})
    visit = tablet.api("POST", f"/patients/{patient['id']}/visits", {})
    tablet.api("POST", f"/visits/{visit['id']}/assessments", {})
    return visit


def test_each_limited_input_carries_the_servers_own_limit(served):
    """The browser stops typing where the server would refuse: the numbers are the server's constants."""
    login_page = requests.get(served.url + "/login", timeout=10).text
    assert maxlength_of(login_page, "password") == str(MAX_PASSWORD_LENGTH)
    tablet = Tablet(served)
    account = tablet.get("/account/password").text
    for name in ("current_password", "new_password", "repeat_password", "pin_password"):
        assert maxlength_of(account, name) == str(MAX_PASSWORD_LENGTH), name
    assert maxlength_of(account, "pin") == maxlength_of(account, "repeat_pin") == str(PIN_LENGTHS.stop - 1)
    visit = assessed_visit(tablet, "H101-0002")
    page = tablet.get(f"/visits/{visit['id']}").text
    assert maxlength_of(page, "fvc_percent") == maxlength_of(page, "dlco_percent") == str(VALUE_MAX_CHARS)
    for analyte in LAB_FORM_ANALYTES:
        assert maxlength_of(page, f"lab_{analyte['key']}") == str(VALUE_MAX_CHARS), analyte["key"]
    assert maxlength_of(page, "notes") == str(patients.DRAFT_MAX_VALUE)  # autosaved: the draft's own limit
    assert maxlength_of(page, "reason") == str(outbox.MAX_REASON_CHARS)  # the referral's reason (low risk)
    tablet.api("POST", f"/visits/{visit['id']}/referrals", {"reason": "new cough"})
    assert maxlength_of(tablet.get(f"/visits/{visit['id']}").text, "reason") == str(outbox.MAX_REASON_CHARS)  # withdraw
    locked = locked_tablet(served)
    assert maxlength_of(locked.get("/unlock").text, "pin") == str(PIN_LENGTHS.stop - 1)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_lung_function_value_over_the_limit_is_refused_as_typed_never_cut(served, lang):
    tablet = Tablet(served, lang)
    visit = assessed_visit(tablet, f"H101-LF-{lang}")
    typed = "85" + " " * 10 + "percent predicted"  # pasted from a report: longer than the limit
    assert len(typed) > VALUE_MAX_CHARS
    refused = tablet.post(f"/visits/{visit['id']}/lung-function", {"fvc_percent": typed, "dlco_percent": "61"})
    message = str(escape(CATALOG["err_lung_value_too_long"][lang].format(max=VALUE_MAX_CHARS)))
    assert refused.status_code == 422 and f'id="lung-error">{message}</p>' in refused.text
    assert f'value="{typed}"' in refused.text and 'value="61"' in refused.text  # as sent, whole
    # Nothing stored, nothing kept: the page shows the form empty again.
    assert not any(key.startswith("lung_") for key in tablet.api("GET", f"/visits/{visit['id']}", None)["draft"])
    again = tablet.get(f"/visits/{visit['id']}").text
    assert re.search(r'name="fvc_percent"[^>]*value=""', again) and re.search(r'name="dlco_percent"[^>]*value=""', again)
    # Within the limit, a value that is not a number still comes back from the visit's draft, whole.
    short = tablet.post(f"/visits/{visit['id']}/lung-function", {"fvc_percent": "85 percent", "dlco_percent": ""})
    assert short.status_code == 302 and "lung_error=err_lung_function" in short.headers["Location"]
    assert 'value="85 percent"' in tablet.get(short.headers["Location"]).text


def test_an_unknown_finish_or_close_action_answers_the_visit_page_in_words(served):
    tablet = Tablet(served)
    visit = assessed_visit(tablet, "H101-0003")
    page = tablet.get(f"/visits/{visit['id']}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    answer = tablet.post(f"/visits/{visit['id']}/status", {"action": "archive", "version": version})
    message = str(escape(CATALOG["err_visit_action"]["en"]))
    assert answer.status_code == 422 and f'id="status-error">{message}</p>' in answer.text
    assert 'id="finish-button"' in answer.text  # the visit, still open, with its buttons
    assert tablet.api("GET", f"/visits/{visit['id']}", None)["status"] == "open"


def test_a_referral_typed_on_a_visit_closed_meanwhile_comes_back_as_typed_saying_so(served):
    """Closed in another tab after this page was shown: the visit keeps no draft, so the refused reason
    (over the limit) comes back in the answer, not as a bare 409 page."""
    tablet = Tablet(served)
    visit = assessed_visit(tablet, "H101-0004")
    page = tablet.get(f"/visits/{visit['id']}").text
    shown = re.search(r'name="assessment_id" value="(\d+)"', page).group(1)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert tablet.post(f"/visits/{visit['id']}/status", {"action": "close", "version": version}).status_code == 302
    typed = "new cough and breathlessness on the stairs " * 15
    answer = tablet.post(f"/visits/{visit['id']}/refer", {"reason": typed, "assessment_id": shown})
    assert answer.status_code == 409
    assert f'id="refer-closed">{escape(CATALOG["err_refer_visit_cancelled"]["en"])}</p>' in answer.text
    assert f'<q>{escape(typed)}</q>' in answer.text and 'id="visit-closed"' in answer.text
    referrals = tablet.api("GET", "/referrals", None)["referrals"]
    assert not [referral for referral in referrals if referral["visit_id"] == visit["id"]]  # nothing sent


def test_what_changed_since_a_result_is_never_said_to_be_at_the_visit():
    """An earlier visit's blood count, outcomes and the end of monitoring are not at the visit: the visit
    page's out-of-date line, its label for each kind and the API's description of ``changed`` say none is."""
    for lang in ("en", "zh-CN"):
        for key in ("result_out_of_date", *(f"changed_{kind}" for kind in CHANGE_KINDS)):
            assert "at the visit" not in CATALOG[key][lang] and "本次就诊" not in CATALOG[key][lang], key
    for described in (ResultFreshness, ErrorBody):
        assert "at the visit or on the patient's record" in described.model_fields["changed"].description


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_lab_value_over_the_limit_is_refused_as_typed_naming_it_never_cut(served, lang):
    tablet = Tablet(served, lang)
    visit = assessed_visit(tablet, f"H105-LAB-{lang}")
    typed = "132" + " " * 10 + "g/L (ref 115-150)"  # pasted from a report: longer than the limit
    assert len(typed) > VALUE_MAX_CHARS
    refused = tablet.post(f"/visits/{visit['id']}/labs", {"lab_hgb": typed, "unit_hgb": "g/L", "lab_crp": "4",
                                                          "unit_crp": "mg/L"})
    message = str(escape(CATALOG["err_lab_value_too_long"][lang].format(max=VALUE_MAX_CHARS)))
    name = str(escape(CATALOG["analyte_hgb"][lang]))
    assert refused.status_code == 422 and f'id="lab-error-hgb">{message}</span>' in refused.text
    assert f'href="#lab_hgb">{name}{LABEL_SEPARATORS[lang]}{message}</a>' in refused.text  # the summary names the analyte
    assert "lab-error-crp" not in refused.text
    assert f'value="{typed}"' in refused.text and re.search(r'name="lab_crp"[^>]*value="4"', refused.text)
    # Nothing stored, nothing kept: the page shows the form empty again.
    assert tablet.api("GET", f"/visits/{visit['id']}/labs", None)["results"] == []
    assert not any(key.startswith(("lab_", "unit_")) for key in tablet.api("GET", f"/visits/{visit['id']}", None)["draft"])
    assert re.search(r'name="lab_hgb"[^>]*value=""', tablet.get(f"/visits/{visit['id']}").text)
    # A unit no select offers, over the limit (a hand-made post), is refused naming its analyte too.
    unit = tablet.post(f"/visits/{visit['id']}/labs", {"lab_crp": "4", "unit_crp": "m" * 1000})
    assert unit.status_code == 422 and f'id="lab-error-crp">{message}</span>' in unit.text


def closed_visit(tablet: Tablet, code: str) -> dict:
    """A visit whose page was shown, then closed in another tab."""
    visit = assessed_visit(tablet, code)
    version = re.search(r'name="version" value="(\d+)"', tablet.get(f"/visits/{visit['id']}").text).group(1)
    assert tablet.post(f"/visits/{visit['id']}/status", {"action": "close", "version": version}).status_code == 302
    return visit


# Saved, refused as out of range (kept in the draft, were it open), or over the limit (a hand-made post):
# a closed visit's page shows no form to put a value's error beside, so the visit's state is answered first.
@pytest.mark.parametrize("fvc", ["85", "850", "8" * (VALUE_MAX_CHARS + 1)])
def test_lung_function_sent_on_a_visit_closed_meanwhile_comes_back_as_typed_saying_so(served, fvc):
    tablet = Tablet(served)
    visit = closed_visit(tablet, f"H105-LF-{fvc}")
    answer = tablet.post(f"/visits/{visit['id']}/lung-function", {"fvc_percent": fvc, "dlco_percent": "61"})
    assert answer.status_code == 409
    assert f'id="lung-error">{escape(CATALOG["err_visit_closed"]["en"])}</p>' in answer.text
    assert f"<q>{fvc}</q>" in answer.text and "<q>61</q>" in answer.text and 'id="visit-closed"' in answer.text
    with sqlite3.connect(served.data_dir / "ildscreen.db") as db:  # nothing stored
        stored = db.execute("SELECT lung_function FROM visits WHERE id = ?", [visit["id"]]).fetchone()[0]
    assert "85" not in (stored or "")


# Saved, refused as not a number, or over the limit (a hand-made post; brief h109: the closed visit answered
# a 422 whose error sat beside a lab form its page does not show): that the visit is closed is said.
@pytest.mark.parametrize("crp", ["4", "four", "4" * (VALUE_MAX_CHARS + 1)])
def test_labs_sent_on_a_visit_closed_meanwhile_come_back_as_typed_saying_so(served, crp):
    tablet = Tablet(served, "zh-CN")
    visit = closed_visit(tablet, f"H105-LABS-{crp}")
    answer = tablet.post(f"/visits/{visit['id']}/labs", {"lab_crp": crp, "unit_crp": "mg/L"})
    assert answer.status_code == 409
    assert f'id="labs-closed">{escape(CATALOG["err_visit_closed"]["zh-CN"])}</p>' in answer.text
    assert f'{escape(CATALOG["analyte_crp"]["zh-CN"])} <q>{crp}</q> mg/L' in answer.text
    assert answer.text.count('class="field-error"') == 1  # that one: no value's error
    assert tablet.api("GET", f"/visits/{visit['id']}/labs", None)["results"] == []


def test_an_autosave_over_the_drafts_limit_is_refused_and_the_page_carries_what_to_say(served):
    """The notes (and every autosaved field) stop at the draft's limit; a longer one (a script, an old
    page) is refused, nothing kept, and static/app.js shows the page's words for it."""
    tablet = Tablet(served)
    visit = assessed_visit(tablet, "H105-NOTES")
    page = tablet.get(f"/visits/{visit['id']}").text
    words = str(escape(CATALOG["err_draft_not_saved"]["en"].format(max=patients.DRAFT_MAX_VALUE)))
    assert f'data-draft-refused="{words}"' in page
    answer = tablet.session.post(f"{tablet.url}/visits/{visit['id']}/draft", timeout=10,
                                 json={"draft": {"notes": "n" * (patients.DRAFT_MAX_VALUE + 1)}},
                                 headers={"X-CSRF-Token": tablet.csrf, "X-Requested-With": "fetch"})
    assert answer.status_code == 422 and "notes" not in tablet.api("GET", f"/visits/{visit['id']}", None)["draft"]
