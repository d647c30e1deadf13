"""Lung density metrics of a CT volume: volume, mean density, HAA%, LAA%, histogram shape, zones.

Definitions (all over the lung mask, HU = stored value x RescaleSlope + RescaleIntercept):

- ``lung_volume_ml``: mask voxels x voxel volume.
- ``mean_lung_density_hu``: mean HU of every mask voxel (vessels and dense lung included).
- ``haa_percent``: percentage of mask voxels with -600 <= HU <= -250, the high-attenuation
  area of MESA (Podolanczuk AJ et al., Eur Respir J 2016;48:1442-1452; Thorax 2017;72:
  453-460: HR 1.58 per doubling of HAA; median 4.3% in healthy never-smokers).
- ``laa_percent``: percentage of mask voxels with HU < -950 (emphysema-like low attenuation).
- ``skewness`` and ``kurtosis``: sample skewness and excess (Fisher) kurtosis, biased
  moment estimators, of the HU of mask voxels within -1000 <= HU <= -250, so that vessels do
  not dominate the tail (Best AC et al., Radiology 2008;246:935-940: lower skewness and
  kurtosis go with more fibrosis and worse survival).
- ``lung_mask``: the mask's volume and how much of it is dense tissue (>= -100 HU): the mask
  keeps consolidation, masses and dense fibrosis (``segmentation.py``), and this says how much.
- ``zones``: the same six metrics for the upper, middle and lower thirds of the mask's
  cranio-caudal extent (by slice position).

Beyond density, :mod:`imaging_server.findings` adds ``ild_extent`` (whose overall percentage is
also the report's unvalidated fibrosis extent estimate), ``progression`` given a prior report,
``nodules`` with Lung-RADS v2022 and Fleischner 2017 advice, ``nodule_guideline``,
``consolidation`` and ``bone``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from imaging_server.dicom_io import CtVolume
from imaging_server.findings import FindingMethods, assess_findings
from imaging_server.segmentation import ClassicalLungSegmenter, LungSegmenter, bounding_box

logger = logging.getLogger(__name__)

HAA_RANGE_HU = (-600.0, -250.0)
LAA_BELOW_HU = -950.0
HISTOGRAM_RANGE_HU = (-1000.0, -250.0)
ZONE_NAMES = ("upper", "middle", "lower")
# Soft-tissue attenuation, the lower bound of consolidation (consolidation.CONSOLIDATION_HU).
DENSE_TISSUE_HU = -100.0


@dataclass
class Quantification:
    """The metrics of one series (``metrics`` is the ``ct quantify`` JSON) and the extent estimate."""

    metrics: dict
    extent_percent: float
    segmenter: str
    timings: dict = field(default_factory=dict)


def quantify_volume(volume: CtVolume, *, segmenter: LungSegmenter | None = None,
                    methods: FindingMethods | None = None, prior: dict | None = None) -> Quantification:
    """Segment the lungs and compute the density metrics and the findings.

    Parameters
    ----------
    volume
        The validated series in HU.
    segmenter
        Lung mask source; the classical segmenter by default.
    methods
        The method of each finding and the statements' settings; classical by default.
    prior
        The metrics of the patient's previous report (``ct quantify --json`` of the earlier
        scan): adds ``progression`` and gives each nodule its status (new, growing, stable).

    Returns
    -------
    Quantification

    Raises
    ------
    SeriesError
        When no lung is found.
    """
    segmenter = segmenter or ClassicalLungSegmenter()
    started = time.perf_counter()
    mask = segmenter.segment(volume)
    timings = {"segmentation_seconds": round(time.perf_counter() - started, 2)}
    started = time.perf_counter()
    # Each zone's voxels are read once into sums that add up: the whole lung is the zones' union
    # (they cover every lung slice), so its metrics come from the zones' sums, not a second pass.
    zone_sums = [value_sums(volume.hu[part][mask[part]]) for part in zone_slices(mask)]
    whole = {key: sum(sums[key] for sums in zone_sums) for key in zone_sums[0]}
    metrics = metrics_from_sums(whole, volume.voxel_volume_ml)
    metrics["zones"] = {name: metrics_from_sums(sums, volume.voxel_volume_ml)
                        for name, sums in zip(ZONE_NAMES, zone_sums)}
    metrics["lung_mask"] = {
        "segmenter": segmenter.name, "volume_ml": metrics["lung_volume_ml"],
        "dense_tissue_ml": round(whole["dense"] * volume.voxel_volume_ml, 1),
        "dense_tissue_percent": round(100.0 * whole["dense"] / max(whole["count"], 1), 2),
        "dense_tissue_definition": f">= {DENSE_TISSUE_HU:g} HU (soft tissue: vessels, consolidation, masses, "
                                   "dense fibrosis) inside the mask",
    }
    timings["density_seconds"] = round(time.perf_counter() - started, 2)
    box = bounding_box(mask, margin=1)
    metrics.update(assess_findings(volume, mask, box, zone_slices(mask[box]), methods or FindingMethods(),
                                   prior=prior, timings=timings))
    return Quantification(metrics=metrics, extent_percent=metrics["ild_extent"]["percent"], segmenter=segmenter.name,
                          timings=timings)


def zone_slices(mask: np.ndarray) -> list[slice]:
    """Slice ranges of the upper, middle and lower thirds of the mask's cranio-caudal extent."""
    with_lung = np.flatnonzero(mask.any(axis=(1, 2)))
    first, last = int(with_lung[0]), int(with_lung[-1]) + 1
    length = last - first
    # A slice belongs to the third that holds its centre.
    bounds = [first + int(np.ceil(length * k / 3 - 0.5)) for k in range(4)]
    bounds[0], bounds[3] = first, last
    return [slice(bounds[k], bounds[k + 1]) for k in range(3)]


def region_metrics(hu: np.ndarray, mask: np.ndarray, voxel_volume_ml: float) -> dict:
    """The six density metrics of the voxels of ``hu`` under ``mask`` (zeros for an empty mask)."""
    return values_metrics(hu[mask], voxel_volume_ml)


def values_metrics(values: np.ndarray, voxel_volume_ml: float) -> dict:
    """The six density metrics of the HU values of one region's voxels."""
    return metrics_from_sums(value_sums(values), voxel_volume_ml)


# Histogram moments are taken about this value (near the lung's mean) so the power sums stay small.
MOMENT_ORIGIN_HU = -800.0


def value_sums(values: np.ndarray) -> dict:
    """Counts and power sums of one region's HU values, which add across regions."""
    low, high = HAA_RANGE_HU
    w_low, w_high = HISTOGRAM_RANGE_HU
    window = values[(values >= w_low) & (values <= w_high)].astype(np.float64) - MOMENT_ORIGIN_HU
    squares = window * window
    return {
        "count": int(values.size), "total": float(values.sum(dtype=np.float64)),
        "haa": int(np.count_nonzero((values >= low) & (values <= high))),
        "laa": int(np.count_nonzero(values < LAA_BELOW_HU)),
        "dense": int(np.count_nonzero(values >= DENSE_TISSUE_HU)),
        "window": int(window.size), "s1": float(window.sum()), "s2": float(squares.sum()),
        "s3": float(squares @ window), "s4": float(squares @ squares),
    }


def metrics_from_sums(sums: dict, voxel_volume_ml: float) -> dict:
    """The six density metrics from :func:`value_sums` (zeros for an empty region)."""
    count = sums["count"]
    if count == 0:
        return {"lung_volume_ml": 0.0, "mean_lung_density_hu": None, "haa_percent": 0.0, "laa_percent": 0.0,
                "skewness": None, "kurtosis": None}
    skewness, kurtosis = _shape_from_sums(sums)
    return {
        "lung_volume_ml": round(count * voxel_volume_ml, 1),
        "mean_lung_density_hu": round(sums["total"] / count, 1),
        "haa_percent": round(100.0 * sums["haa"] / count, 2),
        "laa_percent": round(100.0 * sums["laa"] / count, 2),
        "skewness": skewness,
        "kurtosis": kurtosis,
    }


def _shape_from_sums(sums: dict) -> tuple[float | None, float | None]:
    n = sums["window"]
    if n < 3:
        return None, None
    mean = sums["s1"] / n
    # Central moments from raw power sums about MOMENT_ORIGIN_HU.
    m2 = sums["s2"] / n - mean ** 2
    m3 = sums["s3"] / n - 3 * mean * sums["s2"] / n + 2 * mean ** 3
    m4 = sums["s4"] / n - 4 * mean * sums["s3"] / n + 6 * mean ** 2 * sums["s2"] / n - 3 * mean ** 4
    if m2 <= 1e-9 * max(1.0, mean ** 2):
        return None, None
    return round(float(m3 / m2 ** 1.5), 3), round(float(m4 / m2 ** 2 - 3.0), 3)


def histogram_shape(values: np.ndarray) -> tuple[float | None, float | None]:
    """Skewness and excess kurtosis of the values within ``HISTOGRAM_RANGE_HU``.

    Examples
    --------
    >>> histogram_shape(np.array([-900.0, -850.0, -800.0]))
    (0.0, -1.5)
    """
    return _shape_from_sums(value_sums(values))
