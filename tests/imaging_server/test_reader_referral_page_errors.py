"""A reader's referral page when there is nothing to show as sent (brief h102), on SQLite and PostgreSQL: an
unknown code answers a page saying no such referral is known, in the page's language, with the way back to
the worklist (404); a referral whose stored bundle cannot be read (a damaged row) answers the page with what
the server stored beside it (status, priority, clinic, dates, note kinds and their markers) and a plain
statement that its content could not be read and what to do (500), and a warning names the row by its id
only. The JSON API answers JSON for both."""
from __future__ import annotations

import logging

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from imaging_server.programme_i18n import CATALOG
from test_referral_notes import hospital, sent  # noqa: F401 - fixture

CODE = "ILD-BBBBBBBBBB"  # routine, disagreeing HRCT reads, advice against which the clinician referred
# What a damaged row may hold: not JSON, JSON without entries, a bundle without its ServiceRequest.
DAMAGED = {"not json": "not a bundle", "no entries": "{}",
           "no request": '{"entry": [{"resource": {"resourceType": "Patient"}}]}'}


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("code", ["ILD-ZZZZZZZZZZ", "not-a-code"])
def test_an_unknown_code_answers_a_page_saying_so_with_the_way_back(hospital, code, lang):  # noqa: F811
    client, _db, _clinic, reader = hospital
    answer = client.get(f"/reader/referrals/{code}", headers={**reader, "Accept-Language": lang})
    assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("text/html")
    page = answer.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert f'<title>{CATALOG["title_referral_missing"][lang]}</title>' in page
    assert f'<p id="referral-missing" role="alert">{_escaped(CATALOG["referral_missing"][lang])}</p>' in page
    assert f'<a class="button" href="/reader/referrals">{CATALOG["back_to_worklist"][lang]}</a>' in page
    assert code not in page.split("<main>", 1)[1]  # the address's text is not written back (the switch keeps it)
    api = client.get(f"/api/v1/reader/referrals/{code}", headers=reader)
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("damage", DAMAGED)
def test_an_unreadable_bundle_answers_what_the_server_stored_and_what_to_do(hospital, damage, caplog):  # noqa: F811
    client, db, _clinic, reader = hospital
    sent(hospital, CODE)
    row_id = db.scalar("SELECT id FROM referrals WHERE code = :code", {"code": CODE})
    with db.write():
        db.execute("UPDATE referrals SET bundle = :bundle WHERE code = :code", {"bundle": DAMAGED[damage], "code": CODE})

    with caplog.at_level(logging.WARNING, logger="imaging_server.worklist"):
        answer = client.get(f"/reader/referrals/{CODE}", headers={**reader, "Accept-Language": "zh-CN"})
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/html")
    page = answer.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert CATALOG["referral_unreadable"]["zh-CN"] in page and CATALOG["referral_unreadable_what_to_do"]["zh-CN"] in page
    facts = page.split('<table id="referral">', 1)[1].split("</table>", 1)[0]
    for key in ("priority_routine", "status_awaiting_images", "col_received", "col_updated"):
        assert CATALOG[key]["zh-CN"] in facts, key
    assert '<span translate="no">clinic-north</span>' in facts
    # The markers and the note kinds come from what intake stored beside the bundle.
    assert 'data-marker="discordant_hrct_reads"' in page
    kinds = page.split('<section id="note-kinds">', 1)[1].split("</section>", 1)[0]
    assert [part.split('"', 1)[0] for part in kinds.split('data-kind="')[1:]] == [
        "advice", "discordant_hrct_reads", "against_advice", "guideline_line", "validation", "model"]
    assert CATALOG["note_kind_against_advice"]["zh-CN"] in kinds
    assert 'id="notes"' not in page and 'id="reasons"' not in page
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"referral id {row_id}: its stored bundle cannot be read (")
    assert CODE not in caplog.text and "clinic-north" not in caplog.text

    api = client.get(f"/api/v1/reader/referrals/{CODE}", headers=reader)
    assert api.status_code == 500 and api.json["error"]["code"] == "referral_unreadable"
    assert "restore it from a backup" in api.json["error"]["message"]
    # The worklist reads no bundle: the referral stays listed with its marker.
    listed = client.get("/api/v1/reader/referrals", headers=reader).json["referrals"]
    assert [(row["referral_code"], row["must_not_miss"]) for row in listed] == [(CODE, ["discordant_hrct_reads"])]
