"""A hospital reader's worklist and referral page in Debian's Chromium against a real ``ildscreen
imaging-server serve`` that received a referral as the clinic's ``imaging_client.referral`` builds it
(HRCT reads that disagree, a clinician's reason holding markup): the reader signs in through the
``/reader`` form with the password the operator's command set (the cookie a session id, not the
token), the worklist marks the disagreeing reads, the referral page shows every note in the order sent, the advice first, as the very text sent
(the markup as characters: no element made, no script run, nothing requested elsewhere), in English
and Chinese (no English word left but the clinic's own) and switched between them on the page, with
axe-core and the 44 px check; an unknown referral code answers a page saying so, which leads back to the
worklist; signing
out ends the session, and the referral's link opened signed out leads to it once signed in. The pages met when
there is nothing right to show pass the same checks: a worklist link with a bad filter (422, its way back a
44 px button, the parameters' names kept in Latin on a Chinese page) and a referral whose stored bundle cannot
be read (500). Screenshots: test-artifacts/e2e/<lang>/."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from e2e_support import ARTIFACTS
from edge.fusion.monitoring import discordant_hrct
from imaging_client.referral import build_referral_bundle
from common.i18n import LABEL_SEPARATORS
from imaging_server.programme_i18n import CATALOG
from tablet import page_problems
from support import clean_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging_server"))
from test_ct_serve_process import CtServer, ildscreen  # noqa: E402

CODE = "ILD-BBBBBBBBBB"
UNREADABLE_CODE = "ILD-CCCCCCCCCC"  # a referral whose stored bundle the fixture damages (a hand-edited row)
PASSWORD = "a long reader password"
REASON = 'Second opinion <img src="/x" onerror="alert(1)"> & <b>both</b> reads'
ASSESSMENT = {
    "probability": 0.42, "tier": "high", "contributions": {},
    "recommendation": {"advice": "monitoring", "priority": "routine",
                       "text": "ILD is confirmed: monitor it. PFTs every 3-6 months.\nSecond line.",
                       "discordant_hrct": discordant_hrct({"date": "2025-05-01"},
                                                          {"date": "2026-03-01", "ild": "absent"}),
                       "guideline": {"code": "ssc", "line": "Systemic sclerosis: screen with HRCT and PFTs.",
                                     "source": "Johnson SR et al. 2023 ACR/CHEST"}},
    "validation": {"note": "Not validated for clinical use.", "models": {}},
    # The risk Observation's second note: the clinic's words, markup included, shown as characters.
    "uncertainty": 'Interval <img src="/y" onerror="alert(2)"> wide',
}


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")
    data = ["--data-dir", str(root / "hospital")]
    clinic = ildscreen("imaging-server", "clinics", "add", "clinic-north", *data, env=env).stdout.strip()
    reader = ildscreen("imaging-server", "readers", "add", "dr-wang", *data, env=env).stdout.strip()
    subprocess.run([sys.executable, "-m", "edge", "imaging-server", "readers", "set-password", "dr-wang",
                    "--password-stdin", *data], input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                   env=env, timeout=60)
    server = CtServer(root / "hospital", env, "--no-watch")
    bundle = build_referral_bundle(referral_code=CODE, tier="high", patient_code="CL01-0042", birth_year=1952,
                                   sex="F", site_secret=b"s" * 32, assessment=ASSESSMENT, reason=REASON)
    answer = requests.post(server.url + "/api/v1/referrals", json=bundle, timeout=30,
                           headers={"Authorization": f"Bearer {clinic}", "Idempotency-Key": CODE})
    assert answer.status_code == 201, answer.text
    damaged = build_referral_bundle(referral_code=UNREADABLE_CODE, tier="high", patient_code="CL01-0043",
                                    birth_year=1950, sex="M", site_secret=b"s" * 32, assessment=ASSESSMENT)
    answer = requests.post(server.url + "/api/v1/referrals", json=damaged, timeout=30,
                           headers={"Authorization": f"Bearer {clinic}", "Idempotency-Key": UNREADABLE_CODE})
    assert answer.status_code == 201, answer.text
    with sqlite3.connect(root / "hospital" / "imaging.db") as db:
        db.execute("UPDATE referrals SET bundle = 'not a bundle' WHERE code = ?", (UNREADABLE_CODE,))
    db.close()
    yield server, reader, bundle
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_reader_sees_why_the_patient_was_referred(browser, hospital, lang):
    server, reader, bundle = hospital
    request = bundle["entry"][0]["resource"]
    folder = ARTIFACTS / lang
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=lang)
    # The server's one language cookie (path /). Playwright keeps a cookie url's path only up to its last "/",
    # so the url server.url + "/reader" this had also gave path /, not the /reader an older version used.
    context.add_cookies([{"name": "lang", "value": lang, "url": server.url}])
    page = context.new_page()
    requested: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda sent: requested.append(sent.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems: list[str] = []

    def check(name: str) -> None:
        problems.extend(page_problems(page, folder / f"reader-{name}.png", lang, name))

    assert page.goto(server.url + "/reader/referrals").status == 401  # the sign-in form
    check("sign-in")
    page.fill("#name", "dr-wang")
    page.fill("#password", "not the password")
    # The form shown signed out has a #sign-in-error too ("sign in to see the referrals"), unlike every other
    # page this walk waits for: read it only once the answer's page has loaded, else the old message may be
    # read and the name typed next into a form about to be replaced (a click waits for a navigation only
    # when it sees one requested in time, and Playwright means to stop waiting at all: noWaitAfter).
    with page.expect_navigation():
        page.click("#sign-in button[type=submit]")
    assert page.locator("#sign-in-error").inner_text() == CATALOG["wrong_credentials"][lang]
    page.fill("#name", "dr-wang")
    page.fill("#password", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#worklist")
    cookie = next(c for c in context.cookies() if c["name"] == "ildscreen_reader")
    assert cookie["value"] != reader and cookie["httpOnly"] and cookie["sameSite"] == "Strict"  # a session id
    assert page.locator("#reader-name").inner_text() == "dr-wang"
    row = page.locator(f"#referral-{CODE}")
    marker = row.locator(".marker[data-marker=discordant_hrct_reads]")
    assert marker.is_visible() and marker.inner_text() == CATALOG["marker_discordant_hrct_reads"][lang]
    check("worklist")
    # The filter form: a priority the referral does not have hides it, All shows it again.
    page.select_option("#worklist-filter select[name=priority]", "asap")
    page.click("#worklist-filter button[type=submit]")
    page.wait_for_selector("#worklist-filter select[name=priority] option[value=asap][selected]", state="attached")
    assert row.count() == 0 and page.locator("main").inner_text().count(CATALOG["no_referrals"][lang]) == 1
    page.select_option("#worklist-filter select[name=priority]", "")
    page.click("#worklist-filter button[type=submit]")
    row.wait_for()
    row.locator("a").click()
    page.wait_for_selector("#notes")
    notes = page.locator("#notes .clinic-text")
    # Every note as sent, in order, the advice first: its line break kept, nothing added or lost.
    assert notes.evaluate_all("spans => spans.map(span => span.textContent)") == [note["text"]
                                                                                  for note in request["note"]]
    assert "\n" in request["note"][0]["text"] and notes.first.inner_text() == request["note"][0]["text"]
    assert page.locator("#reasons .clinic-text").inner_text() == f"Clinician's reason: {REASON}"
    # The Observations' notes too, in the order sent, each under its Observation's name.
    sent = [(entry["resource"]["code"]["text"], note["text"]) for entry in bundle["entry"][2:]
            for note in entry["resource"].get("note", [])]
    assert [text for _name, text in sent] == ["Not validated for clinical use.", ASSESSMENT["uncertainty"]]
    shown = page.locator("#observation-notes .observation-note")
    # The risk estimate, named by the programme's own code, in the page's language (the notes in the clinic's).
    label = CATALOG["observation_ild-risk"][lang] + LABEL_SEPARATORS[lang]
    assert shown.evaluate_all("items => items.map(item => [item.querySelector('strong').textContent, "
                              "item.querySelector('span').textContent])") == [[label, text] for _name, text in sent]
    assert page.locator("main img, main b, script").count() == 0 and dialogs == []
    check("referral")
    # The language switch: the same referral in the other language, then back.
    other = "en" if lang == "zh-CN" else "zh-CN"
    for shown_lang in (other, lang):
        page.click("#language-switch")
        page.wait_for_selector(f"html[lang={shown_lang}]", state="attached")
        assert page.url == server.url + f"/reader/referrals/{CODE}"
        assert page.locator("#notes h2").inner_text() == CATALOG["referral_notes"][shown_lang]
    # An unknown code: a page saying so in the page's language, and the way back to the worklist.
    assert page.goto(server.url + "/reader/referrals/ILD-ZZZZZZZZZZ").status == 404
    assert page.locator("#referral-missing").inner_text() == CATALOG["referral_missing"][lang]
    check("referral-missing")
    page.click("main a")
    page.wait_for_selector("#worklist")
    assert all(url.startswith(server.url) for url in requested), requested  # nothing from another host
    page.click("#sign-out button[type=submit]")
    page.wait_for_selector("#sign-in")
    assert page.goto(server.url + f"/reader/referrals/{CODE}").status == 401  # the session has ended
    # The referral's link, opened signed out: signing in there lands on the referral (issue h91).
    page.fill("#name", "dr-wang")
    page.fill("#password", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#notes")
    assert page.url == server.url + f"/reader/referrals/{CODE}"
    assert not problems, "\n".join(problems)
    context.close()


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_bad_worklist_link_and_an_unreadable_referral_answer_pages_a_reader_can_use(browser, hospital, lang):
    """The pages a reader meets when there is nothing right to show (h102, h111): a worklist link with a bad
    filter answers its 422 page, whose way back leads to the whole worklist; a referral whose stored bundle
    cannot be read answers what the server stored beside it (500). Each passes axe-core and the 44 px check,
    and in Chinese leaves no English word but the link's own parameter names. The language comes from a cookie an
    older version set at /reader, which the sign-in moves to the server's one cookie."""
    server, _reader, _bundle = hospital
    folder = ARTIFACTS / lang
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=lang)
    # The language as an older version kept it, in a cookie of the reader pages' path only: the sign-in moves it
    # to the one cookie of every page of the server (brief h111).
    context.add_cookies([{"name": "lang", "value": lang, "domain": "127.0.0.1", "path": "/reader"}])
    page = context.new_page()
    problems: list[str] = []
    page.goto(server.url + "/reader")
    page.fill("#name", "dr-wang")
    page.fill("#password", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#worklist")
    assert [(c["path"], c["value"]) for c in context.cookies() if c["name"] == "lang"] == [("/", lang)]

    assert page.goto(server.url + "/reader/referrals?priority=soon&sort=oldest").status == 422
    assert page.locator("#worklist-error li").count() == 2 and page.locator("#worklist").count() == 0
    problems.extend(page_problems(page, folder / "reader-worklist-bad-link.png", lang, "worklist-bad-link"))
    page.click("#worklist-error a")
    page.wait_for_selector("#worklist")
    assert page.url == server.url + "/reader/referrals"

    assert page.goto(server.url + f"/reader/referrals/{UNREADABLE_CODE}").status == 500
    assert page.locator("#referral-unreadable").inner_text().startswith(CATALOG["referral_unreadable"][lang])
    assert page.locator("#note-kinds").is_visible() and page.locator("#notes").count() == 0
    problems.extend(page_problems(page, folder / "reader-referral-unreadable.png", lang, "referral-unreadable"))
    page.click("header a.button")
    page.wait_for_selector("#worklist")
    assert not problems, "\n".join(problems)
    context.close()
