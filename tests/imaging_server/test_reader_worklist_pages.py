"""The readers' worklist comes a page at a time and filtered: the pages, walked by their cursor, hold every
referral once in the worklist's order (most urgent first, then the longest waiting) even while new ones
arrive; status, priority and clinic filter the JSON and the page alike; a bad or unknown parameter is 422
naming it; a page reads no bundle (the note kinds intake stored carry the markers), and a referral stored
before intake kept them still shows its markers. Bundles are the clinic's (``imaging_client.referral``),
on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import json
import logging

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from imaging_server.app import create_app
from imaging_server.nodule_review import add_reader
from imaging_server.programme_i18n import CATALOG
from imaging_server import store
from imaging_server import worklist as worklist_module
from imaging_server.store import add_clinic, open_database, revoke_clinic, rotate_clinic_token, utc_now
from imaging_server.worklist import MAX_PAGE_SIZE
from test_referral_notes import DISCORDANT, clinic_bundle, send

# (code, clinic, the triage's priority -> FHIR asap / urgent / routine, disagreeing HRCT reads), in arrival order.
ARRIVALS = (
    ("ILD-AAAAAAAAAA", "clinic-north", "routine", False),
    ("ILD-BBBBBBBBBB", "clinic-south", "within_3_months", False),
    ("ILD-CCCCCCCCCC", "clinic-north", "urgent", False),
    ("ILD-DDDDDDDDDD", "clinic-south", "routine", True),
    ("ILD-EEEEEEEEEE", "clinic-north", "within_3_months", True),
    ("ILD-FFFFFFFFFF", "clinic-south", "urgent", False),
    ("ILD-GGGGGGGGGG", "clinic-north", "routine", False),
)
# Most urgent first (asap, urgent, routine), then the longest waiting.
ORDER = ["ILD-CCCCCCCCCC", "ILD-FFFFFFFFFF", "ILD-BBBBBBBBBB", "ILD-EEEEEEEEEE", "ILD-AAAAAAAAAA",
         "ILD-DDDDDDDDDD", "ILD-GGGGGGGGGG"]


@pytest.fixture
def hospital(imaging_settings):  # noqa: F811
    """The CT server's test client with the ``ARRIVALS`` received, its database, clinic and reader headers."""
    client = create_app(imaging_settings).test_client()
    db = open_database(imaging_settings.database_target)
    clinics = {name: {"Authorization": f"Bearer {add_clinic(db, name)}"} for name in ("clinic-north", "clinic-south")}
    reader = {"Authorization": f"Bearer {add_reader(db, 'dr-wang')}"}
    for code, clinic, priority, discordant in ARRIVALS:
        refer(client, clinics[clinic], code, priority, discordant)
    yield client, db, clinics, reader
    db.close()


def refer(client, clinic: dict, code: str, priority: str = "routine", discordant: bool = False) -> None:
    bundle = clinic_bundle(code, priority=priority, **(dict(advice="monitoring", discordant=DISCORDANT,
                                                            reason="Second opinion") if discordant else {}))
    assert send(client, clinic, bundle).status_code == 201


def walk(client, reader: dict, query: str = "", after: str | None = None) -> tuple[list[str], int]:
    """Every page of the worklist's JSON under ``query`` (from the one ``after`` a code): the codes in page
    order and the number of pages."""
    codes, pages = [], 0
    while True:
        answer = client.get(f"/api/v1/reader/referrals?{query}" + (f"&after={after}" if after else ""), headers=reader)
        assert answer.status_code == 200, answer.json
        pages += 1
        codes += [row["referral_code"] for row in answer.json["referrals"]]
        after = answer.json["next_after"]
        if after is None:
            return codes, pages


def test_the_pages_hold_every_referral_once_in_the_worklists_order(hospital):
    client, _db, _clinics, reader = hospital
    whole = client.get("/api/v1/reader/referrals", headers=reader).json
    assert [row["referral_code"] for row in whole["referrals"]] == ORDER and whole["next_after"] is None
    assert walk(client, reader, "limit=3") == (ORDER, 3)
    assert walk(client, reader, "limit=7") == (ORDER, 1)
    assert walk(client, reader, "limit=1") == (ORDER, 7)
    rows = {row["referral_code"]: row for row in whole["referrals"]}
    assert rows["ILD-CCCCCCCCCC"]["must_not_miss"] == ["urgent"]
    assert rows["ILD-DDDDDDDDDD"]["must_not_miss"] == ["discordant_hrct_reads"]
    assert rows["ILD-EEEEEEEEEE"]["must_not_miss"] == ["discordant_hrct_reads"]
    assert rows["ILD-AAAAAAAAAA"]["must_not_miss"] == []


def test_the_cursor_stays_put_as_referrals_arrive_between_pages(hospital):
    client, _db, clinics, reader = hospital
    first = client.get("/api/v1/reader/referrals?limit=3", headers=reader).json
    assert [row["referral_code"] for row in first["referrals"]] == ORDER[:3] and first["next_after"] == ORDER[2]
    # After the first page: an urgent referral (sorts before the cursor) and a routine one (after it).
    refer(client, clinics["clinic-north"], "ILD-HHHHHHHHHH", "urgent")
    refer(client, clinics["clinic-south"], "ILD-JJJJJJJJJJ", "routine")
    rest, _pages = walk(client, reader, "limit=3", first["next_after"])
    assert rest == [*ORDER[3:], "ILD-JJJJJJJJJJ"]  # nothing repeated or skipped; the new urgent one is on page 1
    assert walk(client, reader)[0][:3] == ["ILD-CCCCCCCCCC", "ILD-FFFFFFFFFF", "ILD-HHHHHHHHHH"]


def test_status_priority_and_clinic_filter_the_json_and_the_page(hospital):
    client, _db, clinics, reader = hospital
    assert client.post("/api/v1/referrals/ILD-AAAAAAAAAA/revoke", headers=clinics["clinic-north"]).status_code == 200
    expected = {
        "status=revoked": ["ILD-AAAAAAAAAA"],
        "status=awaiting_images": [code for code in ORDER if code != "ILD-AAAAAAAAAA"],
        "status=awaiting_images&status=revoked": ORDER,
        "status=reported": [],
        "priority=asap": ["ILD-CCCCCCCCCC", "ILD-FFFFFFFFFF"],
        "priority=asap&priority=routine": ["ILD-CCCCCCCCCC", "ILD-FFFFFFFFFF", "ILD-AAAAAAAAAA", "ILD-DDDDDDDDDD",
                                           "ILD-GGGGGGGGGG"],
        "clinic=clinic-south": ["ILD-FFFFFFFFFF", "ILD-BBBBBBBBBB", "ILD-DDDDDDDDDD"],
        "clinic=clinic-north&priority=routine&status=awaiting_images": ["ILD-GGGGGGGGGG"],
        "clinic=clinic-east": [],  # a well-formed name of no clinic: nothing, not an error
        "status=&priority=&clinic=": ORDER,  # the page's "All": no filter
    }
    for query, codes in expected.items():
        assert walk(client, reader, query + "&limit=2")[0] == codes, query
        page = client.get(f"/reader/referrals?{query}", headers=reader)
        assert page.status_code == 200, query
        shown = [part.split('"', 1)[0] for part in page.get_data(as_text=True).split('id="referral-')[1:]]
        assert shown == codes, query


def test_the_page_links_the_next_page_with_its_filters_and_marks_the_chosen_ones(hospital):
    client, _db, _clinics, reader = hospital
    html = client.get("/reader/referrals?priority=routine&clinic=clinic-north&limit=2", headers=reader).get_data(
        as_text=True)
    assert [part.split('"', 1)[0] for part in html.split('id="referral-')[1:]] == ["ILD-AAAAAAAAAA", "ILD-GGGGGGGGGG"]
    assert 'id="worklist-pages"' not in html  # the filtered list fits on one page
    html = client.get("/reader/referrals?priority=routine&limit=2", headers=reader).get_data(as_text=True)
    next_link = html.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert next_link == "/reader/referrals?limit=2&after=ILD-DDDDDDDDDD&priority=routine"
    assert CATALOG["page_next"]["en"] in html and '<option value="routine" selected>' in html
    second = client.get(next_link, headers=reader).get_data(as_text=True)
    assert [part.split('"', 1)[0] for part in second.split('id="referral-')[1:]] == ["ILD-GGGGGGGGGG"]
    assert 'rel="next"' not in second and CATALOG["page_first"]["en"] in second
    assert '<option value="clinic-north" translate="no">' in second  # every clinic to choose from


def _clinic_options(html: str) -> tuple[list[str], list[str]]:
    """The clinic filter's options: the active clinics', then those in the revoked clinics' group."""
    select = html.split('<select name="clinic">', 1)[1].split("</select>", 1)[0]
    active, _, revoked = select.partition("<optgroup")
    names = [part.split('"', 1)[0] for part in active.split('<option value="')[2:]]  # after "All"
    return names, [part.split('"', 1)[0] for part in revoked.split('<option value="')[1:]]


def test_the_clinic_filter_lists_the_active_clinics_and_marks_a_revoked_one_whose_referrals_stay(hospital):
    client, db, clinics, reader = hospital
    add_clinic(db, "clinic-east")  # active, nothing sent yet: listed
    add_clinic(db, "clinic-closed")
    revoke_clinic(db, "clinic-closed")  # revoked with no referral: nothing to filter, not listed
    revoke_clinic(db, "clinic-south")  # revoked: its referrals still wait for their HRCT
    assert client.get("/api/v1/referrals/ILD-BBBBBBBBBB", headers=clinics["clinic-south"]).status_code == 401

    html = client.get("/reader/referrals", headers=reader).get_data(as_text=True)
    assert _clinic_options(html) == (["clinic-east", "clinic-north"], ["clinic-south"])
    assert f'<optgroup label="{_escaped(CATALOG["clinics_revoked"]["en"])}">' in html
    assert CATALOG["clinic_revoked"]["en"].format(name="clinic-south") in html and "clinic-closed" not in html
    south = ["ILD-FFFFFFFFFF", "ILD-BBBBBBBBBB", "ILD-DDDDDDDDDD"]
    assert walk(client, reader, "clinic=clinic-south")[0] == south  # still visible and filterable
    chosen = client.get("/reader/referrals?clinic=clinic-south", headers=reader).get_data(as_text=True)
    assert [part.split('"', 1)[0] for part in chosen.split('id="referral-')[1:]] == south
    assert '<option value="clinic-south" data-revoked="yes" selected>' in chosen
    # A revoked clinic with no referral is offered only while it is the filter (a link kept from before).
    closed = client.get("/reader/referrals?clinic=clinic-closed", headers=reader).get_data(as_text=True)
    assert _clinic_options(closed)[1] == ["clinic-closed", "clinic-south"]
    zh = client.get("/reader/referrals", headers={**reader, "Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert CATALOG["clinic_revoked"]["zh-CN"].format(name="clinic-south") in zh

    assert client.get("/reader/referrals", headers=reader).status_code == 200
    rotate_clinic_token(db, "clinic-south")  # reinstated: active again
    assert _clinic_options(client.get("/reader/referrals", headers=reader).get_data(as_text=True)) == (
        ["clinic-east", "clinic-north", "clinic-south"], [])


def _revoked_marks(html: str) -> dict[str, bool]:
    """Per worklist row (referral code), whether its clinic cell carries the access-revoked mark."""
    return {part.split('"', 1)[0]: "data-clinic-revoked" in part.split("</tr>", 1)[0]
            for part in html.split('id="referral-')[1:]}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_revoked_clinics_referrals_are_marked_on_their_rows_the_json_and_their_page(hospital, lang):
    client, db, _clinics, reader = hospital
    headers = {**reader, "Accept-Language": lang}
    south = {"ILD-BBBBBBBBBB", "ILD-DDDDDDDDDD", "ILD-FFFFFFFFFF"}
    revoke_clinic(db, "clinic-south")
    rows = client.get("/api/v1/reader/referrals", headers=reader).json["referrals"]
    assert {row["referral_code"]: row["clinic_revoked"] for row in rows} == {code: code in south for code in ORDER}
    html = client.get("/reader/referrals", headers=headers).get_data(as_text=True)
    assert _revoked_marks(html) == {code: code in south for code in ORDER}
    mark = f'<span class="flag" data-clinic-revoked="yes">{CATALOG["clinic_access_revoked"][lang]}</span>'
    assert html.split('id="referral-ILD-BBBBBBBBBB"', 1)[1].split("</tr>", 1)[0].count(mark) == 1
    page = client.get("/reader/referrals/ILD-BBBBBBBBBB", headers=headers).get_data(as_text=True)
    assert mark in page.split('<table id="referral">', 1)[1].split("</table>", 1)[0]
    assert client.get("/api/v1/reader/referrals/ILD-BBBBBBBBBB", headers=reader).json["clinic_revoked"] is True
    assert mark not in client.get("/reader/referrals/ILD-AAAAAAAAAA", headers=headers).get_data(as_text=True)

    rotate_clinic_token(db, "clinic-south")  # reinstated: no mark
    assert not any(_revoked_marks(client.get("/reader/referrals", headers=headers).get_data(as_text=True)).values())
    assert not any(row["clinic_revoked"] for row in client.get("/api/v1/reader/referrals",
                                                               headers=reader).json["referrals"])


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


BAD = {
    "limit=0": ("limit", "from 1 to"),
    f"limit={MAX_PAGE_SIZE + 1}": ("limit", f"from 1 to {MAX_PAGE_SIZE}"),
    "limit=ten": ("limit", "whole number"),
    "limit=-1": ("limit", "whole number"),
    "limit=2&limit=3": ("limit", "more than once"),
    "limit=": ("limit", "whole number"),  # an empty filter is none; an empty limit or cursor is a mistake
    "after=": ("after", "must be a referral code"),
    "after=not-a-code": ("after", "must be a referral code"),
    "after=ILD-ZZZZZZZZZZ": ("after", "no referral with this code"),
    "status=done": ("status", "'done' is not one of"),
    "status=awaiting_images&status=lost": ("status", "'lost' is not one of"),
    "priority=stat": ("priority", "'stat' is not one of"),
    "clinic=North%20Clinic": ("clinic", "must be a clinic's name"),
    "sort=received": ("sort", "unknown parameter"),
}


@pytest.mark.parametrize("query", BAD)
def test_a_bad_parameter_is_422_naming_it_json_on_the_api_and_the_worklists_page_on_the_page(hospital, query):
    client, _db, _clinics, reader = hospital
    field, reason = BAD[query]
    answer = client.get(f"/api/v1/reader/referrals?{query}", headers=reader)
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error", answer.json
    named = {item["field"]: item["reason"] for item in answer.json["error"]["fields"]}
    assert reason in named[field] and field in answer.json["error"]["message"], named

    for lang in ("en", "zh-CN"):
        page = client.get(f"/reader/referrals?{query}", headers={**reader, "Accept-Language": lang})
        assert page.status_code == 422 and page.mimetype == "text/html", (lang, page.data[:200])
        html = page.get_data(as_text=True)
        error = html.split('id="worklist-error"', 1)[1].split("</div>", 1)[0]
        # The parameter's name as typed, marked as no words to translate (a Chinese page keeps it in Latin).
        assert CATALOG["worklist_bad_parameter"][lang].format(name=f'<span translate="no">{field}</span>') in error, error
        assert CATALOG["worklist_bad_link"][lang] in error and '<html lang="' + lang + '">' in html
        # The page's shape: its filter form (nothing chosen) and no referral, not even "no referrals".
        assert 'id="worklist-filter"' in html and " selected" not in html
        assert 'id="referral-' not in html and CATALOG["no_referrals"][lang] not in html


def test_the_pages_error_names_an_unknown_parameter_escaped_and_cut(hospital):
    client, _db, _clinics, reader = hospital
    name = "<b>" + "x" * 60
    html = client.get("/reader/referrals", query_string={name: "1"}, headers=reader).get_data(as_text=True)
    error = html.split('id="worklist-error"', 1)[1].split("</div>", 1)[0]
    assert "<b>" not in html and '<span translate="no">&lt;b&gt;' + "x" * 37 + "</span>”" in error


def test_a_page_reads_no_bundle(hospital):
    client, db, _clinics, reader = hospital
    kinds = db.scalar("SELECT k.kinds FROM referral_note_kinds k JOIN referrals r ON r.id = k.referral_id "
                      "WHERE r.code = 'ILD-DDDDDDDDDD'")
    assert kinds.split()[:3] == ["advice", "discordant_hrct_reads", "against_advice"]  # as sent, in order
    with db.write():
        # A page that parsed these bundles would fail: the markers must come from the stored kinds.
        db.execute("UPDATE referrals SET bundle = 'not a bundle'")
    rows = {row["referral_code"]: row for row in client.get("/api/v1/reader/referrals", headers=reader).json[
        "referrals"]}
    assert rows["ILD-DDDDDDDDDD"]["must_not_miss"] == ["discordant_hrct_reads"]
    assert rows["ILD-EEEEEEEEEE"]["must_not_miss"] == ["discordant_hrct_reads"]
    assert rows["ILD-CCCCCCCCCC"]["must_not_miss"] == ["urgent"]
    assert client.get("/reader/referrals", headers=reader).status_code == 200


def stored_as_at_version_8(db, clinic_name: str, bundles: dict[str, str]) -> None:
    """Referrals as a server at store version 8 stored them (no note kinds beside them); ``bundles``: the
    stored bundle text by referral code, its priority read from the bundle when it is one."""
    clinic_id = db.scalar("SELECT id FROM clinics WHERE name = :name", {"name": clinic_name})
    with db.write():
        for code, text in bundles.items():
            priority = json.loads(text)["entry"][0]["resource"]["priority"] if text.startswith("{") else "asap"
            db.execute("INSERT INTO referrals (code, clinic_id, bundle_sha256, bundle, priority, status, created_at, "
                       "updated_at) VALUES (:code, :clinic, :digest, :bundle, :priority, 'awaiting_images', :now, :now)",
                       {"code": code, "clinic": clinic_id, "digest": hashlib.sha256(text.encode()).hexdigest(),
                        "bundle": text, "priority": priority, "now": utc_now()})


def test_a_referral_stored_at_store_version_8_gets_its_note_kinds_once_from_migration_10(
        imaging_settings, caplog):  # noqa: F811
    db = open_database(imaging_settings.database_target)
    store.apply_migrations(db, migrations=tuple(m for m in store.MIGRATIONS if m[0] <= 8))
    assert store.current_version(db) == 8 and "referral_note_kinds" not in db.table_names()
    clinic = {"Authorization": f"Bearer {add_clinic(db, 'clinic-north')}"}
    reader = {"Authorization": f"Bearer {add_reader(db, 'dr-wang')}"}
    discordant = clinic_bundle("ILD-DDDDDDDDDD", advice="monitoring", discordant=DISCORDANT, reason="Second opinion")
    stored_as_at_version_8(db, "clinic-north", {
        "ILD-DDDDDDDDDD": json.dumps(discordant, sort_keys=True),
        "ILD-CCCCCCCCCC": json.dumps(clinic_bundle("ILD-CCCCCCCCCC"), sort_keys=True),
        "ILD-XXXXXXXXXX": "not a bundle",  # a hand-edited row: it must not stop the server's start
    })

    with caplog.at_level(logging.INFO):
        client = create_app(imaging_settings).test_client()  # migrates 9 and 10
    assert store.current_version(db) == store.MIGRATIONS[-1][0]
    assert "filled the note kinds of 3 referrals stored before store version 9" in caplog.text
    assert "stored bundle cannot be read" in caplog.text and "ILD-XXXXXXXXXX" not in caplog.text
    kinds = {row["code"]: row["kinds"] for row in db.rows(
        "SELECT r.code, k.kinds FROM referrals r JOIN referral_note_kinds k ON k.referral_id = r.id")}
    assert kinds == {"ILD-DDDDDDDDDD": "advice discordant_hrct_reads against_advice guideline_line validation model",
                     "ILD-CCCCCCCCCC": "advice guideline_line validation model", "ILD-XXXXXXXXXX": ""}

    with db.write():  # from now on no page may read a bundle
        db.execute("UPDATE referrals SET bundle = 'not a bundle'")
    rows = client.get("/api/v1/reader/referrals", headers=reader).json["referrals"]
    assert {row["referral_code"]: row["must_not_miss"] for row in rows} == {
        "ILD-XXXXXXXXXX": ["urgent"], "ILD-CCCCCCCCCC": [], "ILD-DDDDDDDDDD": ["discordant_hrct_reads"]}
    assert client.get("/reader/referrals", headers=reader).status_code == 200
    # A referral sent now stores its own kinds; the next start fills nothing and migrates nothing.
    assert send(client, clinic, clinic_bundle("ILD-KKKKKKKKKK")).status_code == 201
    caplog.clear()
    with caplog.at_level(logging.INFO):
        create_app(imaging_settings)
    assert "filled the note kinds" not in caplog.text
    assert db.scalar("SELECT COUNT(*) AS n FROM referral_note_kinds") == 4
    db.close()


def test_migration_10_fills_referrals_beyond_one_batch(imaging_settings, monkeypatch):  # noqa: F811
    db = open_database(imaging_settings.database_target)
    store.apply_migrations(db, migrations=tuple(m for m in store.MIGRATIONS if m[0] <= 8))
    add_clinic(db, "clinic-north")
    codes = [f"ILD-{letter * 10}" for letter in "ABCDEFG"]
    stored_as_at_version_8(db, "clinic-north", {code: json.dumps(clinic_bundle(code, priority="urgent", **(dict(
        advice="monitoring", discordant=DISCORDANT, reason="r") if code == codes[-1] else {}))) for code in codes})
    monkeypatch.setattr(worklist_module, "FILL_BATCH", 3)  # three batches: 3, 3 and the last one
    assert store.apply_migrations(db) == [9, 10]
    kinds = {row["code"]: row["kinds"].split() for row in db.rows(
        "SELECT r.code, k.kinds FROM referrals r JOIN referral_note_kinds k ON k.referral_id = r.id")}
    assert sorted(kinds) == codes and "discordant_hrct_reads" in kinds[codes[-1]]
    assert all("discordant_hrct_reads" not in kinds[code] for code in codes[:-1])
    db.close()


def test_a_replayed_referral_stores_its_note_kinds_once(hospital):
    client, db, clinics, _reader = hospital
    bundle = clinic_bundle("ILD-KKKKKKKKKK")
    assert send(client, clinics["clinic-north"], bundle).status_code == 201
    assert send(client, clinics["clinic-north"], bundle).status_code == 200
    assert db.scalar("SELECT COUNT(*) AS n FROM referral_note_kinds") == len(ARRIVALS) + 1
