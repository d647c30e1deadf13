"""Consolidation: confluent soft-tissue attenuation inside the lung, its volume and share per zone.

Classical method (:class:`ClassicalConsolidationFinder`): voxels of -100..+100 HU inside the
lung mask; vessels and nodules removed by an opening by reconstruction (erosion by
``VESSEL_RADIUS_MM`` -- 5 mm, wider than intrapulmonary vessels away from the hilum -- then
regrowth inside the dense voxels, on a grid of about 1.5 mm in-plane), and the detected nodules taken out; components of at least
``MIN_COMPONENT_ML`` are consolidation. The mediastinum is outside the lung mask already; consolidation along
the pleura is inside it (the mask fills the dents dense disease leaves, see ``segmentation.py``).
One region, one finding (``findings._is_consolidation`` states the rule): a round consolidation and a
mass look alike to this method, so a lesion as large as a 30 mm sphere that lies mostly in the
consolidation is counted here and listed once, as a lesion line named consolidation
(``findings.nodule_line``; the statement names it); any other lesion, a mass included, is in the
``nodule_mask`` the finder is given, so it is not counted here.

An "incidental consolidation" line is reported when the total is at least
``REPORT_THRESHOLD_ML``. No published volume threshold exists for this; 5 ml is a programme
assumption (about a 2 cm opacity), changeable with the ``consolidation_report_ml`` setting.
Lung-RADS v2022 treats segmental or lobar consolidation as suggesting an infectious or
inflammatory process (category 0 with 1-3 month follow-up in a screening programme).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import ndimage

from imaging_server.dicom_io import CtVolume

CONSOLIDATION_HU = (-100.0, 100.0)
VESSEL_RADIUS_MM = 5.0
COARSE_GRID_MM = 1.5
MIN_COMPONENT_ML = 1.0
REPORT_THRESHOLD_ML = 5.0
METHOD = ("voxels of -100..+100 HU inside the lung mask after removing vessels (opening by reconstruction, "
          "5 mm) and nodules; components >= 1 ml")


class ConsolidationFinder(Protocol):
    """Anything that returns a boolean consolidation mask inside the lung."""

    name: str

    def find(self, volume: CtVolume, lung_mask: np.ndarray, nodule_mask: np.ndarray) -> np.ndarray:
        ...


class ClassicalConsolidationFinder:
    """-100..+100 HU with vessels and nodules removed (see the module docstring)."""

    name = "classical"

    def find(self, volume: CtVolume, lung_mask: np.ndarray, nodule_mask: np.ndarray) -> np.ndarray:
        low, high = CONSOLIDATION_HU
        dense = lung_mask & (volume.hu >= low) & (volume.hu <= high) & ~nodule_mask
        if not dense.any():
            return dense
        # The opening runs on a grid of about 1.5 mm in-plane (blocks of f x f pixels, majority
        # vote): a 5 mm structuring element needs no finer one, and it is f^2 times cheaper.
        factor = max(1, int(COARSE_GRID_MM // min(volume.spacing_mm[1:])))
        coarse = block_majority(dense, factor)
        steps = max(1, int(round(VESSEL_RADIUS_MM / (factor * min(volume.spacing_mm[1:])))))
        cross = ndimage.generate_binary_structure(3, 1)
        core = ndimage.binary_erosion(coarse, structure=cross, iterations=steps)
        if not core.any():
            return np.zeros_like(dense)
        # Regrow inside the dense voxels: the whole consolidation returns, vessels only a stub.
        grown = ndimage.binary_dilation(core, structure=cross, iterations=steps + 2, mask=coarse)
        # Back on the full grid only inside the box of what regrew: a vessel-free lung leaves little.
        cells = ndimage.find_objects(grown.view(np.uint8))[0]
        box = tuple(slice(part.start * f, min(part.stop * f, size))
                    for part, f, size in zip(cells, (1, factor, factor), dense.shape))
        part = dense[box] & _upsample(grown[cells], factor, tuple(b.stop - b.start for b in box))
        labels, count = ndimage.label(part)
        sizes = np.bincount(labels.ravel(), minlength=count + 1) * volume.voxel_volume_ml
        keep = sizes >= MIN_COMPONENT_ML
        keep[0] = False
        found = np.zeros_like(dense)
        found[box] = keep[labels]
        return found


def block_majority(mask: np.ndarray, factor: int) -> np.ndarray:
    """Each in-plane block of ``factor`` x ``factor`` voxels set when at least half of it is (edges padded)."""
    if factor == 1:
        return mask
    slices, rows, cols = mask.shape
    padded = np.zeros((slices, -(-rows // factor) * factor, -(-cols // factor) * factor), dtype=np.uint8)
    padded[:, :rows, :cols] = mask
    blocks = padded.reshape(slices, padded.shape[1] // factor, factor, padded.shape[2] // factor, factor)
    return blocks.sum(axis=(2, 4), dtype=np.uint16) * 2 >= factor * factor


def _upsample(mask: np.ndarray, factor: int, shape: tuple[int, int, int]) -> np.ndarray:
    if factor == 1:
        return mask
    return np.repeat(np.repeat(mask, factor, axis=1), factor, axis=2)[:, :shape[1], :shape[2]]


class OnnxConsolidationFinder:
    """A consolidation segmentation model (ONNX, per slice), limited to the lung."""

    def __init__(self, model):
        self.model = model
        self.name = model.name

    def find(self, volume: CtVolume, lung_mask: np.ndarray, nodule_mask: np.ndarray) -> np.ndarray:
        return self.model.mask(volume) & lung_mask & ~nodule_mask


def consolidation_statement(volume_ml: float, percent: float, report_threshold_ml: float) -> tuple[bool, str]:
    """Whether the consolidation is reported (``volume_ml`` at or above the threshold) and its sentence."""
    flagged = bool(volume_ml >= report_threshold_ml)
    return flagged, (f"Incidental consolidation: {volume_ml:.1f} ml ({percent:.2f}% of lung volume)." if flagged
                     else f"No consolidation of {report_threshold_ml:g} ml or more.")


def consolidation_summary(mask: np.ndarray, lung_mask: np.ndarray, zones: list[slice], voxel_volume_ml: float,
                          *, report_threshold_ml: float = REPORT_THRESHOLD_ML, method: str = "classical") -> dict:
    """``{"volume_ml", "percent", "zones": {zone: {"volume_ml", "percent"}}, "incidental", "statement", "method"}``."""
    def part(region: slice) -> dict:
        lung = np.count_nonzero(lung_mask[region])
        voxels = np.count_nonzero(mask[region])
        return {"volume_ml": round(float(voxels * voxel_volume_ml), 1),
                "percent": round(100.0 * voxels / lung, 2) if lung else 0.0}

    whole = part(slice(None))
    flagged, statement = consolidation_statement(whole["volume_ml"], whole["percent"], report_threshold_ml)
    return {**whole, "zones": {name: part(region) for name, region in zip(("upper", "middle", "lower"), zones)},
            "incidental": flagged, "report_threshold_ml": report_threshold_ml,
            "threshold_source": "programme assumption (setting consolidation_report_ml)",
            "statement": statement, "method": f"{method}: {METHOD}" if method == "classical" else method}
