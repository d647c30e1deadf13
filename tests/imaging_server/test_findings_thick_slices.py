"""Masses on thick slices (issue 28): on slices thicker than ``findings.MAX_NODULE_SLICE_MM`` (3 mm) and up
to ``findings.MAX_MASS_SLICE_MM`` (5 mm) lesions of 30 mm or more are still reported, with the caveat that
size and type are approximate; smaller nodules stay not assessed, and beyond 5 mm nothing is reported.
The scans are the phantoms re-sliced as a scanner's thicker reconstruction would (``ct_fixtures.reacquired``)."""
from __future__ import annotations

import numpy as np
import pytest

from ct_fixtures import reacquired
from imaging_server import findings
from imaging_server.dicom_io import CtVolume
from imaging_server.fhir_report import finding_observations, finding_statements
from imaging_server.nodule_review import regrade
from imaging_server.phantom import CONSOLIDATION_FINDING, make_phantom
from imaging_server.quantify import quantify_volume

FINE_SHAPE = (120, 256, 256)  # 2.5 mm slices, 1.33 mm pixels, as test_findings' fine phantom
TUMOUR = {"center_mm": (100.0, 20.0, -20.0), "semi_axes_mm": (45.0, 45.0, 45.0)}  # test_findings' 9 cm tumour
NO_CONSOLIDATION = {"center_mm": CONSOLIDATION_FINDING["center_mm"], "semi_axes_mm": (0.1, 0.1, 0.1)}


def _fine(**options):
    phantom = make_phantom(shape=FINE_SHAPE, **options)
    return phantom, CtVolume(hu=phantom.hu, spacing_mm=phantom.spacing_mm)


def _phantom_mm(phantom, centre_mm):
    """A reported centre (patient mm of the phantom's thin volume, which a re-slicing keeps) in the
    phantom's own millimetres (the mapping of test_findings' tumour test)."""
    dz, dy, dx = phantom.spacing_mm
    x, y, z = centre_mm
    return [x + dx / 2 - 170.0, y + dy / 2 - 170.0, z - dz / 2 + 150.0]


@pytest.fixture(scope="module")
def tumour():
    return _fine(seed=3, consolidation=TUMOUR)


@pytest.fixture(scope="module")
def tumour_5_mm(tumour):
    return quantify_volume(reacquired(tumour[1], slice_mm=5.0)).metrics


def test_a_9_cm_tumour_on_5_mm_slices_is_one_lesion_line_with_the_caveat(tumour, tumour_5_mm):
    phantom, _ = tumour
    lines = tumour_5_mm["nodules"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["lesion"] in ("mass", "consolidation") and line["mean_diameter_mm"] >= 30.0, line
    assert np.linalg.norm(np.subtract(_phantom_mm(phantom, line["center_mm"]), TUMOUR["center_mm"])) <= 30.0
    assert line["thick_sections"]["slice_mm"] == 5.0
    assert "size and type are approximate" in line["thick_sections"]["caveat"]
    assert "thin-section CT" in line["thick_sections"]["caveat"]
    # The guideline's category of a mass stays (Lung-RADS 4B as on thin slices), with the caveat added.
    assert line["lung_rads"]["category"] == "4B"
    guideline = tumour_5_mm["nodule_guideline"]
    assert guideline["assessed"] is False and guideline["method"] == "not assessed: slices thicker than 3 mm"
    assert guideline["masses_only"].startswith("masses only (slices 5 mm)")


def test_the_report_and_the_review_carry_the_caveat(tumour_5_mm):
    statements = finding_statements(tumour_5_mm)
    assert any(s.startswith("Nodules not assessed: slices thicker than 3 mm; masses only (slices 5 mm)")
               for s in statements), statements
    lesion = [s for s in statements if s.startswith(("Mass 1", "Consolidation 1"))]
    assert len(lesion) == 1 and "Measured on 5 mm sections" in lesion[0], statements
    notes = [o["note"][0]["text"] for o in finding_observations(tumour_5_mm, 0.0) if o["id"] == "pulmonary-nodule-1"]
    assert len(notes) == 1 and "Measured on 5 mm sections" in notes[0]
    # A reader's regrading (nodule_review) keeps the caveat on the line.
    edited = regrade([{**tumour_5_mm["nodules"][0], "mean_diameter_mm": 70.0, "solid_component_mm": 70.0}])[0]
    assert edited["mean_diameter_mm"] == 70.0
    assert edited["thick_sections"] == tumour_5_mm["nodules"][0]["thick_sections"]


def test_beyond_the_mass_limit_nothing_is_reported(tumour):
    _, volume = tumour
    metrics = quantify_volume(reacquired(volume, slice_mm=7.5)).metrics
    assert findings.MAX_MASS_SLICE_MM < 7.5
    assert metrics["nodules"] == [] and "masses_only" not in metrics["nodule_guideline"]


def test_nodules_under_30_mm_are_not_reported_on_thick_slices():
    """The fine phantom's 6-12 mm nodules without its consolidation: the detector finds them (and a few
    ground-glass look-alikes) on 5 mm slices, yet no line is reported."""
    phantom, volume = _fine(seed=4, consolidation=NO_CONSOLIDATION)
    thin = quantify_volume(volume).metrics
    assert sum(n["mean_diameter_mm"] >= 6 for n in thin["nodules"]) >= 3  # they are there on 2.5 mm slices
    thick = quantify_volume(reacquired(volume, slice_mm=5.0)).metrics
    assert thick["nodules"] == [] and thick["nodule_guideline"]["lung_rads_exam_category"] == "1"


def test_the_default_phantom_on_5_mm_slices_names_only_its_consolidation():
    """The default test phantom has 5 mm slices: its 6-12 mm nodules are not reported; its consolidation (an
    ellipsoid of 28 x 28 x 36 mm, Lung-RADS mean diameter 32 mm) is a region of a mass's size, reported once
    at its place with the caveat. Without it, nothing is reported."""
    phantom = make_phantom()
    metrics = quantify_volume(CtVolume(hu=phantom.hu, spacing_mm=phantom.spacing_mm)).metrics
    assert len(metrics["nodules"]) == 1, metrics["nodules"]
    line = metrics["nodules"][0]
    assert line["lesion"] in ("mass", "consolidation") and "thick_sections" in line
    assert abs(line["mean_diameter_mm"] - 32.0) <= 3.0
    assert np.linalg.norm(np.subtract(_phantom_mm(phantom, line["center_mm"]),
                                      CONSOLIDATION_FINDING["center_mm"])) <= 10.0
    empty = make_phantom(consolidation=NO_CONSOLIDATION)
    assert quantify_volume(CtVolume(hu=empty.hu, spacing_mm=empty.spacing_mm)).metrics["nodules"] == []
