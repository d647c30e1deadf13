"""The hospital path with a real Orthanc: referral accepted -> series in the PACS -> quantified ->
results over the API; and every failure: not CT, missing tags, unknown accession, PACS down."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ct_fixtures import database_url, imaging_settings, phantom, postgres  # noqa: F401 - fixtures
from imaging_server.app import create_app
from imaging_server.config import load_settings
from imaging_server.ingest import poll_once
from imaging_server.phantom import FAKE_PATIENT, make_phantom, write_series
from imaging_server.store import add_clinic, open_database
from orthanc_pacs import PASSWORD, USER, free_port, orthanc  # noqa: F401 - fixture
from referral_bundle import referral_bundle

pytestmark = pytest.mark.slow


@pytest.fixture
def hospital(imaging_settings, orthanc):  # noqa: F811
    """The CT server's settings pointing at the test Orthanc (emptied), its API client and a clinic token."""
    orthanc.clear()
    settings = load_settings(data_dir=imaging_settings.data_dir, orthanc_url=orthanc.url, orthanc_username=USER,
                             orthanc_password=PASSWORD, series_stable_s=0, database_url=imaging_settings.database_target)
    client = create_app(settings).test_client()
    db = open_database(settings.database_target)
    token = add_clinic(db, "clinic-north")
    db.close()
    return settings, client, {"Authorization": f"Bearer {token}"}


def refer(client, headers, code):
    response = client.post("/api/v1/referrals", json=referral_bundle(code), headers={**headers, "Idempotency-Key": code})
    assert response.status_code == 201, response.json
    return response


def status(client, headers, code):
    return client.get(f"/api/v1/referrals/{code}", headers=headers).json


def test_referral_to_report_through_orthanc(hospital, orthanc, phantom, tmp_path):  # noqa: F811
    """The acceptance path: HAA% within 1 point and lung volume within 5% of the phantom truth,
    reported as FHIR and JSON with the algorithm stamp and no identifying DICOM data."""
    settings, client, headers = hospital
    code = "ILD-AAAAAAAAAA"
    refer(client, headers, code)
    assert poll_once(settings).waiting == [code]  # nothing in the PACS yet
    orthanc.upload(write_series(phantom, tmp_path / "ct", accession_number=code))
    summary = poll_once(settings)
    assert summary.reported == [code], status(client, headers, code)
    assert status(client, headers, code)["status"] == "reported"

    response = client.get(f"/api/v1/referrals/{code}/report", headers=headers)
    assert response.status_code == 200
    report = response.json
    assert set(report) == {"referral_code", "status", "metrics", "diagnostic_report", "algorithm", "disclaimer",
                           "report_status", "ild_read"}
    assert report["report_status"] == "preliminary" and report["ild_read"] is None  # no radiologist read yet
    assert report["algorithm"] == {"name": "ildscreen-ct-quant", "version": "0.1.0"}
    assert report["disclaimer"] == "Not for clinical use until validated."
    metrics, truth = report["metrics"], phantom.truth
    assert abs(metrics["haa_percent"] - truth["haa_percent"]) <= 1.0
    assert abs(metrics["lung_volume_ml"] / truth["lung_volume_ml"] - 1) <= 0.05
    assert abs(metrics["zones"]["lower"]["haa_percent"] - truth["zones"]["lower"]["haa_percent"]) <= 1.0

    diagnostic = report["diagnostic_report"]
    assert diagnostic["resourceType"] == "DiagnosticReport"
    assert diagnostic["identifier"] == [{"system": "urn:ildscreen:referral", "value": code}]
    codes = {obs["code"]["coding"][0]["code"] for obs in diagnostic["contained"]}
    assert {"lung-volume", "mean-lung-density", "high-attenuation-area", "low-attenuation-area",
            "histogram-skewness", "histogram-kurtosis", "fibrosis-extent-estimate", "consolidation-volume",
            "vertebral-trabecular-attenuation", "pulmonary-nodule"} == codes
    # 5 mm slices: nodules are not assessed; the one lesion line is the phantom's 30 mm consolidation
    # (masses only, with the thick-section caveat).
    lines = metrics["nodules"]
    assert len(lines) == 1 and lines[0]["mean_diameter_mm"] >= 30 and lines[0]["thick_sections"]["slice_mm"] == 5.0
    assert "progression" not in metrics  # the patient's first CT
    haa = next(obs for obs in diagnostic["contained"] if obs["code"]["coding"][0]["code"] == "high-attenuation-area")
    assert haa["valueQuantity"]["value"] == metrics["haa_percent"] and len(haa["component"]) == 3


def test_report_payloads_carry_no_identifying_dicom_data(hospital, orthanc, tmp_path, caplog):  # noqa: F811
    """The phantom's headers hold a fake name, ID, birth date and institution: none may leave,
    neither in an API payload nor in the service log."""
    caplog.set_level("DEBUG", logger="imaging_server")
    settings, client, headers = hospital
    code = "ILD-BBBBBBBBBB"
    refer(client, headers, code)
    paths = write_series(make_phantom(shape=(24, 64, 64), seed=2), tmp_path / "ct", accession_number=code)
    orthanc.upload(paths)
    assert poll_once(settings).reported == [code]
    import pydicom

    sample = pydicom.dcmread(paths[0])
    forbidden = [*FAKE_PATIENT.values(), "Phantom", "FAKE", "1952-03-14", "19520314", str(sample.StudyInstanceUID),
                 str(sample.SeriesInstanceUID), str(sample.SOPInstanceUID), str(sample.FrameOfReferenceUID)]
    for path in (f"/api/v1/referrals/{code}", f"/api/v1/referrals/{code}/report"):
        payload = client.get(path, headers=headers).get_data(as_text=True)
        for value in forbidden:
            assert value.lower() not in payload.lower(), f"{value!r} leaked in {path}"
    assert caplog.records, "the poll logged nothing, so this check would prove nothing"
    for value in forbidden:
        assert value.lower() not in caplog.text.lower(), f"{value!r} leaked into the log"


def test_the_diagnostic_report_is_valid_fhir_r4(hospital, orthanc, tmp_path):  # noqa: F811
    diagnostic_report = pytest.importorskip("fhir.resources.R4B.diagnosticreport")
    settings, client, headers = hospital
    code = "ILD-CCCCCCCCCC"
    refer(client, headers, code)
    orthanc.upload(write_series(make_phantom(shape=(24, 64, 64), seed=4), tmp_path / "ct", accession_number=code))
    poll_once(settings)
    report = client.get(f"/api/v1/referrals/{code}/report", headers=headers).json["diagnostic_report"]
    parsed = diagnostic_report.DiagnosticReport.model_validate(report)
    assert len(parsed.contained) == 9 and parsed.status == "preliminary"


def test_one_bad_referral_never_blocks_the_others(hospital, orthanc, tmp_path):  # noqa: F811
    """MR-only study -> failed (reason given); missing rescale tags -> failed; no study -> waiting;
    the good one in between is still reported, all in one poll."""
    settings, client, headers = hospital
    small = make_phantom(shape=(24, 64, 64), seed=6)
    cases = {"ILD-DDDDDDDDDD": {"modality": "MR"}, "ILD-EEEEEEEEEE": {"with_rescale": False},
             "ILD-FFFFFFFFFF": {}, "ILD-GGGGGGGGGG": None}
    for code, options in cases.items():
        refer(client, headers, code)
        if options is not None:
            orthanc.upload(write_series(small, tmp_path / code, accession_number=code, **options))
    summary = poll_once(settings)
    assert summary.failed == ["ILD-DDDDDDDDDD", "ILD-EEEEEEEEEE"]
    assert summary.reported == ["ILD-FFFFFFFFFF"] and summary.waiting == ["ILD-GGGGGGGGGG"]
    assert status(client, headers, "ILD-DDDDDDDDDD")["error"] == "series is not CT (modality MR)"
    assert status(client, headers, "ILD-EEEEEEEEEE")["error"] == "missing RescaleSlope/RescaleIntercept"
    unknown = status(client, headers, "ILD-GGGGGGGGGG")
    assert unknown["status"] == "awaiting_images" and unknown["error"] is None
    not_ready = client.get("/api/v1/referrals/ILD-DDDDDDDDDD/report", headers=headers)
    assert not_ready.status_code == 409 and "series is not CT" in not_ready.json["error"]["message"]
    # A failed referral is not retried; a waiting one is asked again on the next poll.
    assert poll_once(settings).checked == 1


def test_a_study_with_ct_and_other_series_uses_the_ct(hospital, orthanc, tmp_path):  # noqa: F811
    settings, client, headers = hospital
    code = "ILD-HHHHHHHHHH"
    refer(client, headers, code)
    small = make_phantom(shape=(24, 64, 64), seed=7)
    mr = write_series(small, tmp_path / "mr", accession_number=code, modality="MR")
    import pydicom

    ct = write_series(small, tmp_path / "ct", accession_number=code, study_uid=pydicom.dcmread(mr[0]).StudyInstanceUID)
    orthanc.upload(mr + ct)
    assert poll_once(settings).reported == [code]


def test_pacs_down_leaves_referrals_waiting(hospital, tmp_path):
    """An unreachable PACS is retried on the next poll, not turned into a failed referral."""
    settings, client, headers = hospital
    refer(client, headers, "ILD-JJJJJJJJJJ")
    down = settings.model_copy(update={"orthanc_url": f"http://127.0.0.1:{free_port()}", "pacs_timeout_s": 2.0})
    summary = poll_once(down)
    assert summary.waiting == ["ILD-JJJJJJJJJJ"] and not summary.failed
    assert status(client, headers, "ILD-JJJJJJJJJJ")["status"] == "awaiting_images"


def test_wrong_pacs_password_leaves_referrals_waiting(hospital, orthanc, tmp_path):  # noqa: F811
    settings, client, headers = hospital
    refer(client, headers, "ILD-KKKKKKKKKK")
    wrong = load_settings(data_dir=settings.data_dir, orthanc_url=orthanc.url, orthanc_username=USER,
                          orthanc_password="wrong", series_stable_s=0, database_url=settings.database_target)
    assert poll_once(wrong).waiting == ["ILD-KKKKKKKKKK"]


def test_a_series_still_arriving_is_not_quantified_until_stable(hospital, orthanc, tmp_path):  # noqa: F811
    settings, client, headers = hospital
    code = "ILD-LLLLLLLLLL"
    refer(client, headers, code)
    paths = write_series(make_phantom(shape=(24, 64, 64), seed=8), tmp_path / "ct", accession_number=code)
    orthanc.upload(paths[:10])
    patient = settings.model_copy(update={"series_stable_s": 3600.0})
    assert poll_once(patient).waiting == [code]
    orthanc.upload(paths[10:])
    assert poll_once(patient).waiting == [code]
    assert poll_once(settings).reported == [code]


def test_poll_once_command_reads_the_data_folder_config(hospital, orthanc, runner, tmp_path):  # noqa: F811
    from edge.cli import cli

    settings, client, headers = hospital
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # on PostgreSQL nothing else is in it
    (settings.data_dir / "config.toml").write_text(
        f'orthanc_url = "{orthanc.url}"\northanc_username = "{USER}"\northanc_password = "{PASSWORD}"\n'
        "series_stable_s = 0\n")
    code = "ILD-MMMMMMMMMM"
    refer(client, headers, code)
    orthanc.upload(write_series(make_phantom(shape=(24, 64, 64), seed=9), tmp_path / "ct", accession_number=code))
    result = runner.invoke(cli, ["imaging-server", "poll-once", "--data-dir", str(settings.data_dir),
                                 "--database-url", settings.database_target])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"checked": 1, "reported": 1, "failed": 0, "waiting": 0}


def test_a_second_ct_of_the_same_patient_reports_progression_and_followed_nodules(hospital, orthanc,  # noqa: F811
                                                                                   tmp_path):
    """DICOM in the PACS -> quantified report with every new field; the second referral of the same
    pseudonymous patient is compared with the first: progression stated, nodules stable, in FHIR too."""
    settings, client, headers = hospital
    scans = {"ILD-NNNNNNNNNN": make_phantom(shape=(100, 200, 200), field_of_view_mm=300.0, seed=5,
                                            lower_zone_fibrosis_fraction=0.1),
             "ILD-PPPPPPPPPP": make_phantom(shape=(100, 200, 200), field_of_view_mm=300.0, seed=5, noise_seed=3,
                                            lower_zone_fibrosis_fraction=0.6)}
    for code, scan in scans.items():
        refer(client, headers, code)
        orthanc.upload(write_series(scan, tmp_path / code, accession_number=code))
        assert poll_once(settings).reported == [code]
    first = client.get("/api/v1/referrals/ILD-NNNNNNNNNN/report", headers=headers).json["metrics"]
    assert "progression" not in first and {n["status"] for n in first["nodules"]} == {"baseline"}
    report = client.get("/api/v1/referrals/ILD-PPPPPPPPPP/report", headers=headers).json
    metrics = report["metrics"]
    assert metrics["progression"]["progression"] is True
    assert {n["status"] for n in metrics["nodules"]} == {"stable"}
    truth = scans["ILD-PPPPPPPPPP"].truth
    for nodule in truth["nodules"]:
        assert any(np.linalg.norm(np.subtract(found["center_mm"], nodule["center_mm"])) <= 5.0
                   for found in metrics["nodules"]), nodule
    assert abs(metrics["consolidation"]["volume_ml"] / truth["consolidation_ml"] - 1) <= 0.10
    assert metrics["bone"]["flag"] == "likely_osteoporosis"
    contained = {obs["id"]: obs for obs in report["diagnostic_report"]["contained"]}
    assert contained["ild-extent-change"]["valueQuantity"]["value"] == metrics["progression"]["change_points"]
    assert "pulmonary-nodule-1" in contained and "Not for clinical use." in contained["pulmonary-nodule-1"]["note"][0]["text"]
    assert "Progression: ILD extent rose" in report["diagnostic_report"]["conclusion"]
    fhir = pytest.importorskip("fhir.resources.R4B.diagnosticreport")
    fhir.DiagnosticReport.model_validate(report["diagnostic_report"])
