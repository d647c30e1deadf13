"""Opportunistic bone density: trabecular attenuation of the vertebral bodies in the chest CT.

Classical method (:class:`ClassicalVertebraFinder`): bone (HU > ``CORTEX_HU``) in a band around
the body's midline behind the lungs; per slice, holes filled so that a cortical ring becomes a
solid vertebral body (after a 3 x 3 closing that seals a cortex thinner than a pixel); each 3D component (vertebral bodies are separated by their discs) with a
cross-section of 3-25 cm2, a height of at least 10 mm and inside the scan (not touching its
first or last slice) is a vertebral body. Its trabecular ROI avoids the cortex: the body eroded
in-plane by ``CORTEX_MARGIN_MM`` (3 mm), over the middle half of its slices (away from the
endplates). Vertebrae are numbered from the most cranial one in the field of view; the
anatomical level (T7..L1) is not identified -- a trained model can do that through the ONNX slot.

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
from scipy import ndimage

from imaging_server.dicom_io import CtVolume

CORTEX_HU = 200.0
MIDLINE_BAND_MM = 60.0
AREA_RANGE_MM2 = (300.0, 2500.0)
MIN_HEIGHT_MM = 10.0
CORTEX_MARGIN_MM = 3.0
# (upper bound HU inclusive, flag, threshold text) -- Pickhardt PJ et al. Ann Intern Med 2013;158:588-595.
BONE_FLAGS = (
    (110.0, "likely_osteoporosis", "<= 110 HU: threshold with high specificity for osteoporosis at L1"),
    (160.0, "possible_low_bone_density", "<= 160 HU: threshold with high sensitivity for osteoporosis at L1"),
)
CAVEAT = ("Thresholds from L1 (Pickhardt PJ et al. Ann Intern Med 2013;158:588-595) applied to the vertebrae in the "
          "chest CT (programme assumption); intravenous contrast and tube voltage (kVp) shift HU. Not for clinical use.")
METHOD = ("trabecular ROI: vertebral body (bone > 200 HU, holes filled) eroded 3 mm in-plane, middle half of its "
          "slices; vertebrae numbered from the most cranial in the field of view")


# A vertebral body: its index box in the volume and its boolean mask inside that box.
Body = tuple[tuple[slice, slice, slice], np.ndarray]


class VertebraFinder(Protocol):
    """Anything that returns the vertebral bodies of a CT volume."""

    name: str

    def bodies(self, volume: CtVolume) -> list[Body]:
        ...


class ClassicalVertebraFinder:
    """Filled cortical rings near the midline, separated by discs (see the module docstring)."""

    name = "classical"

    def bodies(self, volume: CtVolume) -> list[Body]:
        _, dy, dx = volume.spacing_mm
        result: list[Body] = []
        # The spine lies on the midline of the bone (ribs are symmetric about it); every 4th slice
        # is enough to find that column cheaply.
        sample = volume.hu[::4] > CORTEX_HU
        weights = sample.sum(axis=(0, 1))
        if not weights.any():
            return result
        midline = int(round(np.average(np.arange(sample.shape[2]), weights=weights)))
        half = int(MIDLINE_BAND_MM / dx)
        c0, c1 = max(midline - half, 0), min(midline + half + 1, volume.hu.shape[2])
        band = volume.hu[:, :, c0:c1] > CORTEX_HU
        rows = np.flatnonzero(band.any(axis=(0, 2)))
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
        band = band[:, r0:r1]
        filled = np.zeros_like(band)
        square = np.ones((3, 3), dtype=bool)
        for index in np.flatnonzero(band.any(axis=(1, 2))):
            # A closing first, so that a cortex thinner than a pixel still makes a closed ring.
            filled[index] = ndimage.binary_fill_holes(ndimage.binary_closing(band[index], structure=square))
        labels, _ = ndimage.label(filled)
        for label, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            body = labels[box] == label
            area_mm2 = body.sum(axis=(1, 2)).max() * dy * dx
            height_mm = (box[0].stop - box[0].start) * volume.spacing_mm[0]
            inside = box[0].start > 0 and box[0].stop < volume.hu.shape[0]
            if inside and AREA_RANGE_MM2[0] <= area_mm2 <= AREA_RANGE_MM2[1] and height_mm >= MIN_HEIGHT_MM:
                result.append(((box[0], slice(r0 + box[1].start, r0 + box[1].stop),
                                slice(c0 + box[2].start, c0 + box[2].stop)), body))
        return result


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
            results.append((box[0].start, float(values.mean())))
    results.sort()
    return [{"index": number, "trabecular_hu": round(hu, 1)} for number, (_, hu) in enumerate(results, start=1)]


def bone_summary(vertebrae: list[dict], *, method: str = "classical") -> dict:
    """``{"vertebrae", "trabecular_hu" (lowest), "flag", "threshold", "caveat", "method", "source"}``."""
    if not vertebrae:
        return {"vertebrae": [], "trabecular_hu": None, "flag": "not_assessed", "threshold": None,
                "statement": "Vertebral trabecular attenuation: no whole vertebral body found in the field of view.", "caveat": CAVEAT,
                "method": method}
    lowest = min(vertebra["trabecular_hu"] for vertebra in vertebrae)
    flag, threshold = "not_low", "> 160 HU"
    for bound, name, text in BONE_FLAGS:
        if lowest <= bound:
            flag, threshold = name, text
            break
    statement = f"Lowest vertebral trabecular attenuation {lowest:.0f} HU: {flag.replace('_', ' ')} ({threshold})."
    return {"vertebrae": vertebrae, "trabecular_hu": lowest, "flag": flag, "threshold": threshold,
            "statement": statement, "caveat": CAVEAT,
            "method": f"{method}: {METHOD}" if method == "classical" else method,
            "source": "Pickhardt PJ et al. Ann Intern Med 2013;158:588-595"}
