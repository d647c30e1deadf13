"""The watcher's per-referral isolation with a fake DICOMweb client: each broken series fails its own
referral with a readable reason, and the next referral is still processed."""
from __future__ import annotations

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from imaging_server.app import create_app
from imaging_server.ingest import poll_once, recover_interrupted
from imaging_server.phantom import make_phantom, write_series
from imaging_server.referrals import set_status
from imaging_server.segmentation import ClassicalLungSegmenter
from imaging_server.store import add_clinic, open_database
from referral_bundle import referral_bundle

GOOD, TRUNCATED, UNDECODABLE, BROKEN_MATHS = "ILD-AAAAAAAAAA", "ILD-BBBBBBBBBB", "ILD-CCCCCCCCCC", "ILD-DDDDDDDDDD"


class FakePacs:
    """Answers QIDO with one CT series per known accession and WADO with prepared datasets."""

    def __init__(self, series: dict):
        self.series = series

    def search_for_studies(self, search_filters):
        code = search_filters["AccessionNumber"]
        return [{"0020000D": {"Value": [code]}}] if code in self.series else []

    def search_for_series(self, study_instance_uid):
        return [{"00080060": {"Value": ["CT"]}, "0020000E": {"Value": [study_instance_uid]},
                 "00201209": {"Value": [3]}}]

    def retrieve_series(self, study_instance_uid, series_instance_uid):
        outcome = self.series[study_instance_uid]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class BrokenMathsSegmenter(ClassicalLungSegmenter):
    def segment(self, volume):
        if volume.hu.shape[1] == 40:
            raise ValueError("an unexpected numerical problem")
        return super().segment(volume)


@pytest.fixture
def referred(imaging_settings, tmp_path):  # noqa: F811
    client = create_app(imaging_settings).test_client()
    db = open_database(imaging_settings.database_target)
    headers = {"Authorization": f"Bearer {add_clinic(db, 'clinic-north')}"}
    db.close()
    for code in (GOOD, TRUNCATED, UNDECODABLE, BROKEN_MATHS):
        assert client.post("/api/v1/referrals", json=referral_bundle(code),
                           headers={**headers, "Idempotency-Key": code}).status_code == 201
    return client, headers


def _datasets(folder, shape=(20, 48, 48)):
    return [pydicom.dcmread(path) for path in write_series(make_phantom(shape=shape), folder)]


def test_each_broken_series_fails_alone(imaging_settings, referred, tmp_path):  # noqa: F811
    client, headers = referred
    undecodable = _datasets(tmp_path / "u")
    undecodable[4].PixelData = b"\x00" * 7
    pacs = FakePacs({
        GOOD: _datasets(tmp_path / "g"),
        TRUNCATED: InvalidDicomError("File is missing DICOM File Meta Information header"),
        UNDECODABLE: undecodable,
        BROKEN_MATHS: _datasets(tmp_path / "m", shape=(20, 40, 40)),
    })
    summary = poll_once(imaging_settings, client=pacs, segmenter=BrokenMathsSegmenter())
    assert summary.reported == [GOOD]
    assert summary.failed == [TRUNCATED, UNDECODABLE, BROKEN_MATHS]
    errors = {code: client.get(f"/api/v1/referrals/{code}", headers=headers).json["error"]
              for code in (TRUNCATED, UNDECODABLE, BROKEN_MATHS)}
    assert errors == {TRUNCATED: "unreadable DICOM",
                      UNDECODABLE: "unreadable DICOM: pixel data missing or not decodable",
                      BROKEN_MATHS: "quantification error (ValueError)"}


def test_referrals_interrupted_while_quantifying_wait_again_after_restart(imaging_settings, referred):  # noqa: F811
    db = open_database(imaging_settings.database_target)
    set_status(db, GOOD, "quantifying")
    db.close()
    assert recover_interrupted(imaging_settings) == 1
    client, headers = referred
    assert client.get(f"/api/v1/referrals/{GOOD}", headers=headers).json["status"] == "awaiting_images"
