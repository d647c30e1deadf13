"""A synthetic chest CT with known truth, written as a DICOM series with pydicom.

The phantom is a soft-tissue body ellipse in air holding two lung ellipsoids of aerated
parenchyma (about -850 HU with spatially correlated noise), vessels (soft-tissue tubes),
a trachea and two main bronchi (air, connected to the lungs), a small emphysema-like region
in the upper zone and fibrotic-density patches (about -450 HU, inside the high-attenuation
window of Podolanczuk et al.) that fill a chosen fraction of the lower-zone parenchyma,
posterior-basal first as usual fibrosis is. With ``findings`` (the default) it also holds
pulmonary nodules of known type and size (solid, part-solid with a known solid component,
ground-glass; :data:`NODULES`), a consolidation of known volume (:data:`CONSOLIDATION_FINDING`) and a
column of vertebral bodies whose trabecular bone has a known attenuation each
(:data:`VERTEBRA_TRABECULAR_HU`). The label map gives the truth by construction.

A follow-up scan with known progression is the same anatomy (same ``seed``) with a larger
``lower_zone_fibrosis_fraction`` and another ``noise_seed``; the same fraction with another
``noise_seed`` is a scan in which only the noise changed.

It exists to test the quantification and the service end to end. It is not a model of any
patient, and its fake header values (name, ID, birth date, institution) exist only to prove
that they never leave the service.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

# Label values of the truth map.
(OUTSIDE, BODY, PARENCHYMA, VESSEL, FIBROSIS, AIRWAY, EMPHYSEMA, NODULE_SOLID, NODULE_GROUND_GLASS, CONSOLIDATION,
 CORTICAL_BONE, TRABECULAR_BONE, DISC) = range(13)
LUNG_LABELS = (PARENCHYMA, VESSEL, FIBROSIS, EMPHYSEMA, NODULE_SOLID, NODULE_GROUND_GLASS, CONSOLIDATION)
# Mean HU per label (trabecular bone gets its own value per vertebra).
LABEL_HU = (-1000, 40, -850, 40, -450, -1000, -975, 30, -600, 20, 700, 150, 90)
# The nodules: type, mean diameter, solid component diameter (mm), centre (x, y, z) in the phantom's
# patient frame (mm). Placed in the upper and middle zones, away from the fibrosis of the lower zone.
NODULES = (
    {"type": "solid", "mean_diameter_mm": 8.0, "solid_component_mm": 8.0, "center_mm": (-80.0, -30.0, 40.0)},
    {"type": "solid", "mean_diameter_mm": 6.0, "solid_component_mm": 6.0, "center_mm": (95.0, -30.0, 0.0)},
    {"type": "part_solid", "mean_diameter_mm": 12.0, "solid_component_mm": 6.0, "center_mm": (-70.0, 25.0, -5.0)},
    {"type": "ground_glass", "mean_diameter_mm": 10.0, "solid_component_mm": 0.0, "center_mm": (65.0, -45.0, 35.0)},
)
# A consolidation: an ellipsoid of soft-tissue density in the middle zone of the left-hand lung.
CONSOLIDATION_FINDING = {"center_mm": (85.0, 35.0, -25.0), "semi_axes_mm": (14.0, 14.0, 18.0)}
# Vertebral bodies along the posterior midline: cylinders with a cortical shell (its top and bottom are
# the bright endplates), separated by discs. Each slice averages the column over its thickness (partial
# volume). The first body starts ``top_mm`` above the first slice's centre, so the scan cuts through it
# (no body straddles the scan's edge by a hair). ``tilt_deg`` tilts the discs front to back, as a thoracic
# kyphosis does against the axial plane: a slice at a disc level then cuts endplate bone as well.
SPINE = {"center_xy_mm": (0.0, 75.0), "radius_mm": 16.0, "cortex_mm": 2.0, "height_mm": 22.0, "disc_mm": 6.0,
         "top_mm": 10.0, "tilt_deg": 0.0}
# Sub-samples per slice thickness for the column's partial volume.
SPINE_SUBSAMPLES = 16
VERTEBRA_TRABECULAR_HU = (190, 175, 160, 150, 140, 130, 120, 110, 100, 90, 80, 70)
RESCALE_INTERCEPT = -1024.0
FAKE_PATIENT = {
    "PatientName": "Phantom^Fake^Identifying",
    "PatientID": "FAKE-MRN-0042",
    "PatientBirthDate": "19520314",
    "InstitutionName": "Fake General Hospital",
    "ReferringPhysicianName": "Doctor^Fake",
    "OtherPatientIDs": "FAKE-OTHER-7",
}
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass
class Phantom:
    """A phantom volume and its truth.

    Attributes
    ----------
    hu
        Hounsfield units, shape (slices, rows, columns), slice 0 the most cranial.
    labels
        Truth label per voxel (``OUTSIDE`` .. ``EMPHYSEMA``).
    spacing_mm
        (slice spacing, row spacing, column spacing) in millimetres.
    truth
        ``lung_volume_ml``, ``haa_percent``, ``laa_percent`` and ``zones`` (HAA per zone).
    """

    hu: np.ndarray
    labels: np.ndarray
    spacing_mm: tuple[float, float, float]
    truth: dict = field(default_factory=dict)


def make_phantom(
    *,
    shape: tuple[int, int, int] = (60, 128, 128),
    field_of_view_mm: float = 340.0,
    scan_length_mm: float = 300.0,
    lower_zone_fibrosis_fraction: float = 0.25,
    emphysema: bool = True,
    noise_hu: float = 30.0,
    seed: int = 0,
    noise_seed: int | None = None,
    findings: bool = True,
    nodules: tuple[dict, ...] = NODULES,
    consolidation: dict = CONSOLIDATION_FINDING,
    trabecular_hu: tuple[float, ...] = VERTEBRA_TRABECULAR_HU,
    spine: dict = SPINE,
) -> Phantom:
    """Build a chest phantom.

    Parameters
    ----------
    shape
        (slices, rows, columns). Tests use the default; the benchmark uses (300, 512, 512).
    field_of_view_mm, scan_length_mm
        In-plane field of view and cranio-caudal length; they set the voxel spacing.
    lower_zone_fibrosis_fraction
        Fraction (0..0.9) of the lower-zone lung parenchyma replaced by fibrotic density.
    emphysema
        Add a small region below -950 HU in the upper zone of the right lung.
    noise_hu
        Standard deviation of the (spatially correlated) image noise.
    seed
        Random seed of the anatomy (vessels, fibrosis texture); the same arguments give the same phantom.
    noise_seed
        Random seed of the image noise; ``seed`` when not given.
    findings
        Add the nodules, the consolidation and the vertebrae.
    nodules, consolidation
        The nodules and the consolidation to place (as :data:`NODULES` and
        :data:`CONSOLIDATION_FINDING`), so a test can build a phantom other than the default.
    trabecular_hu
        The trabecular attenuation of each vertebral body from the top (the last repeats), as
        :data:`VERTEBRA_TRABECULAR_HU`.
    spine
        The column's geometry, as :data:`SPINE` (e.g. thinner discs, as in the elderly thoracic spine).

    Returns
    -------
    Phantom
        With ``truth`` computed from the label map; with ``findings`` also ``nodules`` (type,
        diameters, volume and centre in the series' patient coordinates), ``consolidation_ml``
        and ``vertebrae`` (index from the most cranial whole vertebral body, trabecular HU).

    Examples
    --------
    >>> phantom = make_phantom(shape=(20, 64, 64))
    >>> round(phantom.truth["lung_volume_ml"]) > 1000
    True
    """
    if not 0.0 <= lower_zone_fibrosis_fraction <= 0.9:
        raise ValueError(f"lower_zone_fibrosis_fraction must be within 0..0.9, got {lower_zone_fibrosis_fraction}")
    if min(shape) < 16:
        raise ValueError(f"every phantom dimension must be >= 16 voxels, got {shape}")
    rng = np.random.default_rng(seed)
    slices, rows, cols = shape
    dz, dy, dx = scan_length_mm / slices, field_of_view_mm / rows, field_of_view_mm / cols
    # Patient coordinates in mm: z from head (top slice) down, y posterior positive, x left.
    z = (scan_length_mm / 2 - (np.arange(slices) + 0.5) * dz)[:, None, None]
    y = ((np.arange(rows) + 0.5) * dy - field_of_view_mm / 2)[None, :, None]
    x = ((np.arange(cols) + 0.5) * dx - field_of_view_mm / 2)[None, None, :]

    labels = np.zeros(shape, dtype=np.uint8)
    labels[np.broadcast_to((x / 150.0) ** 2 + (y / 110.0) ** 2 <= 1.0, shape)] = BODY
    lung_centre_z, lung_axes = -10.0, (58.0, 80.0, 110.0)  # x, y, z semi-axes
    lung = np.zeros(shape, dtype=bool)
    inner = np.zeros(shape, dtype=bool)
    for side in (-1, 1):
        for target, shrink in ((lung, 0.0), (inner, 10.0)):
            ax, ay, az = (a - shrink for a in lung_axes)
            target |= ((x - side * 80.0) / ax) ** 2 + (y / ay) ** 2 + ((z - lung_centre_z) / az) ** 2 <= 1.0
    labels[lung] = PARENCHYMA

    airway = _airway_tree(x, y, z, shape, carina_z=lung_centre_z + 55.0)
    labels[airway & ~lung] = AIRWAY
    keep_clear = [(n["center_mm"][:2], n["mean_diameter_mm"] / 2) for n in nodules] if findings else []
    if findings:
        keep_clear.append((consolidation["center_mm"][:2], max(consolidation["semi_axes_mm"][:2])))
    vessels = _vessels(x, y, shape, rng, keep_clear) & inner
    labels[vessels] = VESSEL
    if emphysema:
        blob = ((x - 80.0) ** 2 + (y - 10.0) ** 2 + (z - (lung_centre_z + 70.0)) ** 2) <= 18.0 ** 2
        labels[blob & (labels == PARENCHYMA)] = EMPHYSEMA
    zone_of_slice = _zones(lung)
    _add_fibrosis(labels, zone_of_slice, y, lower_zone_fibrosis_fraction, rng)
    vertebra_of_voxel, column = None, None
    if findings:
        _add_nodules_and_consolidation(labels, x, y, z, nodules, consolidation)
        vertebra_of_voxel = _add_spine(labels, x, y, z, spine)
        column = _column_partial_volume(x, y, z, dz, spine, trabecular_hu)

    noise_rng = rng if noise_seed is None else np.random.default_rng(noise_seed)
    hu = _intensities(labels, airway & lung, noise_hu, noise_rng, column)
    truth = _truth(labels, zone_of_slice, dz * dy * dx)
    if findings:
        truth.update(_finding_truth(labels, vertebra_of_voxel, (dz, dy, dx), shape, scan_length_mm, nodules,
                                    trabecular_hu, spine))
    return Phantom(hu=hu, labels=labels, spacing_mm=(dz, dy, dx), truth=truth)


def _airway_tree(x, y, z, shape, *, carina_z: float) -> np.ndarray:
    """Trachea from the top of the scan to the carina, then two main bronchi into the lungs."""
    airway = np.zeros(shape, dtype=bool)
    trachea_y = -20.0
    airway |= np.broadcast_to((x ** 2 + (y - trachea_y) ** 2 <= 9.0 ** 2) & (z >= carina_z), shape)
    start = np.array([0.0, trachea_y, carina_z])
    for side in (-1, 1):
        end = np.array([side * 48.0, trachea_y + 10.0, carina_z - 35.0])
        airway |= _segment_distance(x, y, z, start, end) <= 6.0
    return airway


def _segment_distance(x, y, z, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    direction = end - start
    length2 = float(direction @ direction)
    t = ((x - start[0]) * direction[0] + (y - start[1]) * direction[1] + (z - start[2]) * direction[2]) / length2
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((x - start[0] - t * direction[0]) ** 2 + (y - start[1] - t * direction[1]) ** 2
                   + (z - start[2] - t * direction[2]) ** 2)


def _vessels(x, y, shape, rng: np.random.Generator, keep_clear=()) -> np.ndarray:
    """Cranio-caudal soft-tissue tubes, 2.5-4 mm radius, at random places inside each lung.

    A tube is redrawn while it would pass within 6 mm of a finding in ``keep_clear`` (centre
    (x, y), radius), so that nodules and the consolidation are not juxtavascular.
    """
    plane = np.zeros(shape[1:], dtype=bool)
    for side in (-1, 1):
        for _ in range(6):
            while True:
                cx, cy = side * 80.0 + rng.uniform(-30, 30), rng.uniform(-45, 45)
                radius = rng.uniform(2.5, 4.0)
                if all(np.hypot(cx - fx, cy - fy) > r + radius + 6.0 for (fx, fy), r in keep_clear):
                    break
            plane |= ((x[0] - cx) ** 2 + (y[0] - cy) ** 2 <= radius ** 2)
    return np.broadcast_to(plane, shape)


def _add_nodules_and_consolidation(labels, x, y, z, nodules, consolidation) -> None:
    for nodule in nodules:
        cx, cy, cz = nodule["center_mm"]
        distance2 = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2
        outer = distance2 <= (nodule["mean_diameter_mm"] / 2) ** 2
        labels[outer] = NODULE_SOLID if nodule["type"] == "solid" else NODULE_GROUND_GLASS
        if nodule["type"] == "part_solid":
            labels[distance2 <= (nodule["solid_component_mm"] / 2) ** 2] = NODULE_SOLID
    (cx, cy, cz), (ax, ay, az) = consolidation["center_mm"], consolidation["semi_axes_mm"]
    # Consolidation replaces lung only: where the ellipsoid reaches past the pleura it stops there.
    inside = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1.0
    labels[inside & np.isin(labels, LUNG_LABELS)] = CONSOLIDATION


def _add_spine(labels, x, y, z, spine: dict = SPINE) -> np.ndarray:
    """Vertebral bodies from the top of the scan down; returns the vertebra number per voxel (-1: none)."""
    radial, shift = _column_frame(x, y, spine)
    number, body, disc, trabecular = _column_parts(radial, float(z.max()) - z + shift, spine)
    shape = labels.shape
    body, disc, trabecular = (np.broadcast_to(part, shape) for part in (body, disc, trabecular))
    labels[body] = CORTICAL_BONE
    labels[trabecular] = TRABECULAR_BONE
    labels[disc] = DISC
    vertebra = np.full(shape, -1, dtype=np.int8)
    vertebra[trabecular] = np.broadcast_to(number, shape)[trabecular]
    return vertebra


def _column_frame(x, y, spine: dict) -> tuple[np.ndarray, np.ndarray]:
    """In-plane distance from the column's axis, and the depth (mm) to add to a point's depth below the
    first slice centre to get its depth below the first body's top (the offset plus the discs' tilt)."""
    (sx, sy) = spine["center_xy_mm"]
    shift = spine["top_mm"] + (y - sy) * np.tan(np.radians(spine["tilt_deg"]))
    return np.sqrt((x - sx) ** 2 + (y - sy) ** 2), shift


def _column_parts(radial: np.ndarray, depth: np.ndarray, spine: dict):
    """Vertebra number, body, disc and trabecular core at ``depth`` mm below the first body's top."""
    radius, cortex, height = spine["radius_mm"], spine["cortex_mm"], spine["height_mm"]
    period = height + spine["disc_mm"]
    number = np.floor(depth / period).astype(int)
    within = depth - number * period  # 0 .. period: body first, then the disc
    body = (radial <= radius) & (within < height)
    disc = (radial <= radius) & ~body
    trabecular = body & (radial <= radius - cortex) & (within >= cortex) & (within < height - cortex)
    return number, body, disc, trabecular


def _column_partial_volume(x, y, z, dz: float, spine: dict, trabecular_hu) -> tuple[np.ndarray, np.ndarray]:
    """The column's pixels in-plane and their HU per slice, each slice the mean over its thickness
    (``dz``): at 2.5-3 mm a slice through a thin disc also holds the bright endplates on either side."""
    radial, shift = _column_frame(x, y, spine)
    radial = radial[0]
    inside = radial <= spine["radius_mm"]
    radial = radial[inside][None, :]
    depth = float(z.max()) - z[:, :, 0] + np.broadcast_to(shift[0], inside.shape)[inside][None, :]  # (slices, n)
    levels = np.asarray(trabecular_hu, dtype=np.float32)
    total = np.zeros((z.shape[0], radial.shape[1]), dtype=np.float32)
    # A triangular slice sensitivity profile as wide at half maximum as the slice (helical CT's is about
    # that): a slice sees tissue up to one slice spacing from its centre, the nearer the more.
    offsets = (np.arange(SPINE_SUBSAMPLES) + 0.5) / SPINE_SUBSAMPLES * 2.0 - 1.0
    weights = 1.0 - np.abs(offsets)
    for offset, weight in zip(offsets, weights / weights.sum()):
        number, body, disc, trabecular = _column_parts(radial, depth + offset * dz, spine)
        part = np.where(disc, LABEL_HU[DISC], LABEL_HU[CORTICAL_BONE]).astype(np.float32)
        core = levels[np.clip(np.broadcast_to(number, part.shape), 0, levels.size - 1)]
        total += weight * np.where(trabecular, core, part)
    return inside, total


def _zones(lung: np.ndarray) -> np.ndarray:
    """Zone per slice (0 upper, 1 middle, 2 lower, -1 no lung): thirds of the lung's extent."""
    with_lung = np.flatnonzero(lung.any(axis=(1, 2)))
    zones = np.full(lung.shape[0], -1, dtype=np.int8)
    if with_lung.size:
        first, last = with_lung[0], with_lung[-1] + 1
        relative = (np.arange(first, last) - first + 0.5) / (last - first)
        zones[first:last] = np.minimum((relative * 3).astype(np.int8), 2)
    return zones


def _add_fibrosis(labels, zone_of_slice, y, fraction: float, rng: np.random.Generator) -> None:
    """Turn exactly ``fraction`` of the lower-zone parenchyma into fibrosis, posterior first."""
    lower = np.flatnonzero(zone_of_slice == 2)
    if fraction <= 0 or lower.size == 0:
        return
    block = labels[lower[0]:lower[-1] + 1]
    candidates = block == PARENCHYMA
    texture = ndimage.gaussian_filter(rng.standard_normal(block.shape).astype(np.float32), sigma=3)
    score = np.broadcast_to(y / 80.0, block.shape) + 2.0 * texture / (texture.std() + 1e-6)
    values = score[candidates]
    count = int(round(fraction * values.size))
    if count == 0:
        return
    cutoff = np.partition(values, values.size - count)[values.size - count]
    block[candidates & (score >= cutoff)] = FIBROSIS


def _intensities(labels: np.ndarray, intrapulmonary_airway: np.ndarray, noise_hu: float,
                 rng: np.random.Generator, column: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    mean_hu = np.array(LABEL_HU, dtype=np.float32)
    noise = ndimage.gaussian_filter(rng.standard_normal(labels.shape).astype(np.float32), sigma=(0, 0.7, 0.7))
    noise *= noise_hu / (noise.std() + 1e-6)
    hu = mean_hu[labels] + noise
    if column is not None:
        inside, column_hu = column
        hu[:, inside] = column_hu + noise[:, inside]
    hu[labels == EMPHYSEMA] = np.minimum(hu[labels == EMPHYSEMA], -955.0)
    hu[intrapulmonary_airway] = -1000.0 + noise[intrapulmonary_airway] * 0.3
    return np.clip(hu, -1024.0, 3071.0)


def _truth(labels: np.ndarray, zone_of_slice: np.ndarray, voxel_mm3: float) -> dict:
    def summary(part: np.ndarray) -> dict:
        lung_voxels = int(np.isin(part, LUNG_LABELS).sum())
        if lung_voxels == 0:
            return {"lung_volume_ml": 0.0, "haa_percent": 0.0, "laa_percent": 0.0}
        return {
            "lung_volume_ml": lung_voxels * voxel_mm3 / 1000.0,
            "haa_percent": 100.0 * int((part == FIBROSIS).sum()) / lung_voxels,
            "laa_percent": 100.0 * int((part == EMPHYSEMA).sum()) / lung_voxels,
        }

    truth = summary(labels)
    truth["zones"] = {name: summary(labels[zone_of_slice == index])
                      for index, name in enumerate(("upper", "middle", "lower"))}
    # ILD extent truth: the fibrotic share of the lung, whole and per zone (same as HAA by construction).
    truth["ild_extent_percent"] = truth["haa_percent"]
    return truth


def _finding_truth(labels, vertebra_of_voxel, spacing_mm, shape, scan_length_mm, placed=NODULES,
                   trabecular_hu=VERTEBRA_TRABECULAR_HU, spine=SPINE) -> dict:
    """Nodules in the series' patient coordinates (as :func:`write_series` writes them), the
    consolidation volume and the trabecular HU of each vertebral body wholly inside the scan."""
    dz, dy, dx = spacing_mm
    slices = shape[0]
    # write_series puts the first pixel's centre at the phantom's, so patient and phantom frames agree.
    nodules = [{**{key: nodule[key] for key in ("type", "mean_diameter_mm", "solid_component_mm")},
                "volume_mm3": round(np.pi / 6 * nodule["mean_diameter_mm"] ** 3, 1),
                "center_mm": [round(value, 2) for value in nodule["center_mm"]]} for nodule in placed]
    consolidation_ml = float((labels == CONSOLIDATION).sum()) * dz * dy * dx / 1000.0
    # A vertebral body counts when it lies wholly inside the scan (not touching its first or last slice).
    vertebrae = []
    period = spine["height_mm"] + spine["disc_mm"]
    depth = np.arange(slices) * dz + spine["top_mm"]  # below the first body's top, on the column's axis
    slant = spine["radius_mm"] * np.tan(np.radians(spine["tilt_deg"]))  # a tilted body's reach above and below
    for number in np.unique(vertebra_of_voxel[vertebra_of_voxel >= 0]):
        top = number * period
        body = np.flatnonzero((depth >= top - slant) & (depth < top + spine["height_mm"] + slant))
        if body.size and body[0] > 0 and body[-1] < slices - 1:
            levels = np.flatnonzero((vertebra_of_voxel == number).any(axis=(1, 2)))
            vertebrae.append({"trabecular_hu": float(trabecular_hu[min(number, len(trabecular_hu) - 1)]),
                              "center_z_mm": round(float(scan_length_mm / 2 - (levels.mean() + 0.5) * dz), 1)})
    return {"nodules": nodules, "consolidation_ml": consolidation_ml, "vertebrae": vertebrae}


def write_series(
    phantom: Phantom,
    folder: Path,
    *,
    accession_number: str = "",
    modality: str = "CT",
    with_rescale: bool = True,
    identifying: bool = True,
    study_uid: str | None = None,
) -> list[Path]:
    """Write the phantom as one DICOM file per slice (uncompressed, explicit VR little endian).

    Parameters
    ----------
    accession_number
        Put in AccessionNumber: the service finds the study of a referral by it.
    modality
        ``"CT"`` writes CT Image Storage; anything else (e.g. ``"MR"``) writes MR Image Storage
        to exercise the "not CT" error path.
    with_rescale
        Leave out RescaleSlope/RescaleIntercept when False (the "missing tags" error path).
    identifying
        Fill patient name, ID, birth date and institution with fake values.
    """
    from pydicom.dataset import FileMetaDataset, Dataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    sop_class = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    dz, dy, dx = phantom.spacing_mm
    slices, rows, cols = phantom.hu.shape
    now = dt.datetime.now(dt.timezone.utc)
    stored = np.clip(np.rint(phantom.hu - RESCALE_INTERCEPT), 0, 4095).astype(np.uint16)
    paths = []
    for index in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.AccessionNumber = modality, accession_number
        ds.StudyDate = ds.SeriesDate = now.strftime("%Y%m%d")
        ds.StudyTime = now.strftime("%H%M%S")
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 2, index + 1
        ds.SeriesDescription = "Synthetic HRCT phantom"
        ds.BodyPartExamined = "CHEST"
        if identifying:
            for keyword, value in FAKE_PATIENT.items():
                setattr(ds, keyword, value)
        else:
            ds.PatientName, ds.PatientID = "", ""
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        z_mm = phantom.hu.shape[0] * dz / 2 - (index + 0.5) * dz
        # The centre of the first pixel, so that patient coordinates equal the phantom's.
        ds.ImagePositionPatient = [round(-cols * dx / 2 + dx / 2, 4), round(-rows * dy / 2 + dy / 2, 4), round(z_mm, 4)]
        ds.SliceThickness, ds.PixelSpacing = round(dz, 4), [round(dy, 6), round(dx, 6)]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if with_rescale:
            ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, RESCALE_INTERCEPT, "HU"
        ds.PixelData = stored[index].tobytes()
        path = folder / f"slice{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
