"""A radiologist records the ILD read of a referral's CT over the API: the clinic's report turns
final (amended when the read changes) with the read as the codes the clinic reads, the automated
measurements stay as measured, and bad input, unknown referrals and clinic tokens change nothing."""
from __future__ import annotations

import pytest

from ct_fixtures import database_url, imaging_settings, phantom, postgres, referred, series_dir  # noqa: F401 - fixtures
from edge.outcomes import PATTERNS, ct_report_outcome
from imaging_server.dicom_io import read_folder
from imaging_server.fhir_report import ILD_PATTERNS
from imaging_server.ingest import _store_report, quantify_datasets
from imaging_server.segmentation import ClassicalLungSegmenter
from imaging_server.store import add_clinic, open_database
from referral_bundle import REFERRAL_CODE


@pytest.fixture(scope="module")
def quantified(series_dir):  # noqa: F811
    return quantify_datasets(REFERRAL_CODE, read_folder(series_dir), ClassicalLungSegmenter())


def _report(db, quantified):
    _store_report(db, REFERRAL_CODE, quantified)


READ_URL = f"/api/v1/reader/referrals/{REFERRAL_CODE}/ild-read"
REPORT_URL = f"/api/v1/referrals/{REFERRAL_CODE}/report"


def _reads(db) -> int:
    return db.scalar("SELECT COUNT(*) AS n FROM ild_reads")


def test_a_read_makes_the_clinics_report_final_with_the_codes_the_clinic_reads(referred, quantified):
    client, db, clinic, reader = referred
    _report(db, quantified)
    before = client.get(REPORT_URL, headers=clinic).json
    assert before["report_status"] == "preliminary" and before["ild_read"] is None
    assert ct_report_outcome(before) is None

    posted = client.post(READ_URL, json={"ild": "present", "pattern": "NSIP", "extent_percent": 18,
                                         "comment": "Lower-zone reticulation."}, headers=reader)
    assert posted.status_code == 201, posted.json
    assert posted.json["ild_read"]["reader"] == "dr-wang" and posted.json["earlier_reads"] == []

    after = client.get(REPORT_URL, headers=clinic).json
    assert after["report_status"] == "final" == after["diagnostic_report"]["status"]
    assert after["ild_read"]["ild"] == "present" and after["ild_read"]["extent_percent"] == 18.0
    outcome = ct_report_outcome(after)  # the clinic's reader of the report
    assert outcome["ild"] == "present" and outcome["pattern"] == "NSIP" and outcome["extent_percent"] == 18.0
    assert outcome["date"] == after["ild_read"]["read_at"][:10]
    # The automated measurements are unchanged and still marked preliminary.
    assert after["metrics"] == before["metrics"]
    assert after["diagnostic_report"]["contained"] == before["diagnostic_report"]["contained"]
    assert {obs["status"] for obs in after["diagnostic_report"]["contained"]} == {"preliminary"}
    conclusion = after["diagnostic_report"]["conclusion"]
    assert conclusion.startswith("Radiologist's read (dr-wang") and "Lower-zone reticulation." in conclusion
    assert before["diagnostic_report"]["conclusion"] in conclusion


def test_a_changed_read_amends_the_report_and_keeps_the_earlier_one(referred, quantified):
    client, db, clinic, reader = referred
    _report(db, quantified)
    assert client.post(READ_URL, json={"ild": "indeterminate"}, headers=reader).status_code == 201
    assert ct_report_outcome(client.get(REPORT_URL, headers=clinic).json)["ild"] == "indeterminate"
    changed = client.post(READ_URL, json={"ild": "absent", "extent_percent": 0}, headers=reader)
    assert changed.status_code == 201
    assert [read["ild"] for read in changed.json["earlier_reads"]] == ["indeterminate"]
    report = client.get(REPORT_URL, headers=clinic).json
    assert report["report_status"] == "amended"
    assert ct_report_outcome(report)["ild"] == "absent" and ct_report_outcome(report)["pattern"] is None
    assert client.get(READ_URL, headers=reader).json["ild_read"]["ild"] == "absent"


def test_a_nodule_review_after_the_read_keeps_the_read_and_amends_the_report(referred, quantified, caplog):
    client, db, clinic, reader = referred
    _report(db, quantified)
    with caplog.at_level("INFO"):
        client.post(READ_URL, json={"ild": "present", "pattern": "UIP"}, headers=reader)
        added = client.post(f"/api/v1/reader/referrals/{REFERRAL_CODE}/nodules", headers=reader,
                            json={"type": "solid", "mean_diameter_mm": 7.0, "center_mm": [1.0, 2.0, 3.0]})
    assert added.status_code == 201, added.json
    # The log names the reader by row id, as the request log does, never by name.
    reader_id = db.scalar("SELECT id FROM readers WHERE name = 'dr-wang'")
    assert f"ILD read recorded by reader={reader_id}" in caplog.text
    assert f"nodule review: add by reader={reader_id}" in caplog.text
    assert "dr-wang" not in caplog.text
    report = client.get(REPORT_URL, headers=clinic).json
    assert report["report_status"] == "amended" and ct_report_outcome(report)["pattern"] == "UIP"
    assert report["metrics"]["nodules"][-1]["review"]["state"] == "added"


@pytest.mark.parametrize("body, field", [
    ({}, "ild"),
    ({"ild": "yes"}, "ild"),
    ({"ild": "present", "pattern": "honeycomb"}, "pattern"),
    ({"ild": "absent", "pattern": "UIP"}, "pattern"),
    ({"ild": "present", "extent_percent": 101}, "extent_percent"),
    ({"ild": "present", "extent_percent": -1}, "extent_percent"),
    ({"ild": "present", "extent_percent": "20"}, "extent_percent"),
    ({"ild": "present", "extent_percent": True}, "extent_percent"),
    ({"ild": "absent", "extent_percent": 5}, "extent_percent"),
    ({"ild": "present", "comment": 5}, "comment"),
    ({"ild": "present", "comment": "x" * 2001}, "comment"),
    ({"ild": "present", "confirmed": True}, "confirmed"),
])
def test_a_bad_read_is_a_422_naming_the_field_and_nothing_is_stored(referred, quantified, body, field):
    client, db, clinic, reader = referred
    _report(db, quantified)
    response = client.post(READ_URL, json=body, headers=reader)
    assert response.status_code == 422
    assert field in [problem["field"] for problem in response.json["error"]["fields"]]
    assert _reads(db) == 0
    assert client.get(REPORT_URL, headers=clinic).json["report_status"] == "preliminary"


def test_a_body_that_is_not_json_is_refused(referred, quantified):
    client, db, _, reader = referred
    _report(db, quantified)
    response = client.post(READ_URL, data=b"{not json", headers={**reader, "Content-Type": "application/json"})
    assert response.status_code == 400 and _reads(db) == 0


def test_a_clinic_token_cannot_post_a_read(referred, quantified):
    client, db, clinic, _ = referred
    _report(db, quantified)
    response = client.post(READ_URL, json={"ild": "present"}, headers=clinic)
    assert response.status_code == 401 and response.json["error"]["code"] == "authentication_failed"
    assert client.post(READ_URL, json={"ild": "present"}).status_code == 401
    assert _reads(db) == 0


def test_a_read_of_an_unknown_referral_is_404_and_one_without_a_report_is_409(referred, quantified):
    client, db, _, reader = referred
    unknown = client.post("/api/v1/reader/referrals/ILD-ZZZZZZZZZZ/ild-read", json={"ild": "present"},
                          headers=reader)
    assert unknown.status_code == 404
    not_yet = client.post(READ_URL, json={"ild": "present"}, headers=reader)  # no images yet
    assert not_yet.status_code == 409 and not_yet.json["error"]["code"] == "not_ready"
    assert _reads(db) == 0


def test_the_server_and_the_clinic_know_the_same_patterns():
    assert ILD_PATTERNS == PATTERNS


def test_a_version_2_database_gains_the_reads_table_and_keeps_its_clinics(tmp_path, monkeypatch):
    from imaging_server import store

    db = open_database(tmp_path / "imaging.db")
    with monkeypatch.context() as patched:
        patched.setattr(store, "MIGRATIONS", store.MIGRATIONS[:2])
        assert store.apply_migrations(db) == [1, 2]
    add_clinic(db, "clinic-north")
    assert "ild_reads" not in db.table_names()
    assert store.apply_migrations(db) == [version for version, _, _ in store.MIGRATIONS if version >= 3]
    assert "ild_reads" in db.table_names() and [c["name"] for c in store.list_clinics(db)] == ["clinic-north"]
    db.close()
