"""Fixtures of the CT service tests (imported by name in each test module; a second conftest.py
would shadow the root one, which other tests import as `conftest`)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imaging_server.dicom_io import CtVolume, load_series_folder
from imaging_server.lidc_readers import reference_lesions, sop_slice_index
from imaging_server.phantom import make_phantom, write_series
from imaging_server.quantify import quantify_volume
from pg_server import database_url, postgres  # noqa: F401 - fixtures imaging_settings needs
from referral_bundle import REFERRAL_CODE, referral_bundle
from support import SHARED_DATA, shared_data_or_skip


@pytest.fixture(scope="session")
def phantom():
    """The default test phantom: 60 x 128 x 128, 25% of the lower-zone parenchyma fibrotic."""
    return make_phantom()


@pytest.fixture(scope="session")
def series_dir(phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ct-series")
    write_series(phantom, folder, accession_number="ILD-ABCDEFGHIJ")
    return folder


@pytest.fixture
def imaging_settings(tmp_path, no_env_settings, database_url):
    """Settings of a CT server in the test's folder, on SQLite and on PostgreSQL (each test that
    uses them runs on both)."""
    from imaging_server.config import load_settings

    return load_settings(data_dir=tmp_path / "imaging-data", series_stable_s=0, database_url=database_url)


@pytest.fixture
def referred(imaging_settings):
    """A CT server that has received the referral ``REFERRAL_CODE`` from clinic-north and has a reader,
    dr-wang: its test client, an open database (closed after the test), clinic and reader headers."""
    from imaging_server.app import create_app
    from imaging_server.nodule_review import add_reader
    from imaging_server.store import add_clinic, open_database

    client = create_app(imaging_settings).test_client()
    db = open_database(imaging_settings.database_target)
    clinic, reader = add_clinic(db, "clinic-north"), add_reader(db, "dr-wang")
    response = client.post("/api/v1/referrals", json=referral_bundle(),
                           headers={"Authorization": f"Bearer {clinic}", "Idempotency-Key": REFERRAL_CODE})
    assert response.status_code == 201
    yield client, db, {"Authorization": f"Bearer {clinic}"}, {"Authorization": f"Bearer {reader}"}
    db.close()


# --- Real CT: the LIDC-IDRI slabs and the readers' lesions on them -------------------------------------

#: Three LIDC-IDRI slabs with four radiologists' reading (``../shared/data/ct_lidc``; see its README).
CT_LIDC = SHARED_DATA / "ct_lidc"
LIDC_CASES = ("LIDC-IDRI-0001", "LIDC-IDRI-0002", "LIDC-IDRI-0003")
#: A finding is the readers' lesion when its centre lies this close to the readers' mean centre.
CENTRE_MM = 10.0
#: The issue's diameter tolerance for the phantoms (1.5 mm), about two pixels on the slabs.
DIAMETER_SLACK_MM = 1.5


@pytest.fixture(scope="session")
def lidc():
    """The LIDC-IDRI slabs' folder (skipped where absent, failed under CI)."""
    return shared_data_or_skip(CT_LIDC, "LIDC-IDRI slabs (ct_lidc)")


@pytest.fixture(scope="session")
def lidc_reports(lidc):
    """Each case's volume, quantified metrics and the readers' lesions on its slices (quantified once
    per test session: the acquisition tests compare their derived slabs with these)."""
    result = {}
    for case in LIDC_CASES:
        series = lidc / case / "series"
        volume = load_series_folder(series)
        references = reference_lesions(lidc / case / "readers.xml", sop_slice_index(series), volume.spacing_mm[1:],
                                       volume.spacing_mm)
        result[case] = (volume, quantify_volume(volume).metrics, references)
    return result


def finding_of_reader_lesion(metrics: dict, centre_mm, reference, *, slack_mm: float = DIAMETER_SLACK_MM) -> dict:
    """The one reported finding centred within :data:`CENTRE_MM` of ``centre_mm`` (the readers' mean
    centre, patient mm), asserted typed as the readers' majority texture says, with a mean diameter in
    the readers' range widened by ``slack_mm`` each way and named a mass from 30 mm."""
    hits = [n for n in metrics["nodules"] if np.linalg.norm(np.subtract(n["center_mm"], centre_mm)) <= CENTRE_MM]
    assert len(hits) == 1, (centre_mm, reference, metrics["nodules"])
    finding = hits[0]
    assert finding["type"] == reference.majority_type, (finding, reference.textures)
    low, high = min(reference.diameters_mm), max(reference.diameters_mm)
    assert low - slack_mm <= finding["mean_diameter_mm"] <= high + slack_mm, (
        finding["mean_diameter_mm"], reference.diameters_mm, slack_mm)
    assert finding["lesion"] == ("mass" if finding["mean_diameter_mm"] >= 30 else "nodule")
    return finding


# --- The same real scan acquired another way ----------------------------------------------------------
# Each derivation is what a scanner would have produced from the same patient: a thicker reconstruction
# or larger pixels integrate the signal over the larger voxel (a box average over the voxel's extent, which
# nodules.block_sum does for whole in-plane factors only), a mirrored image is the other side's lung, and a
# low-dose scan carries more quantum noise. Geometry (origin, spacing, slice step) follows, so the readers'
# centre, in patient millimetres, stays where the lesion is.

def _box_weights(count: int, old_mm: float, new_mm: float) -> np.ndarray:
    """(new, old) weights of a box average from ``count`` voxels of ``old_mm`` to voxels of ``new_mm``
    (each new voxel the overlap-weighted mean of the old ones it covers; the partial last one dropped)."""
    edges_old = np.arange(count + 1) * old_mm
    new_count = int(np.floor(count * old_mm / new_mm + 1e-6))
    if new_count < 1:
        raise ValueError(f"{count} voxels of {old_mm} mm hold no voxel of {new_mm} mm")
    edges_new = np.arange(new_count + 1) * new_mm
    overlap = (np.minimum(edges_new[1:, None], edges_old[None, 1:])
               - np.maximum(edges_new[:-1, None], edges_old[None, :-1])).clip(min=0)
    return overlap / new_mm


def reacquired(volume: CtVolume, *, slice_mm: float | None = None, pixel_mm: float | None = None) -> CtVolume:
    """``volume`` reconstructed with slices ``slice_mm`` thick and/or square pixels of ``pixel_mm``
    (each at least the original): box averages over the new voxels, the first new voxel starting where
    the first old one did, spacing, origin and slice step updated."""
    dz, dy, dx = volume.spacing_mm
    new = (slice_mm or dz, pixel_mm or dy, pixel_mm or dx)
    if any(n < o - 1e-6 for n, o in zip(new, (dz, dy, dx))):
        raise ValueError(f"a re-acquisition only coarsens: {new} mm from {volume.spacing_mm} mm")
    hu = volume.hu.astype(np.float32)
    for axis, (old_mm, new_mm) in enumerate(zip((dz, dy, dx), new)):
        if new_mm != old_mm:
            weights = _box_weights(hu.shape[axis], old_mm, new_mm).astype(np.float32)
            hu = np.moveaxis(np.tensordot(weights, hu, axes=([1], [axis])), 0, axis)
    # The new voxel 0's centre lies half a new voxel from the old voxel 0's outer edge.
    first = tuple(n / o / 2 - 0.5 for n, o in zip(new, (dz, dy, dx)))
    step = volume.slice_step_mm if volume.slice_step_mm is not None else (0.0, 0.0, -dz)
    return CtVolume(hu=np.ascontiguousarray(hu), spacing_mm=new, origin_mm=tuple(volume.patient_position(first)),
                    orientation=volume.orientation, slice_step_mm=tuple(s * new[0] / dz for s in step))


def mirrored(volume: CtVolume) -> CtVolume:
    """The image flipped left-right in the same geometry: the lesion moves to the other lung, at the
    column :func:`mirrored_index` gives."""
    return replace(volume, hu=np.ascontiguousarray(volume.hu[:, :, ::-1]))


def mirrored_index(volume: CtVolume, index: tuple[float, float, float]) -> tuple[float, float, float]:
    """The (slice, row, column) position of ``index`` in :func:`mirrored` ``(volume)``."""
    k, r, c = index
    return (k, r, volume.hu.shape[2] - 1 - c)


def with_low_dose_noise(volume: CtVolume, sd_hu: float, *, seed: int = 0) -> CtVolume:
    """``volume`` plus white Gaussian noise of ``sd_hu`` (fixed ``seed``) inside the reconstruction
    circle (pixels below -1024 HU are the scanner's padding outside it, left alone)."""
    noise = np.random.default_rng(seed).normal(0.0, sd_hu, volume.hu.shape).astype(np.float32)
    return replace(volume, hu=np.where(volume.hu < -1024, volume.hu, volume.hu + noise).astype(np.float32))
