"""Opportunistic bone density: trabecular attenuation of the vertebral bodies in the chest CT.

Classical method (:class:`ClassicalVertebraFinder`), slice by slice along the column: in a band
``MIDLINE_BAND_MM`` either side of the body's midline, behind the centre of the body outline,
bone is > ``BONE_HU`` (150 HU) plus the holes of bone that hold trabecular attenuation
(>= 60 HU: an osteoporotic body inside its cortex; the spinal canal's fluid stays out); an
opening by a disk of ``BODY_OPENING_MM`` (6 mm) keeps the round vertebral body and drops the
thinner pedicles, laminae, processes and rib heads; the section of 3-25 cm2 nearest the midline
is the body (a contrast-filled aorta lies beside it). Consecutive sections that overlap are one
run; a disc separates two bodies -- a slice without a section (thin slices), or a disc level, which
reads *brighter* than the mid-body at any slice thickness (the endplates are the column's densest
bone, and on 2.5-3 mm slices partial volume merges them with the disc; :func:`split_at_disc_levels`).
A body of 10-35 mm that does not touch the scan's first or last slice is measured. Its trabecular
ROI avoids the cortex: the body eroded in-plane by ``CORTEX_MARGIN_MM`` (3 mm), over the middle half
of its slices (away from the endplates). Vertebrae are numbered from the most cranial one in the
field of view; levels (T1..L5) are named only where the scan shows the lung apex
(:func:`name_levels`: the body level with it is T1, a programme assumption good to about one level)
-- a trained model can do better through the ONNX slot. A scan where the column is found but no
whole body lies inside (a slab) says so, as does a scan without a column.

Flags, on the lowest vertebral trabecular attenuation (Pickhardt PJ et al., Opportunistic
screening for osteoporosis using abdominal CT scans obtained for other indications. Ann Intern
Med 2013;158:588-595, at L1): <= 110 HU "likely osteoporosis" (threshold with high specificity),
<= 160 HU "possible low bone density" (threshold with high sensitivity), else "not low". Those
thresholds were derived at L1; applying them to the thoracic vertebrae of a chest CT is a
programme assumption (thoracic trabecular HU runs somewhat higher than L1, so this errs towards
fewer flags). Contrast enhancement and tube voltage (kVp) shift HU; the report says so.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import ndimage, signal

from imaging_server.dicom_io import CtVolume

CORTEX_HU = 200.0
BONE_HU = 150.0
TRABECULAR_MIN_HU = 60.0
BODY_OPENING_MM = 6.0
BODY_HU = -500.0
MIDLINE_BAND_MM = 35.0
AREA_RANGE_MM2 = (300.0, 2500.0)
MIN_HEIGHT_MM = 10.0
# Thoracic and lumbar vertebral bodies are 15-30 mm tall; a stretch between disc levels taller than this
# holds two or more bodies whose disc was not seen, and is not measured.
MAX_BODY_HEIGHT_MM = 35.0
# Disc levels (see split_at_disc_levels). Thoracic discs are 2.6-5.4 mm (mean anterior height, T4-5 to
# T10-11; Fletcher JGR et al. Eur Spine J 2015, doi:10.1007/s00586-015-3925-y) to 4.5-7.2 mm (Kunkel ME et al. J Anat
# 2011;219:375-387) and the shortest thoracic bodies about 17 mm (T2, 16.9 +- 1.6 mm; Egwu OA et al. J Anat
# Soc India 2019;68:110-118): two endplate peaks closer than this are one disc (disc + endplates + a
# slice), farther apart they are a body's two ends (programme assumption between those figures).
DISC_GROUP_MM = 12.0
# A disc level stands this far above the bone around it (programme assumption: the endplate levels of
# real 2.5 mm slabs read 75-150 HU above the mid-body; a 5 mm bone island in a 6 cm2 section adds ~25 HU).
DISC_LEVEL_PROMINENCE_HU = 50.0
CORTEX_MARGIN_MM = 3.0
# (upper bound HU inclusive, flag, threshold text) -- Pickhardt PJ et al. Ann Intern Med 2013;158:588-595.
BONE_FLAGS = (
    (110.0, "likely_osteoporosis", "<= 110 HU: threshold with high specificity for osteoporosis at L1"),
    (160.0, "possible_low_bone_density", "<= 160 HU: threshold with high sensitivity for osteoporosis at L1"),
)
CAVEAT = ("Thresholds from L1 (Pickhardt PJ et al. Ann Intern Med 2013;158:588-595) applied to the vertebrae in the "
          "chest CT (programme assumption); intravenous contrast and tube voltage (kVp) shift HU. Not for clinical use.")
METHOD = ("bodies separated at disc levels (a slice without bone, or the bright endplate levels); trabecular ROI: "
          "vertebral body (bone > 200 HU, holes filled) eroded 3 mm in-plane, middle half of its slices; vertebrae "
          "numbered from the most cranial in the field of view")


# A vertebral body: its index box in the volume and its boolean mask inside that box.
Body = tuple[tuple[slice, slice, slice], np.ndarray]


class VertebraFinder(Protocol):
    """Anything that returns the vertebral bodies of a CT volume."""

    name: str

    def bodies(self, volume: CtVolume) -> list[Body]:
        ...


class ClassicalVertebraFinder:
    """Vertebral bodies followed along the column, slice by slice (see the module docstring)."""

    name = "classical"

    def bodies(self, volume: CtVolume) -> list[Body]:
        return self.bodies_and_column(volume)[0]

    def bodies_and_column(self, volume: CtVolume) -> tuple[list[Body], int]:
        """The bodies and the number of slices where the column was found (for the summary's
        reason when no body is whole). No state is kept: one finder serves concurrent requests."""
        found = body_sections(volume)
        if found is None:
            return [], 0
        interiors, r0, c0 = found
        column_slices = int(interiors.any(axis=(1, 2)).sum())
        result: list[Body] = []
        # Consecutive slices with a body section that overlap in-plane are one run; a thin-slice disc
        # (no bone dense enough) ends it, and its bright disc levels split it into bodies.
        labels, _ = ndimage.label(interiors, structure=np.array([[[0, 0, 0], [0, 1, 0], [0, 0, 0]],
                                                                 [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
                                                                 [[0, 0, 0], [0, 1, 0], [0, 0, 0]]], dtype=bool))
        for label, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            run = labels[box] == label
            rows, cols = slice(r0 + box[1].start, r0 + box[1].stop), slice(c0 + box[2].start, c0 + box[2].stop)
            means = np.array([volume.hu[box[0].start + k, rows, cols][run[k]].mean() for k in range(run.shape[0])])
            edges = (box[0].start == 0, box[0].stop == volume.hu.shape[0])
            for start, stop in split_at_disc_levels(means, volume.spacing_mm[0], scan_edges=edges):
                first, last = box[0].start + start, box[0].start + stop
                height_mm = (stop - start) * volume.spacing_mm[0]
                inside = first > 0 and last < volume.hu.shape[0]
                if inside and MIN_HEIGHT_MM <= height_mm <= MAX_BODY_HEIGHT_MM:
                    result.append(((slice(first, last), rows, cols), run[start:stop]))
        return result, column_slices


def split_at_disc_levels(means: np.ndarray, slice_mm: float, *,
                         scan_edges: tuple[bool, bool] = (False, False)) -> list[tuple[int, int]]:
    """Slice ranges ``(start, stop)`` of the vertebral bodies in one run of consecutive body sections,
    from each section's mean attenuation (``means``, cranial first).

    The endplates are the densest bone of the column, so a disc level reads *brighter* than the
    mid-body at any slice thickness: on thin slices two endplate peaks flank the disc's dip, on
    2.5-3 mm slices partial volume merges them into one bright level. A disc level is a peak standing
    ``DISC_LEVEL_PROMINENCE_HU`` above the bone around it; peaks closer than ``DISC_GROUP_MM`` (less
    than the shortest thoracic body) are the two endplates of one disc; a level spans the slices
    around its peaks brighter than half the peak's prominence (thick slices show a plateau of
    endplate slices). Bodies are the stretches between levels. Beyond a run's end lies a
    disc (a slice without a section) or the scan's edge; a peak on the scan's first or last slice is
    not a level, as the bone beyond it is unseen (``scan_edges``: whether the run starts on the
    scan's first slice, ends on its last).

    Examples
    --------
    >>> split_at_disc_levels(np.array([250., 180, 170, 175, 320, 180, 170, 168, 175, 260]), 3.0)
    [(1, 4), (5, 9)]
    """
    count = means.size
    if count == 0:
        return []
    floor = float(means.min())
    padded = np.r_[floor, means, floor]  # a run's end can be a level: judge it by its one known side
    peaks, properties = signal.find_peaks(padded, prominence=DISC_LEVEL_PROMINENCE_HU)
    _, _, lefts, rights = signal.peak_widths(padded, peaks, rel_height=0.5, prominence_data=(
        properties["prominences"], properties["left_bases"], properties["right_bases"]))
    levels: list[list[int]] = []  # [first slice, last slice, last peak] of each disc level
    for peak, left, right in zip(peaks - 1, lefts - 1, rights - 1):
        if (scan_edges[0] and peak == 0) or (scan_edges[1] and peak == count - 1):
            continue
        # The level spans the slices brighter than half its prominence (a plateau of endplate slices).
        first, last = max(int(np.ceil(left)), 0), min(int(np.floor(right)), count - 1)
        if levels and (peak - levels[-1][2]) * slice_mm < DISC_GROUP_MM:
            levels[-1][1:] = [max(levels[-1][1], last), peak]
        else:
            levels.append([first, last, peak])
    bounds = [-1, *[k for level in levels for k in level[:2]], count]
    # bounds alternate: a body ends before a level starts and starts after the level ends.
    ranges = [(bounds[i] + 1, bounds[i + 1]) for i in range(0, len(bounds), 2)]
    return [(start, stop) for start, stop in ranges if stop > start]


def body_sections(volume: CtVolume) -> tuple[np.ndarray, int, int] | None:
    """Each slice's vertebral-body section in the band behind the body's centre, and the band's
    first row and column; None when the scan shows no body outline."""
    _, dy, dx = volume.spacing_mm
    centre = body_centre(volume.hu)
    if centre is None:
        return None
    centre_row, centre_col = centre
    half = int(MIDLINE_BAND_MM / dx)
    c0, c1 = max(centre_col - half, 0), min(centre_col + half + 1, volume.hu.shape[2])
    r0, r1 = centre_row, volume.hu.shape[1]  # the spine lies behind the body's centre
    if r1 - r0 < 3 or c1 - c0 < 3:
        return None
    pixel_mm2 = dy * dx
    interiors = np.zeros((volume.hu.shape[0], r1 - r0, c1 - c0), dtype=bool)
    for index in range(volume.hu.shape[0]):
        window = volume.hu[index, r0:r1, c0:c1]
        bone = window > BONE_HU
        # Holes of bone that hold trabecular bone (an osteoporotic body inside its cortex) are
        # bone; the spinal canal (fluid and cord, < 60 HU) stays a hole.
        # Holes = background components not touching the window's edge (one labelling, cheaper
        # than binary_fill_holes' propagation).
        labels, count = ndimage.label(~bone)
        if count > 1:
            means = np.asarray(ndimage.mean(window, labels, index=np.arange(1, count + 1)))
            trabecular = np.r_[False, means >= TRABECULAR_MIN_HU]
            edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
            trabecular[edge] = False
            bone |= trabecular[labels]
        # An opening by a disk of OPENING_MM keeps the round body and drops the thinner
        # pedicles, laminae, processes and ribs.
        core = ndimage.distance_transform_edt(bone, sampling=(dy, dx)) > BODY_OPENING_MM
        if not core.any():
            continue
        opened = bone & (ndimage.distance_transform_edt(~core, sampling=(dy, dx)) <= BODY_OPENING_MM + max(dy, dx))
        labels, count = ndimage.label(opened)
        areas = np.bincount(labels.ravel(), minlength=count + 1) * pixel_mm2
        centres = ndimage.center_of_mass(opened, labels, index=np.arange(1, count + 1))
        fits = [(abs(centre[1] - (centre_col - c0)), label) for label, centre in enumerate(centres, start=1)
                if AREA_RANGE_MM2[0] <= areas[label] <= AREA_RANGE_MM2[1]]
        if fits:  # the body nearest the midline (the aorta lies beside it)
            interiors[index] = labels == min(fits)[1]
    return interiors, r0, c0


def body_centre(hu: np.ndarray) -> tuple[int, int] | None:
    """Row and column of the centre of the patient's body (soft tissue and lung inside the skin),
    from a few slices: the spine lies on its midline, behind it."""
    sample = hu[:: max(1, hu.shape[0] // 8)] > BODY_HU
    rows, cols = [], []
    for section in sample:
        labels, count = ndimage.label(section)
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        r, c = np.nonzero(labels == sizes.argmax())
        rows.append(r.mean())
        cols.append(c.mean())
    if not rows:
        return None
    return int(round(float(np.median(rows)))), int(round(float(np.median(cols))))


class OnnxVertebraFinder:
    """A vertebral-body segmentation model (ONNX, per slice); bodies are its 3D components."""

    def __init__(self, model):
        self.model = model
        self.name = model.name

    def bodies(self, volume: CtVolume) -> list[Body]:
        labels, _ = ndimage.label(self.model.mask(volume))
        return [(box, labels[box] == label) for label, box in enumerate(ndimage.find_objects(labels), start=1)
                if box is not None]


def trabecular_attenuation(volume: CtVolume, bodies: list[Body]) -> list[dict]:
    """Mean HU of each body's trabecular ROI, ordered from the most cranial body."""
    _, dy, dx = volume.spacing_mm
    steps = max(1, int(np.ceil(CORTEX_MARGIN_MM / min(dy, dx))))
    results = []
    for box, body in bodies:
        slices = np.flatnonzero(body.any(axis=(1, 2)))
        quarter = len(slices) // 4
        middle = slices[quarter:len(slices) - quarter] if len(slices) >= 4 else slices
        values = []
        for index in middle:
            roi = ndimage.binary_erosion(body[index], iterations=steps)
            values.append(volume.hu[box][index][roi])
        values = np.concatenate(values) if values else np.empty(0)
        if values.size:
            results.append((box[0].start, box[0].stop, float(values.mean())))
    results.sort()
    return [{"index": number, "trabecular_hu": round(hu, 1), "slices": [first, stop - 1]}
            for number, (first, stop, hu) in enumerate(results, start=1)]


LEVELS = tuple(f"T{n}" for n in range(1, 13)) + tuple(f"L{n}" for n in range(1, 6))
# Consecutive bodies are counted as adjacent levels only when their centres lie at most this many
# times the median centre-to-centre distance apart (a missed body would shift every name below it).
ADJACENT_GAP_RATIO = 1.6
LEVEL_ANCHOR = ("levels estimated from the lung apex, taken to lie level with T1 (programme assumption; "
                "+-1 level), counting down consecutive bodies")


def name_levels(vertebrae: list[dict], apex_slice: int | None) -> list[dict]:
    """Each vertebra with ``level`` (T1..L5) where the scan allows, else ``None``.

    Levels are named only when the scan shows the lung apex (``apex_slice``: the first slice with
    lung, not the scan's first): the body level with it -- containing that slice, or the first one
    starting within a body's height below it -- is T1, and each following body the next level as
    long as the bodies are adjacent (no missed body between).
    """
    named = [{**vertebra, "level": None} for vertebra in vertebrae]
    if apex_slice is None or not named or "slices" not in named[0]:
        return named
    centres = [(v["slices"][0] + v["slices"][1]) / 2 for v in named]
    heights = [v["slices"][1] - v["slices"][0] + 1 for v in named]
    first = next((i for i, v in enumerate(named)
                  if v["slices"][0] - heights[i] <= apex_slice <= v["slices"][1]), None)
    if first is None:
        return named
    gaps = np.diff(centres)
    typical = float(np.median(gaps)) if gaps.size else 0.0
    for offset, i in enumerate(range(first, len(named))):
        if offset >= len(LEVELS) or (i > first and gaps[i - 1] > ADJACENT_GAP_RATIO * typical):
            break
        named[i]["level"] = LEVELS[offset]
    return named


def bone_summary(vertebrae: list[dict], *, method: str = "classical", column_slices: int = 0) -> dict:
    """``{"vertebrae", "trabecular_hu" (lowest), "flag", "threshold", "caveat", "method", "source"}``."""
    if not vertebrae:
        reason = ("the vertebral column is in the field of view but no whole vertebral body (a partial scan)"
                  if column_slices else "no vertebral column found in the field of view")
        return {"vertebrae": [], "trabecular_hu": None, "flag": "not_assessed", "threshold": None,
                "column_slices": column_slices,
                "statement": f"Vertebral trabecular attenuation not assessed: {reason}.", "caveat": CAVEAT,
                "method": method}
    lowest = min(vertebra["trabecular_hu"] for vertebra in vertebrae)
    flag, threshold = "not_low", "> 160 HU"
    for bound, name, text in BONE_FLAGS:
        if lowest <= bound:
            flag, threshold = name, text
            break
    levels = [vertebra.get("level") for vertebra in vertebrae]
    if any(levels):
        measured = ", ".join(level or f"#{vertebra['index']}" for level, vertebra in zip(levels, vertebrae))
        naming = f"levels {measured}; {LEVEL_ANCHOR}"
    else:
        measured = ", ".join(str(vertebra["index"]) for vertebra in vertebrae)
        naming = (f"numbered from the top of the scan: {measured}; anatomical levels not named (the scan does not "
                  "show the lung apex, or the bodies below it are not consecutive)")
    statement = (f"Lowest vertebral trabecular attenuation {lowest:.0f} HU: {flag.replace('_', ' ')} ({threshold}); "
                 f"{len(vertebrae)} vertebral bodies measured ({naming}).")
    return {"vertebrae": vertebrae, "trabecular_hu": lowest, "flag": flag, "threshold": threshold,
            "column_slices": column_slices,
            "statement": statement, "caveat": CAVEAT,
            "method": f"{method}: {METHOD}" if method == "classical" else method,
            "source": "Pickhardt PJ et al. Ann Intern Med 2013;158:588-595"}
