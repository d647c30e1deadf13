"""The phantom's truth is right by construction, so the accuracy tests measure the quantifier."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from imaging_server.phantom import (AIRWAY, FAKE_PATIENT, FIBROSIS, LUNG_LABELS, MR_IMAGE_STORAGE, PARENCHYMA,
                                    make_phantom, write_series)


def test_fibrosis_takes_the_requested_share_of_lower_zone_parenchyma_only():
    phantom = make_phantom(shape=(30, 64, 64), lower_zone_fibrosis_fraction=0.3, seed=1)
    lung_slices = np.flatnonzero(np.isin(phantom.labels, LUNG_LABELS).any(axis=(1, 2)))
    # Zones are thirds of the lung's slices, a slice belonging to the third holding its centre.
    zone = np.minimum(((np.arange(lung_slices.size) + 0.5) / lung_slices.size * 3).astype(int), 2)
    lower = phantom.labels[lung_slices[zone == 2]]
    assert not (phantom.labels[lung_slices[zone < 2]] == FIBROSIS).any()
    fibrosis, parenchyma = (lower == FIBROSIS).sum(), (lower == PARENCHYMA).sum()
    assert fibrosis / (fibrosis + parenchyma) == pytest.approx(0.3, abs=0.001)
    assert phantom.truth["haa_percent"] == pytest.approx(
        100 * (phantom.labels == FIBROSIS).sum() / np.isin(phantom.labels, LUNG_LABELS).sum())


def test_the_trachea_reaches_the_top_slice_and_the_lungs_do_not():
    phantom = make_phantom(shape=(30, 64, 64))
    assert (phantom.labels[0] == AIRWAY).any()
    assert not np.isin(phantom.labels[0], LUNG_LABELS).any()


def test_intensities_match_the_tissue():
    phantom = make_phantom(shape=(30, 64, 64))
    assert np.median(phantom.hu[phantom.labels == PARENCHYMA]) == pytest.approx(-850, abs=10)
    assert np.median(phantom.hu[phantom.labels == FIBROSIS]) == pytest.approx(-450, abs=10)


def test_written_series_carries_the_requested_headers(tmp_path):
    phantom = make_phantom(shape=(16, 32, 32))
    paths = write_series(phantom, tmp_path, accession_number="ILD-ABCDEFGHIJ", modality="MR", with_rescale=False)
    ds = pydicom.dcmread(paths[0])
    assert (ds.AccessionNumber, ds.Modality, ds.SOPClassUID) == ("ILD-ABCDEFGHIJ", "MR", MR_IMAGE_STORAGE)
    assert "RescaleSlope" not in ds and str(ds.PatientName) == FAKE_PATIENT["PatientName"]
    assert len(paths) == 16


def test_invalid_phantom_arguments_are_refused():
    with pytest.raises(ValueError, match="within 0..0.9, got 1.5"):
        make_phantom(lower_zone_fibrosis_fraction=1.5)
    with pytest.raises(ValueError, match=">= 16 voxels"):
        make_phantom(shape=(8, 64, 64))


def test_findings_have_their_stated_truth():
    """Nodule, consolidation and vertebra labels are where and as large as the truth says."""
    from imaging_server.phantom import (CONSOLIDATION, NODULE_GROUND_GLASS, NODULE_SOLID, TRABECULAR_BONE,
                                        VERTEBRA_TRABECULAR_HU)

    phantom = make_phantom(shape=(60, 128, 128))
    dz, dy, dx = phantom.spacing_mm
    nodule_voxels = np.isin(phantom.labels, (NODULE_SOLID, NODULE_GROUND_GLASS)).sum() * dz * dy * dx
    assert nodule_voxels == pytest.approx(sum(n["volume_mm3"] for n in phantom.truth["nodules"]), rel=0.3)
    assert phantom.truth["consolidation_ml"] == pytest.approx((phantom.labels == CONSOLIDATION).sum() * dz * dy * dx
                                                              / 1000)
    trabecular = phantom.hu[phantom.labels == TRABECULAR_BONE]
    assert VERTEBRA_TRABECULAR_HU[-1] - 100 < np.median(trabecular) < VERTEBRA_TRABECULAR_HU[0] + 100
    # Vertebral bodies touching the first or last slice are not in the truth (nor measured): 300 mm of
    # column starting 10 mm inside the first body, a body and its disc every 28 mm, hold ten whole ones.
    assert len(phantom.truth["vertebrae"]) == 10


def test_a_slice_averages_the_column_over_its_thickness():
    """Partial volume: every 3 mm slice through a column of 4 mm discs (tilted as a kyphosis tilts them)
    also sees endplate or body bone and reads well above the disc's own 90 HU; 0.5 mm slices through
    flat discs leave slices of pure disc."""
    from imaging_server.phantom import SPINE

    def darkest_column_slice(slices, tilt_deg):
        spine = {**SPINE, "height_mm": 20.0, "disc_mm": 4.0, "tilt_deg": tilt_deg}
        phantom = make_phantom(shape=(slices, 64, 64), scan_length_mm=300.0, noise_hu=0.0, spine=spine,
                               trabecular_hu=(300.0,))  # bright bone: a dark slice is disc
        dy = phantom.spacing_mm[1]
        row, col = int(round((SPINE["center_xy_mm"][1] + 170.0) / dy)), 32
        core = phantom.hu[:, row - 1:row + 2, col - 1:col + 2]  # the column's middle, 16 mm across
        return core.mean(axis=(1, 2)).min()

    assert darkest_column_slice(100, 10.0) > 150.0
    assert darkest_column_slice(600, 0.0) == pytest.approx(90.0, abs=1.0)


def test_noise_seed_changes_the_noise_only():
    first, second = make_phantom(shape=(20, 64, 64)), make_phantom(shape=(20, 64, 64), noise_seed=5)
    assert np.array_equal(first.labels, second.labels) and not np.array_equal(first.hu, second.hu)
    assert first.truth["haa_percent"] == second.truth["haa_percent"]


def test_without_findings_the_phantom_has_none():
    from imaging_server.phantom import CONSOLIDATION, CORTICAL_BONE, NODULE_SOLID

    phantom = make_phantom(shape=(20, 64, 64), findings=False)
    assert not np.isin(phantom.labels, (CONSOLIDATION, CORTICAL_BONE, NODULE_SOLID)).any()
    assert "nodules" not in phantom.truth
