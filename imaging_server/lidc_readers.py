"""The radiologists' reading of an LIDC-IDRI case (``readers.xml``) as reference lesions.

The LIDC-IDRI reader file (namespace ``http://www.nih.gov``) holds, per reading session (one
radiologist), ``unblindedReadNodule`` elements: lesions of 3 mm or more come with
``characteristics`` (``texture`` 1 = ground-glass .. 5 = solid) and one ``roi`` per slice, each
naming its image (``imageSOP_UID``), whether the contour encloses the lesion (``inclusion``
TRUE) or cuts a hole out of it (FALSE), and its outline (``edgeMap`` x/y pixel coordinates).

:func:`reference_lesions` groups the readers' marks of one lesion (centres within
``SAME_LESION_MM``) and gives each reader's Lung-RADS diameter on the slices present in the
series: the mean of the longest diameter of the largest axial contour and the longest
diameter perpendicular to it (ACR Lung-RADS v2022: mean of long and short axis, to 0.1 mm).

Source: Armato SG III et al. The Lung Image Database Consortium (LIDC) and Image Database
Resource Initiative (IDRI). Med Phys 2011;38:915-931 (texture scale and contour rules).
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaging_server.errors import SeriesError
from imaging_server.nodules import axial_diameters

NAMESPACE = {"lidc": "http://www.nih.gov"}
# Two readers' marks belong to one lesion when their centres lie this close (programme assumption).
SAME_LESION_MM = 15.0


@dataclass
class ReaderMark:
    """One radiologist's outline of one lesion: texture score and inclusion contours per image."""

    texture: int
    contours: dict[str, list[np.ndarray]] = field(default_factory=dict)  # SOP UID -> (x, y) pixel arrays


@dataclass
class ReferenceLesion:
    """One lesion as the readers saw it, limited to the images of the series."""

    textures: list[int]
    diameters_mm: list[float]          # each reader's Lung-RADS mean diameter on the series' slices
    centre_index: tuple[float, float, float]  # (slice, row, column) of the readers' mean centre

    @property
    def majority_type(self) -> str:
        """The nodule type most readers' texture means (1-2 ground glass, 3 part-solid, 4-5 solid)."""
        kinds = [texture_type(score) for score in self.textures]
        return max(set(kinds), key=lambda kind: (kinds.count(kind), kind == "solid"))


def texture_type(score: int) -> str:
    """The nodule type of an LIDC texture score.

    >>> [texture_type(score) for score in (1, 2, 3, 4, 5)]
    ['ground_glass', 'ground_glass', 'part_solid', 'solid', 'solid']
    """
    if score not in (1, 2, 3, 4, 5):
        raise SeriesError(f"LIDC texture must be 1-5, got {score!r}")
    return "ground_glass" if score <= 2 else "part_solid" if score == 3 else "solid"


def read_marks(path: Path) -> list[ReaderMark]:
    """Every characterised lesion mark (3 mm or more) of every reader in ``readers.xml``."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise SeriesError(f"unreadable LIDC reader file: {Path(path).name} ({type(exc).__name__})") from exc
    marks = []
    for nodule in root.iter(f"{{{NAMESPACE['lidc']}}}unblindedReadNodule"):
        texture = nodule.find("lidc:characteristics/lidc:texture", NAMESPACE)
        if texture is None or not (texture.text or "").strip():
            continue  # a lesion under 3 mm: marked by its centre only
        mark = ReaderMark(texture=int(texture.text))
        for roi in nodule.findall("lidc:roi", NAMESPACE):
            if (roi.findtext("lidc:inclusion", "", NAMESPACE) or "").strip().upper() != "TRUE":
                continue
            points = np.array([[float(edge.findtext("lidc:xCoord", "nan", NAMESPACE)),
                                float(edge.findtext("lidc:yCoord", "nan", NAMESPACE))]
                               for edge in roi.findall("lidc:edgeMap", NAMESPACE)])
            uid = (roi.findtext("lidc:imageSOP_UID", "", NAMESPACE) or "").strip()
            if len(points):
                mark.contours.setdefault(uid, []).append(points)
        if mark.contours:
            marks.append(mark)
    return marks


def reference_lesions(path: Path, sop_index: dict[str, int], pixel_mm: tuple[float, float],
                      spacing_mm: tuple[float, float, float]) -> list[ReferenceLesion]:
    """The readers' lesions with contours on the series' images (``sop_index``: SOP UID -> slice)."""
    marks = []
    for mark in read_marks(path):
        present = {uid: contours for uid, contours in mark.contours.items() if uid in sop_index}
        if not present:
            continue
        diameter = 0.0
        best_long = -1.0
        centres = []
        for uid, contours in present.items():
            for points in contours:
                long_axis, short_axis = axial_diameters(points, pixel_mm)
                if long_axis > best_long:
                    best_long, diameter = long_axis, (long_axis + short_axis) / 2
                centres.append((sop_index[uid], points[:, 1].mean(), points[:, 0].mean()))
        marks.append((mark.texture, round(diameter, 1), np.mean(centres, axis=0)))
    lesions: list[list] = []
    scale = np.asarray(spacing_mm)
    for texture, diameter, centre in marks:
        for lesion in lesions:
            if np.linalg.norm((lesion[2] - centre) * scale) <= SAME_LESION_MM:
                lesion[0].append(texture)
                lesion[1].append(diameter)
                break
        else:
            lesions.append([[texture], [diameter], centre])
    return [ReferenceLesion(textures=t, diameters_mm=d, centre_index=tuple(float(v) for v in c)) for t, d, c in lesions]


def sop_slice_index(folder: Path) -> dict[str, int]:
    """SOP Instance UID -> slice index (0 = most cranial, as :func:`~imaging_server.dicom_io.load_series_folder` orders)."""
    import pydicom

    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(Path(folder).iterdir())
               if path.is_file()]
    order = sorted(headers, key=lambda ds: -float(ds.ImagePositionPatient[2]))
    return {str(ds.SOPInstanceUID): index for index, ds in enumerate(order)}
