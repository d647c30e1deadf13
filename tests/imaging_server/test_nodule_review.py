"""A radiologist confirms, edits, adds and rejects nodules over the API; the clinic's report follows,
and bad input changes nothing."""
from __future__ import annotations

import pytest

from ct_fixtures import database_url, imaging_settings, postgres, referred  # noqa: F401 - fixtures
from imaging_server.dicom_io import read_folder
from imaging_server.ingest import _store_report, quantify_datasets
from imaging_server.phantom import make_phantom, write_series
from imaging_server.segmentation import ClassicalLungSegmenter
from referral_bundle import REFERRAL_CODE


@pytest.fixture(scope="module")
def fine_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-ct")
    write_series(make_phantom(shape=(100, 200, 200), field_of_view_mm=300.0, seed=5), folder, identifying=False)
    return folder


@pytest.fixture
def reviewed(referred, fine_series):  # noqa: F811
    """A reported referral of the fine phantom, a clinic token and a reader token."""
    client, db, clinic, reader = referred
    _store_report(db, REFERRAL_CODE, quantify_datasets(REFERRAL_CODE, read_folder(fine_series),
                                                       ClassicalLungSegmenter()))
    return client, clinic, reader


def _url(suffix: str = "") -> str:
    return f"/api/v1/reader/referrals/{REFERRAL_CODE}/nodules{suffix}"


def _clinic_nodules(client, clinic):
    return client.get(f"/api/v1/referrals/{REFERRAL_CODE}/report", headers=clinic).json


def test_confirm_edit_add_reject_reach_the_clinics_report(reviewed):
    client, clinic, reader = reviewed
    listed = client.get(_url(), headers=reader)
    assert listed.status_code == 200
    count = len(listed.json["nodules"])
    assert count >= 4

    confirmed = client.post(_url("/1/confirm"), headers=reader)
    assert confirmed.status_code == 200
    assert confirmed.json["nodules"][0]["review"]["state"] == "confirmed"
    assert confirmed.json["nodules"][0]["review"]["reader"] == "dr-wang"

    # Editing the 8 mm solid nodule to 16 mm makes it Lung-RADS 4B at baseline (>= 15 mm).
    solid = next(i for i, n in enumerate(listed.json["nodules"], 1) if n["type"] == "solid")
    edited = client.patch(_url(f"/{solid}"), json={"mean_diameter_mm": 16.0}, headers=reader)
    assert edited.status_code == 200, edited.json
    line = edited.json["nodules"][solid - 1]
    assert line["lung_rads"]["category"] == "4B" and line["review"]["state"] == "edited"
    assert edited.json["nodule_guideline"]["lung_rads_exam_category"] == "4B"

    added = client.post(_url(), json={"type": "part_solid", "mean_diameter_mm": 9.0, "solid_component_mm": 3.0,
                                      "center_mm": [10.0, 20.0, 30.0]}, headers=reader)
    assert added.status_code == 201
    assert added.json["nodules"][-1]["review"]["state"] == "added"
    assert added.json["nodules"][-1]["lung_rads"]["category"] == "3"

    rejected = client.post(_url(f"/{count + 1}/reject"), headers=reader)
    assert rejected.status_code == 200
    assert len(rejected.json["nodules"]) == count and len(rejected.json["rejected_nodules"]) == 1

    report = _clinic_nodules(client, clinic)
    assert report["metrics"]["nodules"] == rejected.json["nodules"]
    conclusion = report["diagnostic_report"]["conclusion"]
    assert "Nodules reviewed by a radiologist." in conclusion and "Lung-RADS v2022 4B" in conclusion
    assert rejected.json["rejected_nodules"][0]["review"]["state"] == "rejected"


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "calcified", "mean_diameter_mm": 5.0, "center_mm": [0, 0, 0]}, "type"),
    ({"type": "solid", "center_mm": [0, 0, 0]}, "mean_diameter_mm"),
    ({"type": "solid", "mean_diameter_mm": 5.0, "center_mm": [0, 0]}, "center_mm"),
    ({"type": "solid", "mean_diameter_mm": "big", "center_mm": [0, 0, 0]}, "mean_diameter_mm"),
    ({"type": "part_solid", "mean_diameter_mm": 5.0, "solid_component_mm": 7.0, "center_mm": [0, 0, 0]}, "nodule"),
    ({"type": "solid", "mean_diameter_mm": 5.0, "center_mm": [0, 0, 0], "grade": 3}, "grade"),
])
def test_bad_nodules_are_refused_naming_the_field_and_nothing_changes(reviewed, body, field):
    client, clinic, reader = reviewed
    before = _clinic_nodules(client, clinic)
    response = client.post(_url(), json=body, headers=reader)
    assert response.status_code == 422
    assert field in [problem["field"] for problem in response.json["error"]["fields"]]
    assert _clinic_nodules(client, clinic) == before


def test_only_readers_review_and_only_existing_nodules(reviewed):
    client, clinic, reader = reviewed
    assert client.get(_url(), headers=clinic).status_code == 401  # a clinic token is not a reader token
    assert client.get(_url(), headers={}).status_code == 401
    assert client.post(_url("/99/confirm"), headers=reader).status_code == 404
    assert client.get("/api/v1/reader/referrals/ILD-ZZZZZZZZZZ/nodules", headers=reader).status_code == 404
    malformed = client.patch(_url("/1"), data="{not json", headers=reader)
    assert malformed.status_code == 400 and malformed.json["error"]["code"] == "malformed_request"


def test_a_referral_without_a_report_cannot_be_reviewed(referred):  # noqa: F811
    client, _, _, reader = referred
    response = client.get(_url(), headers=reader)
    assert response.status_code == 409 and response.json["error"]["code"] == "not_ready"


def test_readers_add_prints_a_token_once_and_refuses_a_duplicate(runner, tmp_path):
    from edge.cli import cli

    data_dir = str(tmp_path / "imaging-data")
    added = runner.invoke(cli, ["imaging-server", "readers", "add", "dr-zhao", "--data-dir", data_dir])
    assert added.exit_code == 0 and added.output.startswith("ildrd_")
    assert added.output.strip() not in (tmp_path / "imaging-data" / "imaging.db").read_bytes().decode("latin-1")
    again = runner.invoke(cli, ["imaging-server", "readers", "add", "dr-zhao", "--data-dir", data_dir])
    assert again.exit_code == 1 and "already exists" in again.output and "Traceback" not in again.output


def test_masses_are_reviewed_like_nodules(reviewed):
    """A mass the method missed is added as a lesion of 30 mm or more: its line says mass, Lung-RADS
    4B, and that Fleischner 2017 does not apply; the clinic's FHIR report names it a mass."""
    client, clinic, reader = reviewed
    added = client.post(_url(), json={"type": "solid", "mean_diameter_mm": 42.0, "center_mm": [5.0, 5.0, 5.0]},
                        headers=reader)
    assert added.status_code == 201, added.json
    mass = added.json["nodules"][-1]
    assert mass["lesion"] == "mass" and mass["lung_rads"]["category"] == "4B"
    assert "outside the Fleischner 2017 nodule guideline" in mass["fleischner"]["high_risk"]
    edited = client.patch(_url(f"/{len(added.json['nodules'])}"), json={"mean_diameter_mm": 25.0}, headers=reader)
    assert edited.json["nodules"][-1]["lesion"] == "nodule"
    report = _clinic_nodules(client, clinic)["diagnostic_report"]
    assert "Nodule" in report["conclusion"]
    client.patch(_url(f"/{len(added.json['nodules'])}"), json={"mean_diameter_mm": 31.0}, headers=reader)
    report = _clinic_nodules(client, clinic)["diagnostic_report"]
    assert "Mass " in report["conclusion"] and "31.0 mm" in report["conclusion"]


def _consolidation_url(suffix: str = "") -> str:
    return f"/api/v1/reader/referrals/{REFERRAL_CODE}/consolidation{suffix}"


def test_consolidation_is_confirmed_edited_and_rejected_and_reaches_the_clinic(reviewed):
    client, clinic, reader = reviewed
    shown = client.get(_consolidation_url(), headers=reader)
    assert shown.status_code == 200
    method_ml = shown.json["consolidation"]["volume_ml"]
    assert method_ml > 5.0  # the phantom's consolidation

    confirmed = client.post(_consolidation_url("/confirm"), headers=reader)
    assert confirmed.json["consolidation"]["review"]["state"] == "confirmed"
    assert confirmed.json["consolidation"]["volume_ml"] == method_ml

    edited = client.patch(_consolidation_url(), json={"volume_ml": 30.0, "zones": {"upper": 0.0, "middle": 30.0,
                                                                                   "lower": 0.0}}, headers=reader)
    assert edited.status_code == 200, edited.json
    consolidation = edited.json["consolidation"]
    assert consolidation["volume_ml"] == 30.0 and consolidation["zones"]["middle"]["volume_ml"] == 30.0
    assert consolidation["review"] == {**consolidation["review"], "state": "edited", "method_volume_ml": method_ml}
    assert consolidation["statement"].startswith("Incidental consolidation: 30.0 ml")

    report = _clinic_nodules(client, clinic)
    assert report["metrics"]["consolidation"] == consolidation
    assert "Consolidation reviewed by a radiologist." in report["diagnostic_report"]["conclusion"]

    rejected = client.post(_consolidation_url("/reject"), headers=reader)
    assert rejected.json["consolidation"]["volume_ml"] == 0.0
    assert rejected.json["consolidation"]["review"]["method_volume_ml"] == method_ml
    assert rejected.json["consolidation"]["statement"].startswith("No consolidation of")


@pytest.mark.parametrize(("body", "field"), [
    ({}, "volume_ml"), ({"volume_ml": -1}, "volume_ml"), ({"volume_ml": "lots"}, "volume_ml"),
    ({"volume_ml": 10.0, "zones": {"upper": 10.0}}, "zones"),
    ({"volume_ml": 10.0, "zones": {"upper": 1.0, "middle": 1.0, "lower": 1.0}}, "zones"),
    ({"volume_ml": 10.0, "grade": 2}, "grade"),
])
def test_bad_consolidation_edits_are_refused_naming_the_field(reviewed, body, field):
    client, clinic, reader = reviewed
    before = _clinic_nodules(client, clinic)
    response = client.patch(_consolidation_url(), json=body, headers=reader)
    assert response.status_code == 422
    assert field in [problem["field"] for problem in response.json["error"]["fields"]]
    assert _clinic_nodules(client, clinic) == before


def test_a_round_consolidation_is_one_finding_named_consolidation_in_the_clinics_report(reviewed):
    """The phantom's round consolidation (as large as a 30 mm sphere) is one lesion line, named
    consolidation, and stays so when a reader confirms it (the line is regraded); the clinic's report
    names it consolidation, never a mass as well."""
    client, clinic, reader = reviewed
    listed = client.get(_url(), headers=reader).json["nodules"]
    (number,) = [index for index, line in enumerate(listed, start=1) if line["lesion"] == "consolidation"]
    assert "mass" not in [line["lesion"] for line in listed]
    confirmed = client.post(_url(f"/{number}/confirm"), headers=reader)
    assert confirmed.json["nodules"][number - 1]["lesion"] == "consolidation"
    assert "Fleischner Society glossary" in confirmed.json["nodules"][number - 1]["note"]
    conclusion = _clinic_nodules(client, clinic)["diagnostic_report"]["conclusion"]
    assert f"Consolidation {number}:" in conclusion and "Mass " not in conclusion


@pytest.fixture(scope="module")
def thick_series(tmp_path_factory):
    """The default phantom: 5 mm slices, where only lesions of 30 mm or more are reported (its consolidation)."""
    folder = tmp_path_factory.mktemp("review-thick-ct")
    write_series(make_phantom(), folder, identifying=False)
    return folder


def test_a_reader_edits_a_thick_section_line_and_the_caveat_stays(referred, thick_series):  # noqa: F811
    client, db, clinic, reader = referred
    _store_report(db, REFERRAL_CODE, quantify_datasets(REFERRAL_CODE, read_folder(thick_series),
                                                       ClassicalLungSegmenter()))
    listed = client.get(_url(), headers=reader).json
    assert len(listed["nodules"]) == 1 and listed["nodules"][0]["thick_sections"]["slice_mm"] == 5.0
    assert listed["nodule_guideline"]["masses_only"].startswith("masses only (slices 5 mm)")
    edited = client.patch(_url("/1"), json={"mean_diameter_mm": 40.0, "solid_component_mm": 40.0}, headers=reader)
    assert edited.status_code == 200, edited.json
    assert edited.json["nodules"][0]["thick_sections"] == listed["nodules"][0]["thick_sections"]
    conclusion = _clinic_nodules(client, clinic)["diagnostic_report"]["conclusion"]
    assert "40.0 mm" in conclusion and "Measured on 5 mm sections" in conclusion, conclusion
