"""Lung masks: a classical threshold-and-morphology segmenter and an optional ONNX model.

The classical mask must keep dense fibrotic lung (a plain air threshold loses it, which
would hide exactly the disease we measure) and must leave out the trachea and main bronchi
(air that is not lung). Steps, each on the HU volume:

1. air-like voxels, HU < ``air_threshold_hu`` (-400);
2. drop air connected to the in-plane border of the scan (outside the body);
3. find the trachea in the most cranial slices (the small midline air region), follow it
   slice by slice down into both main bronchi until a branch merges with a lung (its
   cross-section grows beyond ``4 x`` the tracheal area), dilate it by one pixel in-plane and
   remove it;
4. keep the largest 3D component and the second largest when it is at least 20% of the
   largest (two lungs; bowel gas and stray air are smaller);
5. per lung and per slice, a morphological closing with a disk of ``closing_radius_mm``
   (5 mm) computed with distance transforms, then hole filling: this brings back vessels,
   fibrotic patches and reticulation up to soft-tissue density that the threshold missed,
   including those touching the pleura.

References
----------
Hu S, Hoffman EA, Reinhardt JM. Automatic lung segmentation for accurate quantitation of
volumetric X-ray CT images. IEEE Trans Med Imaging 2001;20:490-498.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import ndimage

from imaging_server.dicom_io import CtVolume
from imaging_server.errors import SeriesError

logger = logging.getLogger(__name__)

AIR_THRESHOLD_HU = -400.0
CLOSING_RADIUS_MM = 5.0
TRACHEA_MAX_AREA_MM2 = 1000.0
BRANCH_GROWTH_LIMIT = 4.0
SECOND_LUNG_MIN_RATIO = 0.2


class LungSegmenter(Protocol):
    """Anything that turns a CT volume into a boolean lung mask of the same shape."""

    name: str

    def segment(self, volume: CtVolume) -> np.ndarray:
        ...


class ClassicalLungSegmenter:
    """Threshold, airway removal, component selection and closing (see the module docstring)."""

    name = "classical"

    def __init__(self, *, air_threshold_hu: float = AIR_THRESHOLD_HU, closing_radius_mm: float = CLOSING_RADIUS_MM):
        self.air_threshold_hu = air_threshold_hu
        self.closing_radius_mm = closing_radius_mm

    def segment(self, volume: CtVolume) -> np.ndarray:
        air = volume.hu < self.air_threshold_hu
        interior = remove_outside_air(air)
        del air
        airway = track_airway(interior, volume.spacing_mm)
        interior &= ~airway
        lungs = largest_components(interior)
        del interior
        mask = np.zeros(volume.hu.shape, dtype=bool)
        for lung in lungs:
            mask |= close_and_fill(lung, volume.spacing_mm, self.closing_radius_mm)
        mask &= ~airway
        if not mask.any():
            raise SeriesError("no lung found in the series")
        return mask


def remove_outside_air(air: np.ndarray) -> np.ndarray:
    """Air not connected (in 3D) to the in-plane border of the scan: air inside the body."""
    labels, count = ndimage.label(air)
    border = np.unique(np.concatenate([
        labels[:, 0, :].ravel(), labels[:, -1, :].ravel(), labels[:, :, 0].ravel(), labels[:, :, -1].ravel(),
    ]))
    # A lookup table per label is much lighter than np.isin on a 512 x 512 x 300 volume.
    keep = np.ones(count + 1, dtype=bool)
    keep[0] = False
    keep[border] = False
    return keep[labels]


def track_airway(interior: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """The trachea and main bronchi, followed down from the most cranial slices.

    Returns an in-plane-dilated airway mask; empty when no trachea is found (then nothing is
    removed and the lung volume includes any airway in the scan).
    """
    _, dy, dx = spacing_mm
    pixel_area = dy * dx
    airway = np.zeros(interior.shape, dtype=bool)
    start, seed = _find_trachea(interior, pixel_area)
    if seed is None:
        logger.info("no trachea found in the cranial slices; airway not removed")
        return airway
    reference_area = seed.sum()
    airway[start] = seed
    previous = seed
    for index in range(start + 1, interior.shape[0]):
        labels, _ = ndimage.label(interior[index])
        touching = np.unique(labels[previous & (labels > 0)])
        current = np.zeros_like(previous)
        for label in touching:
            component = labels == label
            if component.sum() <= BRANCH_GROWTH_LIMIT * reference_area:
                current |= component
        if not current.any():
            break
        airway[index] = current
        previous = current
    cross = ndimage.generate_binary_structure(2, 1)
    for index in np.flatnonzero(airway.any(axis=(1, 2))):
        airway[index] = ndimage.binary_dilation(airway[index], structure=cross)
    return airway


def _find_trachea(interior: np.ndarray, pixel_area: float) -> tuple[int, np.ndarray | None]:
    """The first cranial slice's interior air region nearest the midline, if trachea-sized."""
    with_air = np.flatnonzero(interior.any(axis=(1, 2)))
    if with_air.size == 0:
        return 0, None
    start = int(with_air[0])
    labels, count = ndimage.label(interior[start])
    areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1)) * pixel_area
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    midline = interior.shape[2] / 2
    candidates = [(abs(centre[1] - midline), label) for label, (area, centre) in
                  enumerate(zip(areas, centres), start=1) if area <= TRACHEA_MAX_AREA_MM2]
    if not candidates:
        return start, None
    return start, labels == min(candidates)[1]


def largest_components(mask: np.ndarray) -> list[np.ndarray]:
    """The largest 3D component, and the second when it is big enough to be the other lung."""
    labels, count = ndimage.label(mask)
    if count == 0:
        raise SeriesError("no air-filled lung found in the series")
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(sizes)[::-1]
    keep = [order[0] + 1]
    if count > 1 and sizes[order[1]] >= SECOND_LUNG_MIN_RATIO * sizes[order[0]]:
        keep.append(order[1] + 1)
    return [labels == label for label in keep]


def close_and_fill(lung: np.ndarray, spacing_mm: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    """Per-slice closing with a disk of ``radius_mm`` (via distance transforms), then hole filling."""
    _, dy, dx = spacing_mm
    pad = int(np.ceil(radius_mm / min(dy, dx))) + 1
    result = np.zeros_like(lung)
    for index in np.flatnonzero(lung.any(axis=(1, 2))):
        rows, cols = np.nonzero(lung[index])
        r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, lung.shape[1])
        c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, lung.shape[2])
        window = lung[index, r0:r1, c0:c1]
        dilated = ndimage.distance_transform_edt(~window, sampling=(dy, dx)) <= radius_mm
        # Outside the window counts as background for the erosion, so pad by one pixel.
        closed = ndimage.distance_transform_edt(np.pad(dilated, 1), sampling=(dy, dx))[1:-1, 1:-1] > radius_mm
        result[index, r0:r1, c0:c1] = ndimage.binary_fill_holes(closed | window)
    return result


class OnnxLungSegmenter:
    """A lung segmentation model in ONNX format (see :mod:`imaging_server.onnx_models`), run slice
    by slice, replacing the classical mask."""

    def __init__(self, model_path: Path):
        from imaging_server.onnx_models import OnnxMaskModel

        self.model = OnnxMaskModel(model_path)
        self.name = self.model.name

    def segment(self, volume: CtVolume) -> np.ndarray:
        mask = self.model.mask(volume)
        if not mask.any():
            raise SeriesError("the segmentation model found no lung in the series")
        return mask


def segmenter_from_settings(onnx_model_path: Path | None) -> LungSegmenter:
    """The ONNX model when a path is configured, else the classical segmenter."""
    return OnnxLungSegmenter(onnx_model_path) if onnx_model_path else ClassicalLungSegmenter()
