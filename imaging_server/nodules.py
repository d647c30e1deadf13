"""Pulmonary nodules: candidate detection, false-positive reduction, type and size.

Classical method (:class:`ClassicalNoduleDetector`), on the lung mask:

1. candidates: 3D connected components of voxels denser than ``CANDIDATE_HU`` (-725 HU, halfway
   between aerated lung and ground glass) inside the lung mask;
2. false-positive reduction by shape: a volume-equivalent diameter of 4-30 mm (the size range
   of a nodule; a larger opacity is a mass or consolidation, a smaller one noise), an elongation
   (longest over shortest principal axis) at most 2 (vessels and fissures are tubes and
   sheets), a fill of its principal-axis ellipsoid of at least 0.6 (a compact blob), and a shell
   2 mm around it that is mostly aerated lung (at least 60% below ``CANDIDATE_HU``); a subsolid
   candidate within 10 mm of a ground-glass/reticular region (-725..-300 HU) larger than a
   30 mm nodule is taken as part of that ILD pattern, not as a nodule;
3. type from attenuation: the solid component is the voxels above ``SOLID_HU`` (-300 HU); a
   nodule whose solid component is < 2 mm is ground glass, one whose solid component measures at
   least 80% of its diameter is solid, anything between is part-solid;
4. size: the mean of the longest and shortest axis of the moment ellipsoid (for a uniform
   ellipsoid the full axis is 2 * sqrt(5 * eigenvalue)), to 0.1 mm, and the volume (voxels x voxel
   volume); the solid component is measured the same way.

The thresholds are programme assumptions tuned on the synthetic phantom (``phantom.py``), not
validated on patients. Nodules touching vessels, the pleura or fibrosis are often missed by
this method; a trained detector can replace it through the ONNX slot
(:class:`OnnxNoduleDetector`), whose mask goes through steps 3-4 unchanged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import ndimage

from imaging_server.dicom_io import CtVolume

logger = logging.getLogger(__name__)

CANDIDATE_HU = -725.0
SOLID_HU = -300.0
DIAMETER_RANGE_MM = (4.0, 30.0)
MAX_ELONGATION = 2.0
MIN_ELLIPSOID_FILL = 0.6
SHELL_MM = 2.0
MIN_AERATED_SHELL = 0.6
GROUND_GLASS_SOLID_MM = 2.0
SOLID_RATIO = 0.8
ILD_PATTERN_MARGIN_MM = 10.0
METHOD = ("components above -725 HU in the lung, 4-30 mm, elongation <= 2, compact, aerated 2 mm shell, subsolid "
          "ones not within 10 mm of a larger ILD pattern; type from the > -300 HU solid part; mean of the longest and "
          "shortest moment-ellipsoid axes")


@dataclass
class Nodule:
    """One nodule: type, sizes, and its centre in voxel indices (slice, row, column)."""

    type: str
    mean_diameter_mm: float
    solid_component_mm: float
    volume_mm3: float
    center_index: tuple[float, float, float]
    method: str = "classical"
    extra: dict = field(default_factory=dict)


class NoduleDetector(Protocol):
    """Anything that finds nodules in a CT volume inside a lung mask."""

    name: str

    def detect(self, volume: CtVolume, lung_mask: np.ndarray) -> list[Nodule]:
        ...


class ClassicalNoduleDetector:
    """Threshold components with shape-based false-positive reduction (see the module docstring)."""

    name = "classical"

    def detect(self, volume: CtVolume, lung_mask: np.ndarray) -> list[Nodule]:
        dense = lung_mask & (volume.hu > CANDIDATE_HU)
        labels, count = ndimage.label(dense)
        if count == 0:
            return []
        voxel_mm3 = float(np.prod(volume.spacing_mm))
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        low, high = (np.pi / 6 * d ** 3 / voxel_mm3 for d in DIAMETER_RANGE_MM)
        kept = []
        for index, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None or not low <= sizes[index] <= high:
                continue
            padded = _pad(box, labels.shape, volume.spacing_mm, SHELL_MM + 1)
            component = labels[padded] == index
            if not _is_compact(component, volume.spacing_mm) or \
                    not _shell_is_aerated(component, volume.hu[padded], lung_mask[padded], volume.spacing_mm):
                continue
            kept.append(measure_nodule(component, volume.hu[padded], volume.spacing_mm,
                                       offset=tuple(part.start for part in padded), method=self.name))
        nodules = _outside_ild_pattern(kept, volume, lung_mask) if any(n.type != "solid" for n in kept) else kept
        logger.info("nodule candidates: %s components, %s kept", count, len(nodules))
        return nodules


def measure_nodule(component: np.ndarray, hu: np.ndarray, spacing_mm, *, offset=(0, 0, 0),
                   method: str = "classical") -> Nodule:
    """Type, mean diameter, solid component and volume of one nodule mask over its HU.

    Examples
    --------
    >>> z, y, x = np.mgrid[-10:11, -10:11, -10:11]
    >>> ball = x ** 2 + y ** 2 + z ** 2 <= 8 ** 2
    >>> nodule = measure_nodule(ball, np.where(ball, 30.0, -850.0), (1.0, 1.0, 1.0))
    >>> nodule.type, round(nodule.mean_diameter_mm)
    ('solid', 16)
    """
    solid = component & (hu > SOLID_HU)
    if solid.any():  # the largest solid part is the solid component
        solid_labels, solid_count = ndimage.label(solid)
        if solid_count > 1:
            solid = solid_labels == (np.argmax(np.bincount(solid_labels.ravel())[1:]) + 1)
    diameter = mean_axis_diameter(component, spacing_mm)
    solid_mm = mean_axis_diameter(solid, spacing_mm) if solid.sum() >= 2 else 0.0
    if solid_mm < GROUND_GLASS_SOLID_MM:
        kind, solid_mm = "ground_glass", 0.0
    elif solid_mm >= SOLID_RATIO * diameter:
        kind, solid_mm = "solid", diameter
    else:
        kind = "part_solid"
    centre = ndimage.center_of_mass(component)
    return Nodule(type=kind, mean_diameter_mm=round(diameter, 1), solid_component_mm=round(min(solid_mm, diameter), 1),
                  volume_mm3=round(float(component.sum()) * float(np.prod(spacing_mm)), 1),
                  center_index=tuple(float(c + o) for c, o in zip(centre, offset)), method=method)


def mean_axis_diameter(mask: np.ndarray, spacing_mm) -> float:
    """Mean of the longest and shortest full axis of the mask's moment ellipsoid, in mm."""
    points = np.argwhere(mask) * np.asarray(spacing_mm, dtype=float)
    if len(points) < 2:
        return float(np.cbrt(6 / np.pi * len(points) * np.prod(spacing_mm)))
    # Each voxel is a small box, not a point: add its own second moment (h^2 / 12 per axis).
    covariance = np.cov(points, rowvar=False, bias=True) + np.diag(np.asarray(spacing_mm, dtype=float) ** 2 / 12)
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance), 0, None)
    axes = 2 * np.sqrt(5 * eigenvalues)
    return float((axes.max() + axes.min()) / 2)


def _is_compact(component: np.ndarray, spacing_mm) -> bool:
    points = np.argwhere(component) * np.asarray(spacing_mm, dtype=float)
    covariance = np.cov(points, rowvar=False, bias=True) + np.diag(np.asarray(spacing_mm, dtype=float) ** 2 / 12)
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance), 1e-6, None)
    if np.sqrt(eigenvalues.max() / eigenvalues.min()) > MAX_ELONGATION:
        return False
    semi_axes = np.sqrt(5 * eigenvalues)
    ellipsoid_mm3 = 4 / 3 * np.pi * np.prod(semi_axes)
    return len(points) * float(np.prod(spacing_mm)) / ellipsoid_mm3 >= MIN_ELLIPSOID_FILL


def _shell_is_aerated(component: np.ndarray, hu: np.ndarray, lung: np.ndarray, spacing_mm) -> bool:
    outside = ndimage.distance_transform_edt(~component, sampling=spacing_mm)
    shell = (outside > 0) & (outside <= SHELL_MM) & lung
    if not shell.any():
        return False
    return np.count_nonzero(hu[shell] <= CANDIDATE_HU) / np.count_nonzero(shell) >= MIN_AERATED_SHELL


def _outside_ild_pattern(nodules: list[Nodule], volume: CtVolume, lung_mask: np.ndarray) -> list[Nodule]:
    """Drop subsolid candidates within ``ILD_PATTERN_MARGIN_MM`` of a ground-glass/reticular region
    larger than a 30 mm nodule: there they are part of the ILD pattern, not a separate nodule.

    Looked for in a box reaching 30 mm beyond that margin, so the region's size is what lies in the box.
    """
    large_mm3 = np.pi / 6 * DIAMETER_RANGE_MM[1] ** 3
    kept = []
    for nodule in nodules:
        if nodule.type == "solid":
            kept.append(nodule)
            continue
        centre = np.round(nodule.center_index).astype(int)
        near = nodule.mean_diameter_mm / 2 + ILD_PATTERN_MARGIN_MM
        reach = near + DIAMETER_RANGE_MM[1]
        box = tuple(slice(max(c - int(np.ceil(reach / step)), 0), c + int(np.ceil(reach / step)) + 1)
                    for c, step in zip(centre, volume.spacing_mm))
        hu = volume.hu[box]
        labels, count = ndimage.label(lung_mask[box] & (hu > CANDIDATE_HU) & (hu <= SOLID_HU))
        sizes = np.bincount(labels.ravel(), minlength=count + 1) * float(np.prod(volume.spacing_mm))
        large = sizes > large_mm3
        large[0] = False
        local = tuple(slice(max(c - b.start - int(np.ceil(near / step)), 0), c - b.start + int(np.ceil(near / step)) + 1)
                      for c, b, step in zip(centre, box, volume.spacing_mm))
        if not large[labels[local]].any():
            kept.append(nodule)
    return kept


def _pad(box: tuple[slice, ...], shape, spacing_mm, margin_mm: float) -> tuple[slice, ...]:
    return tuple(slice(max(part.start - int(np.ceil(margin_mm / step)), 0),
                       min(part.stop + int(np.ceil(margin_mm / step)), size))
                 for part, size, step in zip(box, shape, spacing_mm))


class OnnxNoduleDetector:
    """A nodule segmentation model (ONNX, per slice) whose components are measured like the classical ones."""

    def __init__(self, model):
        self.model = model
        self.name = model.name

    def detect(self, volume: CtVolume, lung_mask: np.ndarray) -> list[Nodule]:
        labels, _ = ndimage.label(self.model.mask(volume) & lung_mask)
        return [measure_nodule(labels[box] == index, volume.hu[box], volume.spacing_mm,
                               offset=tuple(part.start for part in box), method=self.name)
                for index, box in enumerate(ndimage.find_objects(labels), start=1) if box is not None]
