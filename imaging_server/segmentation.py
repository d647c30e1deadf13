"""Lung masks: a classical threshold-and-morphology segmenter and an optional ONNX model.

The classical mask must keep dense fibrotic lung (a plain air threshold loses it, which
would hide exactly the disease we measure) and must leave out the trachea and main bronchi
(air that is not lung). Steps, each on the HU volume:

1. air-like voxels, HU < ``air_threshold_hu`` (-400);
2. drop air connected to the in-plane border of the scan (outside the body);
3. find the trachea in the most cranial slices (the small midline air region, at most
   ``trachea_max_area_mm2``, 1000 mm2), follow it slice by slice down into both main bronchi until a
   branch merges with a lung (its cross-section grows beyond ``4 x`` the tracheal area), dilate it
   by one pixel in-plane and remove it;
4. keep the largest 3D component and the second largest when it is at least
   ``second_lung_min_ratio`` (20%) of the largest (two lungs; bowel gas and stray air are smaller);
5. per lung and per slice, a morphological closing with a disk of ``closing_radius_mm``
   (5 mm) computed with distance transforms, then hole filling: this brings back vessels,
   fibrotic patches and reticulation up to soft-tissue density that the threshold missed,
   including those touching the pleura; where the two lungs touch at a junction line (one
   component), each slice's section is split at the body's midline and each side closed alone,
   or the lungs would enclose the mediastinum and hole filling would add it;
6. per slice and per lung, the convex hull of the lung fills the dents the threshold left where
   dense disease lies against the pleura (a mass, consolidation or dense subpleural fibrosis
   replaces aerated lung but keeps the lung's outline): each dent (a connected part of hull minus
   lung) is added unless it is mediastinum -- more than ``MEDIASTINAL_SHARE_LIMIT`` of it lies
   between the two lungs on its image row (heart, great vessels, hilum, spine) -- or larger than
   ``DENT_AREA_LIMIT`` times the lung's own area on that slice (the liver or spleen under a
   crescent of basal lung); and a dent that runs in 3D down to a lung base -- the caudal slice of
   the mask with less than ``BASE_AREA_SHARE`` of the largest lung section, so not the edge of a
   slab -- is the diaphragm dome and is dropped. The step works slice by slice, so a partial scan
   (a slab) is handled like a whole chest. The three limits are :class:`PleuralDentRule`, the CT
   server's ``pleural_dent_*`` settings.

The values of steps 1, 3, 4 and 5 that depend on the scanner, its kernel or the patients are
:class:`LungMaskRule`, the CT server's ``lung_*`` settings; the tracheal branch growth (``4 x``) and
the dent grid are properties of the method, not of a site, and stay constants.

References
----------
Hu S, Hoffman EA, Reinhardt JM. Automatic lung segmentation for accurate quantitation of
volumetric X-ray CT images. IEEE Trans Med Imaging 2001;20:490-498.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import ndimage

from imaging_server.bone import body_centre
from imaging_server.dicom_io import CtVolume
from imaging_server.errors import SeriesError, check_settings

logger = logging.getLogger(__name__)

# Steps 1, 3, 4 and 5: programme assumptions, each a setting (LungMaskRule); checked on the three LIDC-IDRI
# slabs and the phantoms.
# Air-like voxels seed the mask: between aerated lung (about -850 HU) and soft tissue; a sharp kernel or a
# noisy low-dose scan moves aerated lung, and a site may move this with it (Hu et al. 2001 choose the
# threshold per scan, between the lung's and the body's attenuation).
AIR_THRESHOLD_HU = -400.0
# The closing brings back vessels and dense patches narrower than twice this inside the lung.
CLOSING_RADIUS_MM = 5.0
# The trachea's section at the top of the scan is at most this: well above an adult's (upper limits of
# normal diameters 25-27 mm, about 530 mm2: Breatnach E et al. AJR 1984;142:903-906), below a lung apex's.
TRACHEA_MAX_AREA_MM2 = 1000.0
# A tracheal branch that grows beyond this times the tracheal section has merged with a lung (the method's
# own limit, not a site's).
BRANCH_GROWTH_LIMIT = 4.0
# The second largest air component is the other lung when at least this share of the largest: a lung
# after lobectomy or with a large collapse stays above it, bowel gas and stray air are smaller.
SECOND_LUNG_MIN_RATIO = 0.2
# Dent filling (step 6): programme assumptions, no published value; checked on the three LIDC-IDRI slabs
# (LIDC-IDRI-0001's juxtapleural tumour is a dent the rule must fill) and the phantoms. Each is a setting
# (PleuralDentRule).
# A dent with more than this share of its pixels between the two lungs on their image rows is mediastinum
# (heart, great vessels, hilum, spine): a pleural lesion's dent lies lateral, anterior or posterior, so
# almost none of it is there, while the mediastinum's dent is nearly all of it.
MEDIASTINAL_SHARE_LIMIT = 0.25
# A dent larger than this times the lung's own area on the slice is not lung: the liver or spleen under
# the thin crescent of basal lung is several times the crescent, a tumour or consolidation against the
# pleura a fraction of the aerated lung left beside it.
DENT_AREA_LIMIT = 0.75
# The mask's caudal slice is a lung base (the diaphragm dome below) when its lung section is less than
# this share of the largest one; a slab cut through the lungs ends on a section of about full size.
BASE_AREA_SHARE = 0.3
# The grid the dents are found on (a cost choice, not a limit: dents are centimetres across).
DENT_GRID_MM = 1.4


@dataclass(frozen=True)
class LungMaskRule:
    """The values of steps 1, 3, 4 and 5 (see the module docstring) that a site may tune to its
    scanners and patients: the CT server's ``lung_*`` settings. Programme assumptions.

    Raises
    ------
    ConfigError
        When a value is out of its range, naming its setting and the value.
    """

    air_threshold_hu: float = AIR_THRESHOLD_HU
    closing_radius_mm: float = CLOSING_RADIUS_MM
    trachea_max_area_mm2: float = TRACHEA_MAX_AREA_MM2
    second_lung_min_ratio: float = SECOND_LUNG_MIN_RATIO

    def __post_init__(self):
        checks = {"lung_air_threshold_hu": (self.air_threshold_hu, -900 <= self.air_threshold_hu <= -100,
                                            "in [-900, -100] HU"),
                  "lung_closing_radius_mm": (self.closing_radius_mm, 0 < self.closing_radius_mm <= 15,
                                             "in (0, 15] mm"),
                  "lung_trachea_max_area_mm2": (self.trachea_max_area_mm2, 100 <= self.trachea_max_area_mm2 <= 5000,
                                                "in [100, 5000] mm2"),
                  "lung_second_lung_min_ratio": (self.second_lung_min_ratio, 0 < self.second_lung_min_ratio <= 1,
                                                 "in (0, 1]")}
        check_settings(checks)


@dataclass(frozen=True)
class PleuralDentRule:
    """The limits of step 6 (see the module docstring): which dents of a lung's per-slice convex hull
    are lung replaced by dense disease. Programme assumptions that a hospital can change (the CT
    server's ``pleural_dent_*`` settings).

    Raises
    ------
    ConfigError
        When a limit is out of its range, naming its setting and the value.
    """

    mediastinal_share: float = MEDIASTINAL_SHARE_LIMIT
    area_limit: float = DENT_AREA_LIMIT
    base_area_share: float = BASE_AREA_SHARE

    def __post_init__(self):
        checks = {"pleural_dent_mediastinal_share": (self.mediastinal_share, 0 <= self.mediastinal_share <= 1,
                                                     "in [0, 1]"),
                  "pleural_dent_area_limit": (self.area_limit, 0 < self.area_limit <= 10, "in (0, 10]"),
                  "pleural_dent_base_area_share": (self.base_area_share, 0 <= self.base_area_share <= 1,
                                                   "in [0, 1]")}
        check_settings(checks)


class LungSegmenter(Protocol):
    """Anything that turns a CT volume into a boolean lung mask of the same shape."""

    name: str

    def segment(self, volume: CtVolume) -> np.ndarray:
        ...


class ClassicalLungSegmenter:
    """Threshold, airway removal, component selection and closing (see the module docstring)."""

    name = "classical"

    def __init__(self, *, rule: LungMaskRule = LungMaskRule(), dent_rule: PleuralDentRule = PleuralDentRule()):
        self.rule = rule
        self.dent_rule = dent_rule

    def segment(self, volume: CtVolume) -> np.ndarray:
        factor = max(1, int(round(DENT_GRID_MM / min(volume.spacing_mm[1:]))))
        # Steps 2-6 run inside the box of the air enclosed by the body, widened so that every
        # per-slice window and dent block is the one the whole image would give: the same mask,
        # without passes (and fresh memory) over the air around the patient.
        rule = self.rule
        interior, box = remove_outside_air(volume.hu < rule.air_threshold_hu,
                                           margin=closing_pad(volume.spacing_mm, rule.closing_radius_mm),
                                           align=factor)
        if interior is None:
            raise SeriesError("no air-filled lung found in the series")
        airway = track_airway(interior, volume.spacing_mm, midline=volume.hu.shape[2] / 2 - box[2].start,
                              trachea_max_area_mm2=rule.trachea_max_area_mm2)
        interior &= ~airway
        lungs = largest_components(interior, second_min_ratio=rule.second_lung_min_ratio)
        del interior
        centre = body_centre(volume.hu)
        midline = None if centre is None else centre[1] - box[2].start
        inside = np.zeros(lungs[0].shape, dtype=bool)
        for lung in lungs:
            inside |= close_and_fill(lung, volume.spacing_mm, rule.closing_radius_mm, midline=midline)
        del lungs
        inside |= fill_pleural_dents(inside, factor=factor, rule=self.dent_rule)
        inside &= ~airway
        if not inside.any():
            raise SeriesError("no lung found in the series")
        mask = np.zeros(volume.hu.shape, dtype=bool)
        mask[box] = inside
        return mask


def remove_outside_air(air: np.ndarray, *, margin: int = 0,
                       align: int = 1) -> tuple[np.ndarray | None, tuple[slice, slice, slice]]:
    """Air not connected (in 3D) to the in-plane border of the scan: air inside the body.

    Returns that air inside its bounding box, widened in-plane by ``margin`` pixels (within the
    image) with the box's first row and column on a multiple of ``align``, and the box; ``None``
    and an empty box when the body holds no air.

    Rows and columns that are air on every slice connect to the border, and so does any air
    touching them: the labelling runs only inside the box of the other rows and columns (the
    body, the table), with that box's in-plane faces counting as the border.
    """
    body = ~air.all(axis=0)
    if not body.any():
        return None, (slice(0, 0),) * 3
    rows, cols = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
    region = air[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    labels, count = ndimage.label(region)
    border = np.unique(np.concatenate([
        labels[:, 0, :].ravel(), labels[:, -1, :].ravel(), labels[:, :, 0].ravel(), labels[:, :, -1].ravel(),
    ]))
    # A lookup table per label is much lighter than np.isin on a 512 x 512 x 300 volume.
    keep = np.ones(count + 1, dtype=bool)
    keep[0] = False
    keep[border] = False
    inner = keep[labels]
    del labels
    if not inner.any():
        return None, (slice(0, 0),) * 3
    # Every slice stays: the later steps sample slices by their index in the scan.
    found = (slice(None),) + bounding_box(inner.any(axis=0))
    box = [slice(0, air.shape[0])]
    for axis, offset in ((1, rows[0]), (2, cols[0])):
        start = max(found[axis].start + offset - margin, 0) // align * align
        box.append(slice(start, min(found[axis].stop + offset + margin, air.shape[axis])))
    box = tuple(box)
    interior = np.zeros(tuple(part.stop - part.start for part in box), dtype=bool)
    interior[:, found[1].start + rows[0] - box[1].start:found[1].stop + rows[0] - box[1].start,
             found[2].start + cols[0] - box[2].start:found[2].stop + cols[0] - box[2].start] = inner[found]
    return interior, box


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """The index box around the mask's voxels (which must hold one), widened by ``margin`` where the volume allows."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        box.append(slice(max(int(present[0]) - margin, 0), min(int(present[-1]) + margin + 1, mask.shape[axis])))
    return tuple(box)


def closing_pad(spacing_mm: tuple[float, float, float], radius_mm: float) -> int:
    """Pixels around a lung slice that its closing with a disk of ``radius_mm`` reads (:func:`close_and_fill`)."""
    _, dy, dx = spacing_mm
    return int(np.ceil(radius_mm / min(dy, dx))) + 1


def track_airway(interior: np.ndarray, spacing_mm: tuple[float, float, float], *,
                 midline: float | None = None, trachea_max_area_mm2: float = TRACHEA_MAX_AREA_MM2) -> np.ndarray:
    """The trachea and main bronchi, followed down from the most cranial slices.

    ``midline``: the column of the body's midline (the image's middle column by default); the trachea
    is the cranial air region nearest it of at most ``trachea_max_area_mm2``.
    Returns an in-plane-dilated airway mask; empty when no trachea is found (then nothing is
    removed and the lung volume includes any airway in the scan).
    """
    _, dy, dx = spacing_mm
    pixel_area = dy * dx
    airway = np.zeros(interior.shape, dtype=bool)
    start, seed = _find_trachea(interior, pixel_area, interior.shape[2] / 2 if midline is None else midline,
                                trachea_max_area_mm2)
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


def _find_trachea(interior: np.ndarray, pixel_area: float, midline: float,
                  max_area_mm2: float) -> tuple[int, np.ndarray | None]:
    """The first cranial slice's interior air region nearest the midline, if trachea-sized (at most
    ``max_area_mm2``)."""
    with_air = np.flatnonzero(interior.any(axis=(1, 2)))
    if with_air.size == 0:
        return 0, None
    start = int(with_air[0])
    labels, count = ndimage.label(interior[start])
    areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1)) * pixel_area
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    candidates = [(abs(centre[1] - midline), label) for label, (area, centre) in
                  enumerate(zip(areas, centres), start=1) if area <= max_area_mm2]
    if not candidates:
        return start, None
    return start, labels == min(candidates)[1]


def largest_components(mask: np.ndarray, *, second_min_ratio: float = SECOND_LUNG_MIN_RATIO) -> list[np.ndarray]:
    """The largest 3D component, and the second when it is big enough to be the other lung (at least
    ``second_min_ratio`` of the largest)."""
    labels, count = ndimage.label(mask)
    if count == 0:
        raise SeriesError("no air-filled lung found in the series")
    # Sizes counted inside each component's box: cheaper than a bincount over the whole volume, and
    # the two lungs' box masks are needed anyway.
    parts = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None:
            part = labels[box] == label
            parts.append((int(np.count_nonzero(part)), label, box, part))
    parts.sort(key=lambda item: item[0], reverse=True)
    keep = parts[:1]
    if len(parts) > 1 and parts[1][0] >= second_min_ratio * parts[0][0]:
        keep.append(parts[1])
    lungs = []
    for _, _, box, part in keep:
        lung = np.zeros(mask.shape, dtype=bool)
        lung[box] = part
        lungs.append(lung)
    return lungs


def close_and_fill(lung: np.ndarray, spacing_mm: tuple[float, float, float], radius_mm: float, *,
                   midline: float | None = None) -> np.ndarray:
    """Per-slice closing with a disk of ``radius_mm`` (via distance transforms), then hole filling.

    With the body's ``midline`` (a column), a slice's section that holds both lungs -- they touch at a
    junction line, so they are one component -- is split there (:func:`split_lungs`) and each side is
    closed and filled alone: closed together, the lungs would enclose the mediastinum, and hole filling
    would add the heart and great vessels to the lung.
    """
    _, dy, dx = spacing_mm
    pad = closing_pad(spacing_mm, radius_mm)
    result = np.zeros_like(lung)
    for index in np.flatnonzero(lung.any(axis=(1, 2))):
        rows, cols = np.nonzero(lung[index])
        r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, lung.shape[1])
        c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, lung.shape[2])
        window = lung[index, r0:r1, c0:c1]
        sides = [window] if midline is None else [side for side in split_lungs(window, midline - c0) if side.any()]
        filled = result[index, r0:r1, c0:c1]
        for side in sides:
            dilated = ndimage.distance_transform_edt(~side, sampling=(dy, dx)) <= radius_mm
            # Outside the window counts as background for the erosion, so pad by one pixel.
            closed = ndimage.distance_transform_edt(np.pad(dilated, 1), sampling=(dy, dx))[1:-1, 1:-1] > radius_mm
            filled |= ndimage.binary_fill_holes(closed | side)
    return result


def fill_pleural_dents(mask: np.ndarray, factor: int = 1, rule: PleuralDentRule = PleuralDentRule()) -> np.ndarray:
    """The dents of each lung's per-slice convex hull that are lung replaced by dense disease.

    See step 6 of the module docstring; ``mask`` is the closed lung mask (both lungs). On each
    slice it is split into the image-left and image-right lung at the body's midline (at the
    thinnest column near it where the lungs touch at a junction line). ``factor``: work on blocks
    of that many pixels a side; ``rule``: the limits of which dents are lung. Returns the voxels to add.
    """
    if factor > 1:
        # Hull dents are centimetres across: a grid of f x f blocks is enough, f^2 cheaper. A
        # block counts as lung only when all of it is, so no dent is lost at the edge.
        slices, rows, cols = mask.shape
        coarse = np.zeros((slices, -(-rows // factor) * factor, -(-cols // factor) * factor), dtype=bool)
        coarse[:, :rows, :cols] = mask
        coarse = coarse.reshape(slices, coarse.shape[1] // factor, factor, coarse.shape[2] // factor,
                                factor).all(axis=(2, 4))
        dents = fill_pleural_dents(coarse, rule=rule)
        dents = np.repeat(np.repeat(dents, factor, axis=1), factor, axis=2)[:, :rows, :cols]
        return dents & ~mask
    dents = np.zeros(mask.shape, dtype=bool)
    areas = mask.sum(axis=(1, 2))
    if not areas.any():
        return dents
    midline = float(np.argwhere(mask[::max(1, mask.shape[0] // 20)].any(axis=0))[:, 1].mean())
    for index in np.flatnonzero(areas):
        # Work in the slice's lung box (with a margin row and column): a fraction of the image.
        rows, cols = np.flatnonzero(mask[index].any(axis=1)), np.flatnonzero(mask[index].any(axis=0))
        box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
        sides = split_lungs(mask[index][box], midline - box[1].start)
        added = dents[index][box]
        between = _between_lungs(sides) if all(side.any() for side in sides) else None
        for section in sides:
            area = int(section.sum())
            if area < 3:
                continue
            hull = convex_hull_image(section)
            labels, count = ndimage.label(hull & ~section)
            if count == 0:
                continue
            sizes = np.bincount(labels.ravel(), minlength=count + 1)
            keep = sizes <= rule.area_limit * area
            if between is not None:
                inside = np.bincount(labels[between].ravel(), minlength=count + 1)
                keep &= inside <= rule.mediastinal_share * sizes
            keep[0] = False
            added |= keep[labels]
    dents &= ~mask
    if not dents.any():
        return dents
    # A dent reaching a true lung base is the diaphragm dome (liver or spleen), not lung.
    base = int(np.flatnonzero(areas)[-1])
    if areas[base] < rule.base_area_share * areas.max():
        labels, count = ndimage.label(dents)
        at_base = np.unique(labels[base][labels[base] > 0])
        if at_base.size:
            drop = np.zeros(count + 1, dtype=bool)
            drop[at_base] = True
            dents &= ~drop[labels]
    return dents


def split_lungs(section: np.ndarray, midline: float) -> tuple[np.ndarray, np.ndarray]:
    """The image-left and image-right lung of one slice's mask.

    Each 2D component goes to the side of its centre; one that crosses the midline widely (lungs
    touching at the anterior or posterior junction) is cut at its thinnest column within a
    quarter of its width of the midline.
    """
    labels, count = ndimage.label(section)
    left = np.zeros_like(section)
    right = np.zeros_like(section)
    cols = np.arange(section.shape[1])
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        part = labels[box] == label
        c0, c1 = box[1].start, box[1].stop
        width = c1 - c0
        spread = min(midline - c0, c1 - midline)
        if spread > 0.25 * width:
            counts = part.sum(axis=0)
            lo = max(int(midline - 0.25 * width) - c0, 0)
            hi = min(int(midline + 0.25 * width) - c0, width - 1)
            cut = c0 + lo + int(np.argmin(counts[lo:hi + 1]))
            whole = np.zeros_like(section)
            whole[box] = part
            left |= whole & (cols[None, :] < cut)
            right |= whole & (cols[None, :] >= cut)
            continue
        target = left if (c0 + c1) / 2 < midline else right
        target[box] |= part
    return left, right


def _between_lungs(sections: list[np.ndarray]) -> np.ndarray:
    """Pixels that lie, on their row, between the medial edges of the left-hand and right-hand lung."""
    left, right = sections
    cols = np.arange(left.shape[1])
    left_edge = np.where(left.any(axis=1), np.max(np.where(left, cols, -1), axis=1), -1)
    right_edge = np.where(right.any(axis=1), np.min(np.where(right, cols, left.shape[1]), axis=1), -1)
    both = (left_edge >= 0) & (right_edge >= 0)
    return both[:, None] & (cols[None, :] > left_edge[:, None]) & (cols[None, :] < right_edge[:, None])


def convex_hull_image(section: np.ndarray) -> np.ndarray:
    """The filled convex hull of a 2D mask's pixel centres (row by row between the hull's edges)."""
    rows, cols = np.nonzero(section)
    # Only each row's extreme pixels can be hull vertices.
    row_ids, first = np.unique(rows, return_index=True)
    last = np.r_[first[1:], rows.size] - 1
    points = np.concatenate([np.c_[row_ids, cols[first]], np.c_[row_ids, cols[last]]]).astype(float)
    hull = np.zeros_like(section)
    if row_ids.size < 2 or np.ptp(points[:, 1]) == 0:
        hull[rows, cols] = True
        return hull | _row_spans(section)
    from scipy.spatial import ConvexHull, QhullError

    try:
        vertices = points[ConvexHull(points).vertices]
    except QhullError:  # collinear points
        return section | _row_spans(section)
    low = np.full(section.shape[0], np.inf)
    high = np.full(section.shape[0], -np.inf)
    for (r0, c0), (r1, c1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        r_from, r_to = sorted((r0, r1))
        span = np.arange(int(np.ceil(r_from)), int(np.floor(r_to)) + 1)
        if span.size == 0:
            continue
        c = np.full(span.size, c0) if r1 == r0 else c0 + (span - r0) * (c1 - c0) / (r1 - r0)
        np.minimum.at(low, span, c)
        np.maximum.at(high, span, c)
    cols_grid = np.arange(section.shape[1])[None, :]
    hull = (cols_grid >= np.ceil(low - 1e-6)[:, None]) & (cols_grid <= np.floor(high + 1e-6)[:, None])
    return hull | section


def _row_spans(section: np.ndarray) -> np.ndarray:
    cols = np.arange(section.shape[1])
    first = np.min(np.where(section, cols, section.shape[1]), axis=1)
    last = np.max(np.where(section, cols, -1), axis=1)
    return (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])


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


def segmenter_from_settings(onnx_model_path: Path | None, *, rule: LungMaskRule = LungMaskRule(),
                            dent_rule: PleuralDentRule = PleuralDentRule()) -> LungSegmenter:
    """The ONNX model when a path is configured, else the classical segmenter with ``rule`` and ``dent_rule``."""
    if onnx_model_path:
        return OnnxLungSegmenter(onnx_model_path)
    return ClassicalLungSegmenter(rule=rule, dent_rule=dent_rule)


def segmenter_for(settings) -> LungSegmenter:
    """The lung segmenter of the CT server's settings (``onnx_model_path``, ``lung_*``, ``pleural_dent_*``)."""
    rule = LungMaskRule(air_threshold_hu=settings.lung_air_threshold_hu,
                        closing_radius_mm=settings.lung_closing_radius_mm,
                        trachea_max_area_mm2=settings.lung_trachea_max_area_mm2,
                        second_lung_min_ratio=settings.lung_second_lung_min_ratio)
    return segmenter_from_settings(settings.onnx_model_path, rule=rule, dent_rule=PleuralDentRule(
        mediastinal_share=settings.pleural_dent_mediastinal_share, area_limit=settings.pleural_dent_area_limit,
        base_area_share=settings.pleural_dent_base_area_share))
