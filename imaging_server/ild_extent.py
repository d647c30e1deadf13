"""ILD extent index and its progression between two scans of one patient.

Extent (classical, :class:`ClassicalIldPattern`): the percentage of lung volume with
-700 <= HU <= -250 (ground glass and reticulation, the high-attenuation band widened to -700)
outside vessels, whole and per zone. Vessels are the mask voxels above -100 HU plus a
one-voxel rim (their partial-volume edge, which would otherwise count as disease). An
unvalidated proxy of the visual extent of ILD: it also counts atelectasis, dependent density and
ground-glass nodules. A trained ILD pattern model can replace it through the ONNX slot.

Progression: the change in percentage points per zone and overall against the prior scan.
"Progression" is stated when the overall extent rose by at least ``PROGRESSION_POINTS`` (5
percentage points). No validated threshold exists for this index; 5 points is a programme
assumption (the setting ``progression_threshold_points`` changes it), chosen well above the
scan-to-scan noise of the index on the phantom (well under 1 point; see the tests).
"""
from __future__ import annotations

from typing import Optional, Protocol

import numpy as np
from scipy import ndimage

from imaging_server.dicom_io import CtVolume

ILD_BAND_HU = (-700.0, -250.0)
VESSEL_HU = -100.0
PROGRESSION_POINTS = 5.0
ZONE_NAMES = ("upper", "middle", "lower")
METHOD = ("% of lung volume at -700..-250 HU outside vessels (> -100 HU plus a one-voxel rim); unvalidated proxy "
          "that also counts atelectasis and dependent density")


class IldPatternFinder(Protocol):
    """Anything that returns the boolean mask of ILD pattern inside the lung."""

    name: str

    def find(self, volume: CtVolume, lung_mask: np.ndarray) -> np.ndarray:
        ...


class ClassicalIldPattern:
    """The -700..-250 HU band outside vessels (see the module docstring)."""

    name = "classical"

    def find(self, volume: CtVolume, lung_mask: np.ndarray) -> np.ndarray:
        return ild_band(volume.hu, lung_mask)


def ild_band(hu: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mask voxels within ``ILD_BAND_HU`` that are not vessel or vessel rim."""
    soft_tissue = (hu > VESSEL_HU) & mask
    vessels = ndimage.binary_dilation(soft_tissue, structure=ndimage.generate_binary_structure(3, 1))
    low, high = ILD_BAND_HU
    return mask & ~vessels & (hu >= low) & (hu <= high)


class OnnxIldPattern:
    """An ILD pattern segmentation model (ONNX, per slice), limited to the lung."""

    def __init__(self, model):
        self.model = model
        self.name = model.name

    def find(self, volume: CtVolume, lung_mask: np.ndarray) -> np.ndarray:
        return self.model.mask(volume) & lung_mask


def extent_summary(pattern: np.ndarray, lung_mask: np.ndarray, zones: list[slice], *,
                   method: str = "classical") -> dict:
    """``{"percent", "zones": {zone: percent}, "band_hu", "method"}``."""
    def percent(region: slice) -> float:
        lung = np.count_nonzero(lung_mask[region])
        return round(100.0 * np.count_nonzero(pattern[region]) / lung, 2) if lung else 0.0

    return {"percent": percent(slice(None)), "zones": {name: percent(zone) for name, zone in zip(ZONE_NAMES, zones)},
            "band_hu": list(ILD_BAND_HU), "method": f"{method}: {METHOD}" if method == "classical" else method}


def progression(current: dict, prior: dict, *, threshold_points: float = PROGRESSION_POINTS) -> dict:
    """Change of the ILD extent against a prior scan's ``ild_extent``, with the statement.

    Examples
    --------
    >>> now = {"percent": 12.0, "zones": {"upper": 1.0, "middle": 4.0, "lower": 31.0}}
    >>> before = {"percent": 6.0, "zones": {"upper": 1.0, "middle": 3.0, "lower": 14.0}}
    >>> progression(now, before)["progression"]
    True
    """
    change = round(current["percent"] - prior["percent"], 2)
    zones = {name: round(current["zones"][name] - prior["zones"][name], 2) for name in ZONE_NAMES}
    progressed = bool(change >= threshold_points)
    statement = (f"Progression: ILD extent rose by {change:.1f} percentage points "
                 f"({prior['percent']:.1f}% -> {current['percent']:.1f}%), threshold {threshold_points:g} points."
                 if progressed else
                 f"No progression: ILD extent changed by {change:+.1f} percentage points "
                 f"({prior['percent']:.1f}% -> {current['percent']:.1f}%), threshold {threshold_points:g} points.")
    return {"change_points": change, "zones_change_points": zones, "progression": progressed,
            "prior_percent": prior["percent"], "threshold_points": threshold_points,
            "threshold_source": "programme assumption (setting progression_threshold_points)",
            "statement": statement}


def prior_extent(metrics: Optional[dict]) -> Optional[dict]:
    """The ``ild_extent`` of a stored report's metrics, or None when it has none (an older report)."""
    extent = (metrics or {}).get("ild_extent")
    return extent if isinstance(extent, dict) and "percent" in extent and "zones" in extent else None
