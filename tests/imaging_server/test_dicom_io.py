"""Reading a CT series: HU from the rescale tags, slice order, and a clear error for each bad input."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from imaging_server.dicom_io import load_series_folder, volume_from_datasets
from imaging_server.errors import SeriesError
from imaging_server.phantom import make_phantom, write_series


@pytest.fixture(scope="module")
def small():
    return make_phantom(shape=(16, 32, 32), emphysema=False)


def _datasets(phantom, folder, **options):
    return [pydicom.dcmread(path) for path in write_series(phantom, folder, **options)]


def test_hu_comes_from_slope_and_intercept_and_slices_are_ordered_by_position(small, tmp_path):
    datasets = _datasets(small, tmp_path)
    for ds in datasets:  # a different intercept with shifted stored values must give the same HU
        ds.RescaleSlope, ds.RescaleIntercept = 2, -2048
        stored = ds.pixel_array.astype(np.int32)
        ds.PixelData = (((stored - 1024) + 2048) // 2).astype(np.uint16).tobytes()
    shuffled = datasets[::-1][3:] + datasets[::-1][:3]
    volume = volume_from_datasets(shuffled)
    expected = np.clip(np.rint(small.hu), -1024, 3071)
    assert np.abs(volume.hu - expected).max() <= 1.0
    assert volume.spacing_mm == pytest.approx(small.spacing_mm, rel=1e-3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ds: delattr(ds, "RescaleSlope"), "missing RescaleSlope/RescaleIntercept"),
        (lambda ds: delattr(ds, "RescaleIntercept"), "missing RescaleSlope/RescaleIntercept"),
        (lambda ds: setattr(ds, "Modality", "MR"), "series is not CT (modality CT, MR)"),
        (lambda ds: delattr(ds, "ImagePositionPatient"), "missing or invalid ImagePositionPatient"),
        (lambda ds: delattr(ds, "PixelSpacing"), "missing or invalid PixelSpacing"),
        (lambda ds: delattr(ds, "PixelData"), "unreadable DICOM: an image has no pixel data"),
        (lambda ds: setattr(ds, "PixelData", b"\x00" * 10), "unreadable DICOM: pixel data missing or not decodable"),
        (lambda ds: setattr(ds, "SeriesInstanceUID", "1.2.3.4"),
         "the images belong to 2 series (series number 2: 15 image(s); series number 2: 1 image(s)): pass the folder of one series"),
        (lambda ds: setattr(ds, "ImagePositionPatient", [0, 0, 1000]), "slice gaps are uneven"),
    ],
)
def test_each_broken_header_is_a_clear_series_error(small, tmp_path, change, message):
    datasets = _datasets(small, tmp_path)
    change(datasets[5])
    with pytest.raises(SeriesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        volume_from_datasets(datasets)


def test_an_mr_series_is_refused_naming_the_modality(small, tmp_path):
    with pytest.raises(SeriesError, match=r"series is not CT \(modality MR\)"):
        volume_from_datasets(_datasets(small, tmp_path, modality="MR"))


def test_a_file_that_is_not_dicom_is_named(small, tmp_path):
    write_series(small, tmp_path)
    (tmp_path / "notes.dcm").write_bytes(b"this is not DICOM at all")
    with pytest.raises(SeriesError, match="unreadable DICOM: notes.dcm"):
        load_series_folder(tmp_path)


def test_a_truncated_file_is_unreadable(small, tmp_path):
    paths = write_series(small, tmp_path)
    paths[3].write_bytes(paths[3].read_bytes()[:400])
    with pytest.raises(SeriesError, match="unreadable DICOM"):
        load_series_folder(tmp_path)


def test_a_downloaded_case_is_read_from_its_subfolder_and_its_sidecars_are_left_out(small, tmp_path, caplog):
    """An LIDC-IDRI case keeps its images in ``series/`` beside ``readers.xml``: the case folder
    reads as the series, the sidecars are left out (logged by ending, not name)."""
    write_series(small, tmp_path / "series")
    (tmp_path / "readers.xml").write_text("<LidcReadMessage/>")
    (tmp_path / "README").write_text("patient SMITH JOHN")
    (tmp_path / ".DS_Store").write_bytes(b"\x00" * 300)
    expected = load_series_folder(tmp_path / "series")
    with caplog.at_level("WARNING"):
        volume = load_series_folder(tmp_path)
    assert np.array_equal(volume.hu, expected.hu) and volume.spacing_mm == expected.spacing_mm
    assert "left out 2 file(s) that are not DICOM ((no ending), .xml)" in caplog.text
    assert "SMITH" not in caplog.text and "README" not in caplog.text


def test_a_dicom_file_without_a_dicom_name_is_still_read(small, tmp_path):
    paths = write_series(small, tmp_path)
    for path in paths:
        path.rename(path.with_suffix(""))  # scanners often write IM0001 with no ending
    assert load_series_folder(tmp_path).hu.shape == load_series_folder(tmp_path).hu.shape == (16, 32, 32)


def test_a_truncated_file_without_a_dicom_ending_is_still_an_error(small, tmp_path):
    """Left out are only files with no DICOM prefix: a broken DICOM file is never skipped."""
    paths = write_series(small, tmp_path)
    broken = paths[3].with_suffix("")
    broken.write_bytes(paths[3].read_bytes()[:400])
    paths[3].unlink()
    with pytest.raises(SeriesError, match="unreadable DICOM"):
        load_series_folder(tmp_path)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(SeriesError, match="no DICOM files"):
        load_series_folder(tmp_path)
    (tmp_path / "readers.xml").write_text("<LidcReadMessage/>")
    with pytest.raises(SeriesError, match=r"no DICOM files in .* \(1 other files\)"):
        load_series_folder(tmp_path)
    with pytest.raises(SeriesError, match="not a folder"):
        load_series_folder(tmp_path / "absent")


def test_too_few_slices(small, tmp_path):
    with pytest.raises(SeriesError, match="at least 3 slices"):
        volume_from_datasets(_datasets(small, tmp_path)[:2])
