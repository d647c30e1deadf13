"""The hospital's Chinese pages have no English space between Chinese words (brief h133), as the clinic's have none
(tests/edge/test_chinese_spacing.py, whose text reader this uses: tests/chinese_text.py). The hospital's templates
join what they put side by side with the clinic's rule (``common.i18n.separators``, ``gap`` in both servers'
templates): the programme page's two sentences and the 'signed in as' line, a note's label and its text, a
referral's must-not-miss markers. Every page a radiologist and a programme viewer open, in zh-CN, with referrals
that carry notes, observation notes and both markers, and a clinic's figures: none in its visible text."""
from __future__ import annotations

import re

import pytest

from chinese_text import spaces_in_chinese
from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from common.i18n import LABEL_SEPARATORS, SENTENCE_SEPARATORS
from imaging_server.app import create_app
from imaging_server.browser_sign_in import DOORS
from imaging_server.nodule_review import add_reader
from imaging_server.programme import add_viewer
from imaging_server.programme_i18n import CATALOG
from imaging_server.store import add_clinic, open_database
from programme_clinics import simulated_figures
from test_referral_notes import BUNDLES, bundle_with_results, send

PASSWORD = "a long hospital password"
WITH_RESULTS = "ILD-HHHHHHHHHH"


@pytest.fixture
def hospital(imaging_settings, tmp_path):  # noqa: F811
    """The CT server with the referral-notes test's referrals (urgent; monitoring with disagreeing reads, referred
    against the advice; routine) and one with observation notes, one clinic's figures, and a reader and a programme
    viewer who sign in with a password: its app."""
    app = create_app(imaging_settings)
    db = open_database(imaging_settings.database_target)
    clinic, east = add_clinic(db, "clinic-north"), add_clinic(db, "clinic-east")
    add_reader(db, "dr-wang")
    add_viewer(db, "region")
    DOORS["reader"].set_password(db, "dr-wang", PASSWORD)
    DOORS["programme viewer"].set_password(db, "region", PASSWORD)
    db.close()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {clinic}"}
    for code, bundle in BUNDLES.items():
        assert send(client, headers, bundle(code)).status_code == 201
    assert send(client, headers, bundle_with_results(WITH_RESULTS)).status_code == 201
    figures = simulated_figures(tmp_path / "clinic-east", seed=3, n_patients=110)
    assert client.post("/api/v1/programme/figures", json=figures,
                       headers={"Authorization": f"Bearer {east}"}).status_code == 201
    return app


def signed_in(app, door: str, name: str):
    """A browser signed in at ``door`` as ``name``, its pages in Chinese."""
    client = app.test_client()
    client.set_cookie("lang", "zh-CN")
    form = client.get(door).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post(f"{door}/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


def test_no_hospital_page_spaces_two_chinese_words_apart(hospital):
    """The sign-in pages, the worklist (filtered, and with a bad parameter), each referral and a missing one, and the
    programme page; every spot is listed, with the pages it is on."""
    reader, viewer = signed_in(hospital, "/reader", "dr-wang"), signed_in(hospital, "/programme", "region")
    logged_out = hospital.test_client()
    logged_out.set_cookie("lang", "zh-CN")
    pages = {"reader sign-in": (logged_out, "/reader", 200), "programme sign-in": (logged_out, "/programme", 401),
             "worklist": (reader, "/reader/referrals", 200),
             "worklist filtered": (reader, "/reader/referrals?priority=asap&status=awaiting_images", 200),
             "worklist bad link": (reader, "/reader/referrals?priority=soon", 422),
             "missing referral": (reader, "/reader/referrals/ILD-ZZZZZZZZZZ", 404),
             "programme": (viewer, "/programme", 200)}
    pages.update({f"referral {code}": (reader, f"/reader/referrals/{code}", 200) for code in (*BUNDLES, WITH_RESULTS)})
    found = {}
    for name, (client, path, status) in pages.items():
        page = client.get(path)
        assert page.status_code == status, (name, page.status_code)
        assert '<html lang="zh-CN">' in page.get_data(as_text=True), name
        for spot in spaces_in_chinese(page.get_data(as_text=True)):
            found.setdefault(spot, []).append(name)
    assert not found, "\n".join(f"{spot}   <- {', '.join(where)}" for spot, where in found.items())


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_hospital_joins_sentences_and_labels_as_the_clinic_does(hospital, lang):
    """English reads as before; Chinese takes no space after a sentence or a full-width colon."""
    reader, viewer = signed_in(hospital, "/reader", "dr-wang"), signed_in(hospital, "/programme", "region")
    for client in (reader, viewer):
        client.set_cookie("lang", lang)
    programme = viewer.get("/programme").get_data(as_text=True)
    generated = re.search(r'<p class="muted" id="generated">(.*?)</p>', programme).group(1)
    assert generated.endswith(SENTENCE_SEPARATORS[lang] + CATALOG["signed_in_as"][lang].format(
        name='<span translate="no" id="viewer-name">region</span>'))
    assert generated.split("<span")[0].endswith({"en": ". Signed in as ", "zh-CN": "。当前登录："}[lang])
    referral = reader.get(f"/reader/referrals/{WITH_RESULTS}").get_data(as_text=True)
    label = CATALOG["observation_ild-risk"][lang] + LABEL_SEPARATORS[lang]
    assert referral.count(f"<strong>{label}</strong><span") == 2
    assert f'id="signed-in">{CATALOG["signed_in_as"][lang].format(name="")}<span' in referral
