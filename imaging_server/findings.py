"""The report's findings beyond lung density: ILD extent and progression, nodules with guideline
advice, consolidation and bone density -- each from a replaceable method.

:class:`FindingMethods` holds one method per finding: the classical one by default, or an ONNX
model from the finding-models folder (``nodule.onnx``, ``consolidation.onnx``, ``ild.onnx``,
``vertebra.onnx``; see :mod:`imaging_server.onnx_models`), plus the programme settings the
statements use. :func:`assess_findings` returns the JSON keys ``ild_extent``, ``progression``
(with a prior), ``nodules``, ``nodule_guideline``, ``consolidation`` and ``bone``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np
from scipy import ndimage

from imaging_server import bone as bone_density
from imaging_server import consolidation as consolidation_finding
from imaging_server import ild_extent, nodules
from imaging_server.dicom_io import CtVolume
from imaging_server.errors import ConfigError, check_settings
from imaging_server.nodule_guidelines import (NoduleDescription, applicable_guideline, exam_lung_rads,
                                              fleischner_group, fleischner_recommendation, lesion_kind,
                                              lung_rads_category, nodule_status, thick_section_caveat)

logger = logging.getLogger(__name__)

MODEL_FILES = {"nodule": "nodule.onnx", "consolidation": "consolidation.onnx", "ild": "ild.onnx",
               "vertebra": "vertebra.onnx"}
# Nodule detection needs thin sections: Fleischner 2017 asks for <= 1.5 mm; beyond 3 mm the
# classical detector's size and type are meaningless, so it is not run for nodules.
MAX_NODULE_SLICE_MM = 3.0
# Up to this slice thickness the classical detector still runs on thicker slices, for lesions of 30 mm or
# more only (masses, and consolidation regions of a mass's size): a radiologist names a large lesion
# whatever the slice thickness. Programme assumption: at 5 mm (the usual older or non-chest-protocol
# reconstruction) a 30 mm lesion still spans six sections, so its extent is sampled to within one section;
# beyond it the lesion's size and place are too coarse and nothing is reported, as for nodules. Their size
# and type are approximate there (Fleischner 2017 asks for <= 1.5 mm sections to characterise a lesion),
# and the line says so (``nodule_guidelines.thick_section_caveat``). The CT server's setting
# mass_max_slice_mm (3 mm turns it off).
MAX_MASS_SLICE_MM = 5.0
# A lesion on the prior scan is the same lesion when its centre lies this close (programme assumption:
# Fleischner 2017 and Lung-RADS v2022 compare "the same nodule" as the reader identifies it and give no
# distance; the scans are not registered, so it holds for a patient positioned alike, and a lesion's centre
# moves by a few millimetres as it grows). The CT server's setting nodule_match_distance_mm.
MATCH_DISTANCE_MM = 10.0
CONTEXTS = ("incidental", "screening")
# A lesion as large as a 30 mm sphere is named consolidation when at least this share of it lies in the
# measured consolidation (programme assumption: more than half, the majority of the lesion; no published
# rule, see :func:`_is_consolidation`). The CT server's setting consolidation_lesion_share.
CONSOLIDATION_SHARE = 0.5
CONSOLIDATION_OR_MASS_NOTE = (
    "One region, one finding: homogeneous soft-tissue attenuation that takes the place of aerated lung is "
    "consolidation, and an opacity over 3 cm is a mass (Fleischner Society glossary, Hansell DM et al. Radiology "
    "2008;246:697-722); attenuation and shape cannot tell a round consolidation from a mass, so a region the "
    "consolidation volume counts is named consolidation. Its Lung-RADS category and advice are those of a mass "
    "of its size: if it proves a mass (no air bronchogram, not resolving on follow-up), work it up as one.")
# A subsolid lesion in a lung zone whose ILD extent index is at least this is taken as a focus of that
# diffuse pattern, not as a nodule (programme assumption: the index reads 6-8% in normal-looking lung on
# the LIDC-IDRI slabs, partial volume included, and about 24% in the phantom's fibrotic lower zone, whose
# -450 HU patches are ground-glass foci to any method; see :func:`_outside_diffuse_pattern`). The CT
# server's setting diffuse_pattern_zone_percent.
DIFFUSE_PATTERN_ZONE_PERCENT = 15.0


@dataclass
class FindingMethods:
    """The method of each finding and the programme settings of the statements."""

    nodule: nodules.NoduleDetector = field(default_factory=nodules.ClassicalNoduleDetector)
    consolidation: consolidation_finding.ConsolidationFinder = field(default_factory=consolidation_finding.ClassicalConsolidationFinder)
    ild: ild_extent.IldPatternFinder = field(default_factory=ild_extent.ClassicalIldPattern)
    vertebra: bone_density.VertebraFinder = field(default_factory=bone_density.ClassicalVertebraFinder)
    context: str = "incidental"
    consolidation_report_ml: float = consolidation_finding.REPORT_THRESHOLD_ML
    progression_threshold_points: float = ild_extent.PROGRESSION_POINTS
    diffuse_pattern_zone_percent: float = DIFFUSE_PATTERN_ZONE_PERCENT
    nodule_match_distance_mm: float = MATCH_DISTANCE_MM
    consolidation_lesion_share: float = CONSOLIDATION_SHARE
    mass_max_slice_mm: float = MAX_MASS_SLICE_MM

    def __post_init__(self):
        if self.context not in CONTEXTS:
            raise ConfigError(f"nodule_guideline_context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        checks = {"diffuse_pattern_zone_percent": (self.diffuse_pattern_zone_percent,
                                                   0 < self.diffuse_pattern_zone_percent <= 100, "in (0, 100]"),
                  "nodule_match_distance_mm": (self.nodule_match_distance_mm,
                                               0 < self.nodule_match_distance_mm <= 100, "in (0, 100] mm"),
                  "consolidation_lesion_share": (self.consolidation_lesion_share,
                                                 0 < self.consolidation_lesion_share <= 1, "in (0, 1]"),
                  "mass_max_slice_mm": (self.mass_max_slice_mm,
                                        MAX_NODULE_SLICE_MM <= self.mass_max_slice_mm <= 10,
                                        f"in [{MAX_NODULE_SLICE_MM:g}, 10] mm")}
        check_settings(checks)


def finding_methods_from_settings(models_dir: Optional[Path] = None, **settings) -> FindingMethods:
    """Classical methods, replaced by each ONNX model present in ``models_dir``."""
    methods = FindingMethods(**settings)
    if models_dir is None:
        return methods
    if not Path(models_dir).is_dir():
        raise ConfigError(f"finding_models_dir: no folder at {models_dir}")
    from imaging_server.onnx_models import OnnxMaskModel

    wrappers = {"nodule": nodules.OnnxNoduleDetector, "consolidation": consolidation_finding.OnnxConsolidationFinder,
                "ild": ild_extent.OnnxIldPattern, "vertebra": bone_density.OnnxVertebraFinder}
    for part, file_name in MODEL_FILES.items():
        path = Path(models_dir) / file_name
        if path.exists():
            setattr(methods, part, wrappers[part](OnnxMaskModel(path, setting="finding_models_dir")))
    return methods


def finding_methods_for(settings) -> FindingMethods:
    """The finding methods and statement settings of the CT server's settings."""
    ground_glass = nodules.GroundGlassRule(window_mm=settings.ground_glass_window_mm,
                                           mean_hu=settings.ground_glass_mean_hu,
                                           max_elongation=settings.ground_glass_max_elongation,
                                           min_fill=settings.ground_glass_min_fill)
    return finding_methods_from_settings(settings.finding_models_dir, context=settings.nodule_guideline_context,
                                         consolidation_report_ml=settings.consolidation_report_ml,
                                         progression_threshold_points=settings.progression_threshold_points,
                                         diffuse_pattern_zone_percent=settings.diffuse_pattern_zone_percent,
                                         nodule_match_distance_mm=settings.nodule_match_distance_mm,
                                         consolidation_lesion_share=settings.consolidation_lesion_share,
                                         mass_max_slice_mm=settings.mass_max_slice_mm,
                                         nodule=nodules.ClassicalNoduleDetector(ground_glass=ground_glass))


def assess_findings(full_volume: CtVolume, full_mask: np.ndarray, box: tuple[slice, ...], zones: list[slice],
                    methods: FindingMethods, *, prior: Optional[dict] = None,
                    timings: Optional[dict] = None) -> dict:
    """ILD extent (and progression against ``prior``, a previous report's metrics), nodules with
    Lung-RADS and Fleischner advice, consolidation and bone, as the ``ct quantify`` JSON keys.

    The lung findings are computed inside ``box`` (the lung's bounding box, where ``zones`` are
    slice ranges); the bone on the whole volume, as the spine lies outside the lungs. The seconds
    each step took go into ``timings`` when given (the benchmark reports them).
    """
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{step}_seconds"] = round(now - clock, 2)
        clock = now

    volume, lung_mask = full_volume.crop(box), full_mask[box]
    result = {"ild_extent": ild_extent.extent_summary(methods.ild.find(volume, lung_mask), lung_mask, zones,
                                                      method=methods.ild.name)}
    lap("ild_extent")
    previous_extent = ild_extent.prior_extent(prior)
    if previous_extent is not None:
        result["progression"] = ild_extent.progression(result["ild_extent"], previous_extent,
                                                       threshold_points=methods.progression_threshold_points)
    masses_only = _masses_only(volume, methods)
    found, nodule_mask, assessed, in_pattern = _detect_nodules(volume, lung_mask, methods, zones,
                                                               result["ild_extent"]["zones"], masses_only=masses_only)
    lap("nodules")
    consolidation_mask = methods.consolidation.find(volume, lung_mask, nodule_mask)
    consolidated = [_is_consolidation(nodule, consolidation_mask, volume.spacing_mm,
                                      share=methods.consolidation_lesion_share) for nodule in found]
    # One region, one finding: a large lesion not named consolidation is a mass (or a nodule under 30 mm
    # across), so it leaves the consolidation as the nodules did, or it would be counted in its volume and
    # listed again as a consolidation region.
    masses = [n for n, named in zip(found, consolidated) if not named and _as_large_as_30_mm_sphere(n)]
    if masses:
        for mass in masses:
            _add_sphere(nodule_mask, mass, volume.spacing_mm, margin_mm=1.0)
        consolidation_mask = methods.consolidation.find(volume, lung_mask, nodule_mask)
    # Regions become lesion lines only where lesions are assessed (thin enough sections), like nodules;
    # on thick sections only those of a mass's size, like the detector's lesions.
    regions = _consolidation_regions(volume, consolidation_mask, [n for n, named in zip(found, consolidated) if named],
                                     methods.consolidation.name) if assessed or masses_only else []
    if masses_only:
        regions = [n for n in regions if lesion_kind(n.mean_diameter_mm) == "mass"]
    found, consolidated = found + regions, consolidated + [True] * len(regions)
    result["nodules"] = _nodule_lines(volume, found, prior, methods.nodule.name, consolidated,
                                      match_distance_mm=methods.nodule_match_distance_mm)
    if masses_only:
        for line in result["nodules"]:
            line["thick_sections"] = {"slice_mm": float(volume.spacing_mm[0]),
                                      "caveat": thick_section_caveat(float(volume.spacing_mm[0]))}
    result["nodule_guideline"] = {
        **applicable_guideline(methods.context),
        "lung_rads_exam_category": exam_lung_rads([n["lung_rads"]["category"] for n in result["nodules"]]),
        "assessed": assessed,
        "method": (f"classical: {methods.nodule.describe()}"
                   if isinstance(methods.nodule, nodules.ClassicalNoduleDetector) else methods.nodule.name)
                  if assessed else f"not assessed: slices thicker than {MAX_NODULE_SLICE_MM:g} mm",
        **({"masses_only": (f"masses only (slices {volume.spacing_mm[0]:g} mm): lesions of 30 mm or more are "
                            f"reported up to {methods.mass_max_slice_mm:g} mm slices (setting mass_max_slice_mm), "
                            "smaller nodules are not assessed")}
           if masses_only else {}),
        "subsolid_in_ild_pattern": in_pattern,
        "ild_pattern_rule": ("subsolid lesions in a zone whose ILD extent is >= "
                             f"{methods.diffuse_pattern_zone_percent:g}% are foci of that pattern, not nodules "
                             "(programme assumption, setting diffuse_pattern_zone_percent)"),
    }
    result["consolidation"] = consolidation_finding.consolidation_summary(
        consolidation_mask, lung_mask, zones, volume.voxel_volume_ml,
        report_threshold_ml=methods.consolidation_report_ml, method=methods.consolidation.name)
    regions = [number for number, line in enumerate(result["nodules"], start=1) if line["lesion"] == "consolidation"]
    if regions:
        result["consolidation"]["lesions"] = regions
        result["consolidation"]["statement"] += " It includes " + ", ".join(
            f"lesion {number} ({result['nodules'][number - 1]['mean_diameter_mm']:.1f} mm)" for number in regions) + \
            ", listed once among the lesions as consolidation."
    if methods.context == "screening" and result["consolidation"]["incidental"]:
        result["nodule_guideline"]["note"] = (
            "Consolidation may suggest an infectious or inflammatory process: Lung-RADS v2022 allows category 0 "
            "with a 1-3 month LDCT (ACR Lung-RADS v2022, infectious/inflammatory findings)")
    lap("consolidation")
    if isinstance(methods.vertebra, bone_density.ClassicalVertebraFinder):
        bodies, column_slices = methods.vertebra.bodies_and_column(full_volume)
    else:  # a model's bodies: the column is where they are
        bodies = methods.vertebra.bodies(full_volume)
        column_slices = sum(box[0].stop - box[0].start for box, _ in bodies)
    # The lung apex anchors the level names when the scan starts above it (not a slab through the lungs).
    apex = int(box[0].start) + 1 if box[0].start > 0 else None
    vertebrae = bone_density.name_levels(bone_density.trabecular_attenuation(full_volume, bodies), apex)
    result["bone"] = bone_density.bone_summary(vertebrae, method=methods.vertebra.name, column_slices=column_slices)
    lap("bone")
    return result


def _detect_nodules(volume, lung_mask, methods, zones, zone_extent, *,
                    masses_only: bool) -> tuple[list[nodules.Nodule], np.ndarray, bool, int]:
    """The lesions to report, the mask that keeps those under a 30 mm sphere out of the consolidation,
    whether nodules were assessed, and how many subsolid ones were foci of a diffuse ILD pattern.
    ``masses_only`` (:func:`_masses_only`): only lesions of a mass's size are reported."""
    nodule_mask = np.zeros(lung_mask.shape, dtype=bool)
    if volume.spacing_mm[0] > methods.mass_max_slice_mm and methods.nodule.name == "classical":
        return [], nodule_mask, False, 0
    left_out = []

    def diffuse_rule(candidates: list[nodules.Nodule]) -> list[nodules.Nodule]:
        if masses_only:  # thick sections: smaller lesions are not assessed, nor taken out of the consolidation
            candidates = [n for n in candidates if lesion_kind(n.mean_diameter_mm) == "mass"]
        kept, count = _outside_diffuse_pattern(candidates, zones, zone_extent, methods.diffuse_pattern_zone_percent)
        left_out.append(count)
        return kept

    if isinstance(methods.nodule, nodules.ClassicalNoduleDetector):  # the cheap zone rule first
        found = methods.nodule.detect(volume, lung_mask, prefilter=diffuse_rule)
    else:
        found = diffuse_rule(methods.nodule.detect(volume, lung_mask))
    for nodule in found:
        if _as_large_as_30_mm_sphere(nodule):
            # A mass or a round consolidation, which attenuation and shape cannot tell apart: it stays in
            # the consolidation until :func:`_is_consolidation` has named it (assess_findings).
            continue
        _add_sphere(nodule_mask, nodule, volume.spacing_mm, margin_mm=1.0)
    return found, nodule_mask, not masses_only, sum(left_out)


def _masses_only(volume: CtVolume, methods: FindingMethods) -> bool:
    """Whether the classical detector reports only lesions of 30 mm or more: slices thicker than
    ``MAX_NODULE_SLICE_MM`` and up to ``methods.mass_max_slice_mm`` (a model's detector is taken as it reports)."""
    return (methods.nodule.name == "classical"
            and MAX_NODULE_SLICE_MM < volume.spacing_mm[0] <= methods.mass_max_slice_mm)


def _as_large_as_30_mm_sphere(nodule: nodules.Nodule) -> bool:
    """Whether the lesion's volume is that of a sphere of a mass's diameter (30 mm) or more."""
    return bool(np.cbrt(6 / np.pi * nodule.volume_mm3) >= nodules.DIAMETER_RANGE_MM[1])


def _lesion_sphere(nodule: nodules.Nodule, spacing_mm, shape: tuple[int, ...], *,
                   margin_mm: float = 0.0) -> tuple[tuple[slice, ...], np.ndarray]:
    """The sphere of the lesion's mean diameter (widened by ``margin_mm``) around its centre, as the
    index box it lies in (clipped to ``shape``) and the boolean sphere inside that box."""
    centre = np.asarray(nodule.center_index)
    radius = nodule.mean_diameter_mm / 2 + margin_mm
    box = tuple(slice(max(int(c - radius / s) - 1, 0), max(min(int(c + radius / s) + 2, size), 0))
                for c, s, size in zip(centre, spacing_mm, shape))
    grid = np.ogrid[box]
    return box, sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing_mm)) <= radius ** 2


def _add_sphere(mask: np.ndarray, nodule: nodules.Nodule, spacing_mm, *, margin_mm: float) -> None:
    """Set the lesion's sphere (:func:`_lesion_sphere`) in ``mask``, in place."""
    box, sphere = _lesion_sphere(nodule, spacing_mm, mask.shape, margin_mm=margin_mm)
    mask[box] |= sphere


def _outside_diffuse_pattern(found: list[nodules.Nodule], zones: list[slice], zone_extent: dict,
                             zone_percent: float) -> tuple[list[nodules.Nodule], int]:
    """The lesions to report, and how many subsolid ones were left out as foci of a diffuse ILD pattern.

    A ground-glass or part-solid lesion whose centre lies in a zone (``zones``: slice ranges, in the
    order of ``zone_extent``'s upper, middle, lower) with an ILD extent of at least ``zone_percent``
    (``DIFFUSE_PATTERN_ZONE_PERCENT`` by default) is left out: in patchy ground glass or reticulation
    each patch looks like a subsolid nodule, and the ILD extent already reports them (the Fleischner
    Society's nodule guideline addresses focal nodules, not diffuse lung disease). Solid lesions are always kept.
    """
    extents = list(zone_extent.values())
    kept, left_out = [], 0
    for nodule in found:
        slice_index = int(round(nodule.center_index[0]))
        zone = next((k for k, part in enumerate(zones) if part.start <= slice_index < part.stop), None)
        if nodule.type != "solid" and zone is not None and extents[zone] >= zone_percent:
            left_out += 1
        else:
            kept.append(nodule)
    return kept, left_out


def _is_consolidation(nodule: nodules.Nodule, consolidation_mask: np.ndarray, spacing_mm, *,
                      share: float = CONSOLIDATION_SHARE) -> bool:
    """Whether a lesion is consolidation: it is as large as a 30 mm sphere and of a mass's mean
    diameter (30 mm or more, ``lesion_kind``), and at least ``share`` (``CONSOLIDATION_SHARE`` by default)
    of the sphere of its mean diameter lies in the consolidation mask. Otherwise it is a nodule or a mass.

    One region, one finding: lesions under that size are taken out of the consolidation before it is
    measured (:func:`_detect_nodules`), and so is a large lesion this names a mass (:func:`assess_findings`
    measures the consolidation again without it); a lesion named consolidation stays in its volume, and
    its region is not listed again (:func:`_consolidation_regions`).
    """
    if not _as_large_as_30_mm_sphere(nodule) or lesion_kind(nodule.mean_diameter_mm) != "mass":
        return False
    box, sphere = _lesion_sphere(nodule, spacing_mm, consolidation_mask.shape)
    return bool(np.count_nonzero(consolidation_mask[box] & sphere) >= share * np.count_nonzero(sphere))


def _consolidation_regions(volume: CtVolume, consolidation_mask: np.ndarray, named: list[nodules.Nodule],
                           method: str) -> list[nodules.Nodule]:
    """The consolidation's regions as large as a 30 mm sphere that no lesion line names yet, measured
    as lesions (centre, Lung-RADS mean diameter, volume), so that each is one finding with a place and a
    size: a large juxtapleural tumour or a lobar consolidation fails the nodule shape tests but is
    still reported where it is (``named``: the detector's lesions already named consolidation)."""
    present = [np.flatnonzero(consolidation_mask.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
    if any(not axis.size for axis in present):
        return []
    box = tuple(slice(int(axis[0]), int(axis[-1]) + 1) for axis in present)
    labels, count = ndimage.label(consolidation_mask[box])
    sizes = np.bincount(labels.ravel(), minlength=count + 1) * float(np.prod(volume.spacing_mm))
    large = np.flatnonzero(sizes >= np.pi / 6 * nodules.DIAMETER_RANGE_MM[1] ** 3)
    # A named lesion's region is the component holding most of its sphere: its centre voxel may be air
    # (an air bronchogram, a cavity) and lie in no component.
    taken = set()
    for nodule in named:
        local = replace(nodule, center_index=tuple(c - part.start for c, part in zip(nodule.center_index, box)))
        sphere_box, sphere = _lesion_sphere(local, volume.spacing_mm, labels.shape)
        inside = labels[sphere_box][sphere]
        if np.any(inside):
            taken.add(int(np.bincount(inside[inside > 0]).argmax()))
    regions = []
    for index in large:
        if index == 0 or int(index) in taken:
            continue
        region_box = ndimage.find_objects((labels == index).astype(np.uint8))[0]
        component = labels[region_box] == index
        offset = tuple(part.start + inner.start for part, inner in zip(box, region_box))
        full = tuple(slice(o, o + n) for o, n in zip(offset, component.shape))
        regions.append(nodules.measure_nodule(component, volume.hu[full], volume.spacing_mm, offset=offset,
                                              method=method))
    return regions


def _nodule_lines(volume: CtVolume, found: list[nodules.Nodule], prior: Optional[dict], method: str,
                  consolidated: Optional[list[bool]] = None, *,
                  match_distance_mm: float = MATCH_DISTANCE_MM) -> list[dict]:
    """One JSON line per lesion, with status against the prior scan and both guidelines' advice
    (``consolidated``: which lesions are consolidation, see :func:`_is_consolidation`; a prior lesion is
    this one when its centre lies within ``match_distance_mm``)."""
    # A prior exam counts for nodules only when its nodules were assessed (thin enough sections).
    assessed_before = prior is not None and (prior.get("nodule_guideline") or {}).get("assessed", True)
    prior_nodules = prior.get("nodules") if assessed_before else None
    groups = [fleischner_group(n.type) for n in found]
    lines = []
    consolidated = consolidated or [False] * len(found)
    for nodule, group, is_consolidation in zip(found, groups, consolidated):
        centre = volume.patient_position(nodule.center_index)
        before = _match(centre, prior_nodules, match_distance_mm) if prior_nodules is not None else None
        status = nodule_status(nodule.mean_diameter_mm, before["mean_diameter_mm"] if before else None,
                               has_prior_exam=prior_nodules is not None)
        description = NoduleDescription(nodule.type, nodule.mean_diameter_mm, nodule.solid_component_mm, status,
                                        prior_category=(before or {}).get("lung_rads", {}).get("category"))
        lines.append(nodule_line(description, volume_mm3=nodule.volume_mm3, center_mm=centre,
                                 multiple=groups.count(group) > 1, method=method,
                                 prior_mean_diameter_mm=before["mean_diameter_mm"] if before else None,
                                 consolidation=is_consolidation))
    return lines


def nodule_line(description: NoduleDescription, *, volume_mm3: float, center_mm: list[float], multiple: bool,
                method: str, prior_mean_diameter_mm: Optional[float] = None, consolidation: bool = False) -> dict:
    """The report line of one lesion: measurements, status and both guidelines' category and advice.

    ``lesion`` is ``nodule`` or ``mass`` by size (``nodule_guidelines.lesion_kind``), or ``consolidation``
    for a region of 30 mm or more that the consolidation volume counts (``consolidation``), which then
    carries ``CONSOLIDATION_OR_MASS_NOTE``.
    """
    kind = lesion_kind(description.mean_diameter_mm)
    named = {"lesion": "consolidation", "note": CONSOLIDATION_OR_MASS_NOTE} if consolidation and kind == "mass" else {}
    return {
        "lesion": kind,
        "type": description.type, "mean_diameter_mm": description.mean_diameter_mm,
        "solid_component_mm": description.solid_component_mm, "volume_mm3": volume_mm3, "center_mm": center_mm,
        "status": description.status, "prior_mean_diameter_mm": prior_mean_diameter_mm,
        "lung_rads": lung_rads_category(description),
        "fleischner": fleischner_recommendation(description, multiple=multiple),
        "method": method,
        **named,
    }


def _match(centre: list[float], prior_nodules: list[dict], max_distance_mm: float) -> Optional[dict]:
    """The prior lesion nearest ``centre`` within ``max_distance_mm``, or None."""
    best, best_distance = None, max_distance_mm
    for candidate in prior_nodules:
        distance = float(np.linalg.norm(np.subtract(centre, candidate.get("center_mm", [np.inf] * 3))))
        if distance <= best_distance:
            best, best_distance = candidate, distance
    return best
