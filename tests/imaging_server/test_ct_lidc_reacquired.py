"""Do the CT findings on real scans hold when the same scan is acquired another way?

The three LIDC-IDRI slabs (``test_ct_lidc``) are re-acquired, each way physically honest (see
``ct_fixtures.reacquired`` and its neighbours), and quantified again:

- **3 mm slices**: each new slice the overlap-weighted mean of the 2.5 mm (1.25 mm) slices it covers,
  as a scanner's thicker reconstruction integrates them: the issue's withheld chest CT is 134 x 3 mm;
- **500 mm field of view**: pixels of 500/512 = 0.98 mm (the largest common display field of view on a
  512 matrix) as box means of the 0.68-0.82 mm ones;
- **mirrored** left-right, the readers' centre mirrored with it: the lesion in the other lung;
- **low-dose noise**: white Gaussian noise of 25 HU SD (seed 0). The slabs' own noise measures 10-13 HU
  (SD about a 7 x 7 local mean in fat and muscle); noise grows as 1/sqrt(dose), and a low-dose screening
  scan has about a fifth of a standard scan's dose (about 1.5 vs 7 mSv), so about twice the noise:
  sqrt(12^2 + 25^2) = 28 HU in all; two draws (seeds 0 and 1), as one draw can pass by luck;
- **all of the withheld scan's ways at once**: 3 mm slices, 0.98 mm pixels and the noise.

The readers' truth is the same lesion's: its majority texture, and its centre in patient millimetres (the
derived geometry is updated so that it stays put; mirrored with the image). Its diameter is judged in
the readers' range widened by the slabs' ``DIAMETER_SLACK_MM`` plus half the coarsest voxel edge the
derivation made (partial volume moves a threshold outline by up to half a voxel along that axis, and an
outline inclined to the axial plane carries a z shift into the axial section as much): 1.5 mm more for
3 mm slices, 0.5 mm more for 0.98 mm pixels, none for the mirror and the noise.

Which cases: both solid lesions (LIDC-IDRI-0001, -0003) every way. LIDC-IDRI-0002's pleura-based
ground-glass lesion (cut by the slab: 7 of the readers' 23-30 contoured slices) holds only mirrored: its
region of -650..-300 HU mean attenuation has an elongation of 3.7 as acquired, just inside the ground-glass
rule's 4.0, and 4.1-4.7 on 2.5 mm or 3 mm slices or 0.98 mm pixels, so it is refused; with 25 HU noise its
region is a candidate (17.9 mm) but its largest > -300 HU part measures 2.0 mm, the ground-glass limit:
typed part-solid, the ground-glass candidate is dropped. Neither is fixed here (a tuned limit is not a
principled fix; two tried fixes are in imaging_server/README.md, Real CT).

Slices thicker than 3 mm (5 mm from the 2.5 mm slabs, 3.75 mm from the 1.25 mm one) are not assessed for
nodules by design (``findings.MAX_NODULE_SLICE_MM``): the report must say so, and the lung mask must hold.
Up to 5 mm (``findings.MAX_MASS_SLICE_MM``) lesions of 30 mm or more are still reported, each with the
thick-section caveat; nothing smaller is. Measured, not required here: on 5 mm slices LIDC-IDRI-0001's
solid lesion (readers 29.0-30.0 mm on the slab, 28.3 mm on its 2.5 mm slices) measures 34.4 mm and
LIDC-IDRI-0003's (readers 25.8-31.5 mm, solid) 33.6 mm typed part-solid, each a mass within 2 mm of the
readers' centre: larger than on thin slices, and the type approximate, as the caveat says.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from ct_fixtures import (DIAMETER_SLACK_MM, LIDC_CASES, finding_of_reader_lesion, lidc,  # noqa: F401 - fixtures
                         lidc_reports, mirrored, mirrored_index, reacquired, with_low_dose_noise)
from imaging_server.dicom_io import CtVolume
from imaging_server.quantify import quantify_volume

#: 500 mm field of view on a 512 matrix.
WIDE_PIXEL_MM = 500.0 / 512
THICK_SLICE_MM = 3.0
LOW_DOSE_NOISE_HU = 25.0
#: The lung mask's volume per millimetre of scan may differ from the original's by this share. The mask's air
#: threshold (-400 HU) lies about halfway between aerated lung and soft tissue, where a box-averaged edge crosses
#: at the edge's true place, so a coarser voxel should not move the lungs' outline on average; 3% allows for
#: curvature and small structures. A systematic half-voxel shift, which it rules out, would be 11-15% on these
#: slabs (the mask's outline over its area: 2.3-2.9 per cm, times 0.5 mm). Measured: at most 0.93%.
LUNG_VOLUME_SHARE = 0.03


@dataclass(frozen=True)
class Reacquisition:
    """One way of acquiring the same scan: the derived volume, and how much it widens the diameter range."""

    make: Callable[[CtVolume], CtVolume]
    coarsest_edge_mm: float = 0.0  # the largest voxel edge the derivation made (0: voxels unchanged)
    mirrors: bool = False


REACQUISITIONS = {
    "3 mm slices": Reacquisition(lambda v: reacquired(v, slice_mm=THICK_SLICE_MM), THICK_SLICE_MM),
    "500 mm field of view": Reacquisition(lambda v: reacquired(v, pixel_mm=WIDE_PIXEL_MM), WIDE_PIXEL_MM),
    "mirrored": Reacquisition(mirrored, mirrors=True),
    "low-dose noise": Reacquisition(lambda v: with_low_dose_noise(v, LOW_DOSE_NOISE_HU, seed=0)),
    "low-dose noise, another draw": Reacquisition(lambda v: with_low_dose_noise(v, LOW_DOSE_NOISE_HU, seed=1)),
    "3 mm, 500 mm field of view, low dose": Reacquisition(
        lambda v: with_low_dose_noise(reacquired(v, slice_mm=THICK_SLICE_MM, pixel_mm=WIDE_PIXEL_MM),
                                      LOW_DOSE_NOISE_HU, seed=0), THICK_SLICE_MM),
}
HOLDING = [(case, way) for case in ("LIDC-IDRI-0001", "LIDC-IDRI-0003") for way in REACQUISITIONS] + \
    [("LIDC-IDRI-0002", "mirrored")]


@pytest.fixture(scope="module")
def reacquired_reports(lidc_reports):
    """(case, way) -> the derived volume and its quantified metrics, each computed once."""
    cache = {}

    def report(case: str, way: str):
        if (case, way) not in cache:
            volume = REACQUISITIONS[way].make(lidc_reports[case][0])
            cache[case, way] = volume, quantify_volume(volume).metrics
        return cache[case, way]
    return report


@pytest.mark.parametrize(("case", "way"), HOLDING)
def test_the_readers_lesion_is_found_typed_and_measured_on_the_reacquired_scan(lidc_reports, reacquired_reports,
                                                                            case, way):
    original, _, references = lidc_reports[case]
    volume, metrics = reacquired_reports(case, way)
    acquisition = REACQUISITIONS[way]
    assert metrics["nodule_guideline"]["assessed"], metrics["nodule_guideline"]
    for reference in references:
        index = mirrored_index(original, reference.centre_index) if acquisition.mirrors else reference.centre_index
        finding_of_reader_lesion(metrics, original.patient_position(index), reference,
                                 slack_mm=DIAMETER_SLACK_MM + acquisition.coarsest_edge_mm / 2)


def _lung_ml_per_mm(volume: CtVolume, metrics: dict) -> float:
    """The lung mask's volume per millimetre of scan (a thicker reconstruction drops a partial last slice)."""
    return metrics["lung_volume_ml"] / (volume.hu.shape[0] * volume.spacing_mm[0])


@pytest.mark.parametrize("way", REACQUISITIONS)
@pytest.mark.parametrize("case", LIDC_CASES)
def test_the_lung_mask_holds_its_volume_on_the_reacquired_scan(lidc_reports, reacquired_reports, case, way):
    original, metrics, _ = lidc_reports[case]
    volume, derived = reacquired_reports(case, way)
    assert _lung_ml_per_mm(volume, derived) == pytest.approx(_lung_ml_per_mm(original, metrics),
                                                             rel=LUNG_VOLUME_SHARE)


@pytest.mark.parametrize("case", LIDC_CASES)
def test_slices_thicker_than_3_mm_say_nodules_were_not_assessed_and_keep_the_lung(lidc_reports, case):
    """Two slices averaged (5 mm) from the 2.5 mm slabs, three (3.75 mm) from the 1.25 mm one: nodules not
    assessed, only lesions of 30 mm or more reported (masses only), each with the thick-section caveat."""
    original, metrics, _ = lidc_reports[case]
    factor = 2 if original.spacing_mm[0] >= 2.0 else 3
    volume = reacquired(original, slice_mm=factor * original.spacing_mm[0])
    thick = quantify_volume(volume).metrics
    assert 3.0 < volume.spacing_mm[0] <= 5.0 and volume.hu.shape[0] == original.hu.shape[0] // factor
    assert not thick["nodule_guideline"]["assessed"]
    assert "not assessed: slices thicker than 3 mm" in thick["nodule_guideline"]["method"]
    assert thick["nodule_guideline"]["masses_only"].startswith(f"masses only (slices {volume.spacing_mm[0]:g} mm)")
    for line in thick["nodules"]:
        assert line["mean_diameter_mm"] >= 30.0 and line["lesion"] in ("mass", "consolidation"), line
        assert line["thick_sections"]["slice_mm"] == pytest.approx(volume.spacing_mm[0]), line
    assert _lung_ml_per_mm(volume, thick) == pytest.approx(_lung_ml_per_mm(original, metrics), rel=LUNG_VOLUME_SHARE)


def test_a_reacquisition_keeps_the_signal_and_where_it_lies():
    """The derivations are honest: a box average keeps the volume's total attenuation (HU x mm3) and the
    patient position of its centre of mass; a whole number of slices averaged gives their mean; the
    mirror moves a voxel to the mirrored column; the noise has the asked SD and spares the padding."""
    rng = np.random.default_rng(1)
    hu = rng.uniform(-1000, 100, size=(12, 40, 40)).astype(np.float32)
    volume = CtVolume(hu=hu, spacing_mm=(1.25, 0.7, 0.7), origin_mm=(-14.0, -20.0, 30.0),
                      slice_step_mm=(0.0, 0.0, -1.25))
    derived = reacquired(volume, slice_mm=3.0, pixel_mm=WIDE_PIXEL_MM)
    assert derived.spacing_mm == (3.0, WIDE_PIXEL_MM, WIDE_PIXEL_MM) and derived.hu.shape == (5, 28, 28)

    def weighted_centre(v: CtVolume, extent: tuple[int, int, int]) -> tuple[np.ndarray, float]:
        weights = v.hu[:extent[0], :extent[1], :extent[2]] + 1100.0  # positive weights
        index = [np.sum(np.indices(weights.shape)[axis] * weights) / weights.sum() for axis in range(3)]
        return np.asarray(v.patient_position(index)), float(weights.sum() * np.prod(v.spacing_mm))

    # The derived voxels cover 15 x 27.3 x 27.3 mm: compare with the original's same extent (12 x 39 x 39 voxels).
    centre, total = weighted_centre(volume, (12, 39, 39))
    centre_derived, total_derived = weighted_centre(derived, derived.hu.shape)
    assert np.allclose(centre, centre_derived, atol=0.3) and total_derived == pytest.approx(total, rel=0.01)
    doubled = reacquired(volume, slice_mm=2.5)
    assert np.allclose(doubled.hu[1], volume.hu[2:4].mean(axis=0), atol=1e-3)
    assert doubled.patient_position((0, 0, 0))[2] == pytest.approx(30.0 - 0.625, abs=0.05)
    with pytest.raises(ValueError, match="only coarsens"):
        reacquired(volume, pixel_mm=0.5)
    flipped = mirrored(volume)
    assert flipped.hu[3, 5, mirrored_index(volume, (3, 5, 7))[2]] == volume.hu[3, 5, 7]
    padded = CtVolume(hu=np.where(np.arange(40) < 4, -2048.0, -850.0)[None, None, :].repeat(12, 0).repeat(40, 1)
                      .astype(np.float32), spacing_mm=(1.25, 0.7, 0.7))
    noisy = with_low_dose_noise(padded, LOW_DOSE_NOISE_HU)
    assert (noisy.hu[..., :4] == -2048).all() and noisy.hu[..., 4:].std() == pytest.approx(LOW_DOSE_NOISE_HU, rel=0.05)
