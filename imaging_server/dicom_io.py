"""Reading a CT series into a Hounsfield-unit volume, validating it on the way in.

Every problem becomes a :class:`~imaging_server.errors.SeriesError` whose message is safe to
send back to the referring clinic: it names the missing tag or the wrong modality, never a
header value that could identify the patient.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imaging_server.errors import SeriesError

logger = logging.getLogger(__name__)

MIN_SLICES = 3
# Gaps between slice positions may differ this much from the median before the series is refused.
SPACING_TOLERANCE = 0.1


@dataclass
class CtVolume:
    """A CT series as Hounsfield units.

    Attributes
    ----------
    hu
        float32 array (slices, rows, columns), slice 0 the most cranial (highest patient z).
    spacing_mm
        (slice spacing, row spacing, column spacing) in millimetres.
    """

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    slice_step_mm: tuple[float, float, float] | None = None

    def patient_position(self, index: tuple[float, float, float]) -> list[float]:
        """Patient coordinates (mm) of a (slice, row, column) voxel position.

        ``origin_mm`` is the ImagePositionPatient of slice 0 (the centre of its first pixel),
        ``orientation`` the ImageOrientationPatient, ``slice_step_mm`` the move from one slice to
        the next (by default one slice spacing towards the feet).
        """
        return [round(float(value), 1) for value in self._position(index)]

    def _position(self, index) -> np.ndarray:
        k, r, c = index
        _, dy, dx = self.spacing_mm
        row_direction, column_direction = np.asarray(self.orientation[:3]), np.asarray(self.orientation[3:])
        step = np.asarray(self.slice_step_mm if self.slice_step_mm is not None else (0.0, 0.0, -self.spacing_mm[0]))
        return np.asarray(self.origin_mm) + c * dx * row_direction + r * dy * column_direction + k * step

    def crop(self, box: tuple[slice, slice, slice]) -> "CtVolume":
        """The sub-volume ``box`` (a view), its origin moved so that patient positions still hold."""
        start = tuple(part.start or 0 for part in box)
        return CtVolume(hu=self.hu[box], spacing_mm=self.spacing_mm,
                        origin_mm=tuple(float(v) for v in self._position(start)), orientation=self.orientation,
                        slice_step_mm=self.slice_step_mm)

    @property
    def voxel_volume_ml(self) -> float:
        dz, dy, dx = self.spacing_mm
        return dz * dy * dx / 1000.0


#: Endings of files that claim to be DICOM: such a file that does not parse is an error, never left out.
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})
#: Where a DICOM Part 10 file carries its "DICM" prefix (after the 128-byte preamble).
_PART10_PREFIX_AT = 128


def _claims_dicom(path: Path) -> bool:
    """True for a DICOM Part 10 file (the "DICM" prefix after the preamble) or a file named as
    DICOM; false for a sidecar such as a reader file (``readers.xml``) or a README."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(_PART10_PREFIX_AT)
            return handle.read(4) == b"DICM"
    except OSError:
        return True  # unreadable: let dcmread name it


def read_folder(folder: Path) -> list:
    """Read every DICOM file under ``folder`` (its subfolders too).

    A downloaded case often keeps its images in a subfolder beside sidecar files (an LIDC-IDRI case:
    ``readers.xml`` and ``series/``), so files that neither carry the DICOM Part 10 prefix nor are
    named as DICOM (:data:`DICOM_SUFFIXES`) are left out; how many is logged (with their endings,
    never their names, which may hold a patient's name). ``DICOMDIR`` index files and hidden files
    are left out too. A file that claims to be DICOM and does not parse is an error.

    Raises
    ------
    SeriesError
        The folder has no DICOM files, or a DICOM file is not readable (named by its file name).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not folder.is_dir():
        raise SeriesError(f"not a folder: {folder}")
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.name.upper() != "DICOMDIR"
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    claims = {path: _claims_dicom(path) for path in files}
    paths = [path for path, dicom in claims.items() if dicom]
    left_out = [path for path, dicom in claims.items() if not dicom]
    if not paths:
        raise SeriesError(f"no DICOM files in {folder}" + (f" ({len(files)} other files)" if files else ""))
    if left_out:
        endings = sorted({path.suffix.lower() or "(no ending)" for path in left_out})
        logger.warning("left out %d file(s) that are not DICOM (%s)", len(left_out), ", ".join(endings))
    datasets = []
    for path in paths:
        try:
            datasets.append(pydicom.dcmread(path))
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            raise SeriesError(f"unreadable DICOM: {path.name} ({type(exc).__name__})") from exc
    return datasets


def volume_from_datasets(datasets: Iterable) -> CtVolume:
    """Validate one CT series and convert it to Hounsfield units.

    HU = stored value x RescaleSlope + RescaleIntercept, per slice. Slices are ordered along the
    normal of ImageOrientationPatient; the slice spacing is the median gap between positions.

    Raises
    ------
    SeriesError
        "series is not CT (modality MR)", "missing RescaleSlope/RescaleIntercept",
        "unreadable DICOM", more than one series (each named by number and image count), inconsistent geometry, too few slices.
    """
    datasets = list(datasets)
    if len(datasets) < MIN_SLICES:
        raise SeriesError(f"a CT series needs at least {MIN_SLICES} slices, got {len(datasets)}")
    if any("PixelData" not in ds for ds in datasets):
        raise SeriesError("unreadable DICOM: an image has no pixel data (truncated or not an image)")
    modalities = sorted({str(getattr(ds, "Modality", "") or "unknown") for ds in datasets})
    if modalities != ["CT"]:
        raise SeriesError(f"series is not CT (modality {', '.join(modalities)})")
    series = {}
    for ds in datasets:
        series.setdefault(getattr(ds, "SeriesInstanceUID", None), []).append(ds)
    if len(series) != 1:
        # Named by series number and image count (never a description, which may carry free text),
        # so the user can tell the scout from the thin axial series and pass that one's folder.
        found = "; ".join(f"series number {getattr(members[0], 'SeriesNumber', None) or 'not stated'}: "
                          f"{len(members)} image(s)" for members in sorted(series.values(), key=len, reverse=True))
        raise SeriesError(f"the images belong to {len(series)} series ({found}): pass the folder of one series")
    for ds in datasets:
        if "RescaleSlope" not in ds or "RescaleIntercept" not in ds:
            raise SeriesError("missing RescaleSlope/RescaleIntercept")
    orientation = _orientation(datasets[0])
    normal = np.cross(orientation[:3], orientation[3:])
    positions = [_position(ds) @ normal for ds in datasets]
    order = np.argsort(positions)[::-1]  # most cranial first
    sorted_positions = np.asarray(positions)[order]
    spacing_z = _slice_spacing(sorted_positions)
    rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
    pixel_spacing = _pixel_spacing(datasets[0])
    hu = np.empty((len(datasets), rows, cols), dtype=np.float32)
    for target, index in enumerate(order):
        ds = datasets[index]
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols) or _pixel_spacing(ds) != pixel_spacing:
            raise SeriesError("slices differ in size or pixel spacing")
        if not np.allclose(_orientation(ds), orientation, atol=1e-3):
            raise SeriesError("slices differ in ImageOrientationPatient")
        hu[target] = _pixels(ds) * np.float32(ds.RescaleSlope) + np.float32(ds.RescaleIntercept)
    first, last = _position(datasets[order[0]]), _position(datasets[order[-1]])
    return CtVolume(hu=hu, spacing_mm=(spacing_z, *pixel_spacing), origin_mm=tuple(float(v) for v in first),
                    orientation=tuple(float(v) for v in orientation),
                    slice_step_mm=tuple(float(v) for v in (last - first) / (len(datasets) - 1)))


def load_series_folder(folder: Path) -> CtVolume:
    """Read and validate the CT series stored as files in ``folder``."""
    return volume_from_datasets(read_folder(folder))


def _orientation(ds) -> np.ndarray:
    try:
        orientation = np.asarray([float(v) for v in ds.ImageOrientationPatient], dtype=float)
    except (AttributeError, TypeError, ValueError) as exc:
        raise SeriesError("missing or invalid ImageOrientationPatient") from exc
    if orientation.shape != (6,):
        raise SeriesError("missing or invalid ImageOrientationPatient")
    return orientation


def _position(ds) -> np.ndarray:
    try:
        position = np.asarray([float(v) for v in ds.ImagePositionPatient], dtype=float)
    except (AttributeError, TypeError, ValueError) as exc:
        raise SeriesError("missing or invalid ImagePositionPatient") from exc
    if position.shape != (3,):
        raise SeriesError("missing or invalid ImagePositionPatient")
    return position


def _pixel_spacing(ds) -> tuple[float, float]:
    try:
        row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    except (AttributeError, TypeError, ValueError) as exc:
        raise SeriesError("missing or invalid PixelSpacing") from exc
    if row_spacing <= 0 or col_spacing <= 0:
        raise SeriesError(f"PixelSpacing must be positive, got {row_spacing}, {col_spacing}")
    return row_spacing, col_spacing


def _slice_spacing(sorted_positions: np.ndarray) -> float:
    gaps = -np.diff(sorted_positions)
    if np.any(gaps <= 1e-3):
        raise SeriesError("two slices share one position")
    spacing = float(np.median(gaps))
    if np.any(np.abs(gaps - spacing) > SPACING_TOLERANCE * spacing):
        raise SeriesError(f"slice gaps are uneven (from {gaps.min():.2f} to {gaps.max():.2f} mm)")
    return spacing


def _pixels(ds) -> np.ndarray:
    # pydicom raises a variety of errors for broken or undecodable pixel data.
    try:
        pixels = ds.pixel_array
    except (AttributeError, KeyError, ValueError, TypeError, RuntimeError, NotImplementedError) as exc:
        raise SeriesError("unreadable DICOM: pixel data missing or not decodable") from exc
    if pixels.ndim != 2:
        raise SeriesError(f"expected one frame per image, got an array of shape {pixels.shape}")
    return pixels.astype(np.float32, copy=False)
