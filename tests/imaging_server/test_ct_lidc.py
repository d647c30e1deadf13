"""Findings on real CT: three LIDC-IDRI slabs against four radiologists' contours and texture scores.

For each lesion the readers outlined on the slab's images, the report must name a finding whose
centre lies within ``CENTRE_MM`` (10 mm, ``ct_fixtures``) of the readers' mean centre, typed as the
readers' majority texture says (1-2 ground glass, 3 part-solid, 4-5 solid), with a Lung-RADS mean diameter within
the readers' own range (each reader's long + short axis on the slab's slices) widened by
``DIAMETER_SLACK_MM`` (1.5 mm) -- the issue's tolerance for the phantoms, about two pixels here. The
readers' contours lie just outside the lesion (LIDC convention), so their diameters run about a
pixel larger than the lesion's.

Agreement measured (issue 28): LIDC-IDRI-0001 solid 28.3 mm (readers 29.0-30.0), LIDC-IDRI-0002
ground glass 18.3 mm (the two readers 15.6 and 17.6 on the slab's seven contoured slices: 0.7 mm above
the larger, inside the slack), LIDC-IDRI-0003 solid 27.7 mm (readers 25.8-31.5); each centre within
2 mm of the readers' mean centre.

Data: ``../shared/data/ct_lidc`` (CC BY 3.0, The Cancer Imaging Archive; Armato SG III et al. Med
Phys 2011;38:915-931). Never committed: skipped where absent, failed under CI.
"""
from __future__ import annotations


import numpy as np
import pytest

from ct_fixtures import LIDC_CASES, finding_of_reader_lesion, lidc, lidc_reports  # noqa: F401 - fixtures
from imaging_server.dicom_io import load_series_folder
from imaging_server.lidc_readers import reference_lesions, sop_slice_index, texture_type
from imaging_server.quantify import quantify_volume


@pytest.mark.parametrize("case", LIDC_CASES)
def test_each_readers_lesion_is_found_typed_and_measured_within_the_readers_range(lidc_reports, case):
    volume, metrics, references = lidc_reports[case]
    assert references, f"{case}: no reader lesion on the slab"
    for reference in references:
        finding_of_reader_lesion(metrics, volume.patient_position(reference.centre_index), reference)


def test_the_ground_glass_mean_threshold_decides_the_pleura_based_ground_glass_nodule(lidc_reports, tmp_path):
    """LIDC-IDRI-0002's ground-glass nodule is found only on the lung's mean attenuation: a hospital that
    raises the ground_glass_mean_hu setting to -500 HU no longer has it reported (the setting is used)."""
    from imaging_server.config import load_settings
    from imaging_server.findings import finding_methods_for

    volume, metrics, _ = lidc_reports["LIDC-IDRI-0002"]
    assert [n["type"] for n in metrics["nodules"]] == ["ground_glass"]
    stricter = finding_methods_for(load_settings(data_dir=tmp_path, ground_glass_mean_hu=-500))
    assert quantify_volume(volume, methods=stricter).metrics["nodules"] == []


@pytest.mark.parametrize("case", LIDC_CASES)
def test_the_lung_section_changes_smoothly_from_slice_to_slice(lidc_reports, case):
    """Lungs grow or shrink gradually over a few millimetres: no slice's mask area differs from its
    neighbour's by more than 10%. (LIDC-IDRI-0001's lungs touch at junction lines; filled as one, the
    mediastinum came into the mask on four slices, 240 -> 293 cm2 from one slice to the next.)"""
    from imaging_server.segmentation import ClassicalLungSegmenter

    volume, metrics, _ = lidc_reports[case]
    areas = ClassicalLungSegmenter().segment(volume).sum(axis=(1, 2)).astype(float)
    areas = areas[areas > 0]
    assert np.max(np.abs(np.diff(areas)) / areas[:-1]) <= 0.10, areas
    assert metrics["lung_volume_ml"] == pytest.approx(areas.sum() * np.prod(volume.spacing_mm) / 1000, abs=0.1)


def test_the_lung_mask_keeps_the_juxtapleural_tumour(lidc, lidc_reports):
    """LIDC-IDRI-0001's solid lesion abuts the chest wall: a threshold mask cut it out (a dent in the
    mask). The mask must hold at least 90% of the pixels inside every reader's contours, and report
    how much dense tissue it holds."""
    from matplotlib.path import Path as Polygon

    from imaging_server.lidc_readers import read_marks
    from imaging_server.segmentation import ClassicalLungSegmenter

    volume, metrics, _ = lidc_reports["LIDC-IDRI-0001"]
    series = lidc / "LIDC-IDRI-0001" / "series"
    mask = ClassicalLungSegmenter().segment(volume)
    index = sop_slice_index(series)
    rows, cols = np.mgrid[:volume.hu.shape[1], :volume.hu.shape[2]]
    centres = np.c_[cols.ravel(), rows.ravel()]
    inside = total = 0
    for mark in read_marks(lidc / "LIDC-IDRI-0001" / "readers.xml"):
        for uid, contours in mark.contours.items():
            for points in contours:
                drawn = Polygon(points).contains_points(centres).reshape(rows.shape)
                inside += int(np.count_nonzero(drawn & mask[index[uid]]))
                total += int(np.count_nonzero(drawn))
    assert total > 1000 and inside / total >= 0.9, (inside, total)
    assert metrics["lung_mask"]["dense_tissue_ml"] >= 5.0
    assert metrics["lung_mask"]["volume_ml"] == metrics["lung_volume_ml"]


def test_reader_file_texture_scale_and_diameters(lidc):
    """The parser: four readers for LIDC-IDRI-0001's lesion, solid by texture, 29-30 mm by their contours."""
    series = lidc / "LIDC-IDRI-0001" / "series"
    volume = load_series_folder(series)
    (lesion,) = reference_lesions(lidc / "LIDC-IDRI-0001" / "readers.xml", sop_slice_index(series),
                                  volume.spacing_mm[1:], volume.spacing_mm)
    assert sorted(lesion.textures) == [4, 5, 5, 5] and lesion.majority_type == "solid"
    assert 28.0 <= min(lesion.diameters_mm) <= max(lesion.diameters_mm) <= 31.0
    with pytest.raises(Exception, match="texture must be 1-5"):
        texture_type(0)


# Typical mid-thoracic pitch (body + disc, centre to centre): bodies 17-20.5 mm (T2-T9; Egwu OA et al. J Anat
# Soc India 2019;68:110-118) and discs about 4-6 mm (Fletcher JGR et al. Eur Spine J 2015; Kunkel ME et al.
# J Anat 2011;219:375-387).
THORACIC_PITCH_MM = 24.0


@pytest.mark.parametrize("case", LIDC_CASES)
def test_the_vertebral_column_is_followed_on_real_ct(lidc, case):
    """Each slab's vertebral body is found on (nearly) every slice, on the midline behind the body's
    centre, with bone attenuation; the whole bodies measured are as many as the slab's extent holds
    (extent / typical thoracic pitch, rounded, +-1), each with a plausible trabecular attenuation, and
    a slab without one says why."""
    from imaging_server.bone import ClassicalVertebraFinder, body_sections, bone_summary, trabecular_attenuation

    volume = load_series_folder(lidc / case / "series")
    sections, r0, c0 = body_sections(volume)
    present = sections.any(axis=(1, 2))
    assert present.mean() >= 0.8, present
    _, dy, dx = volume.spacing_mm
    centres = np.array([np.argwhere(section).mean(axis=0) + [r0, c0] for section in sections[present]])
    # The column runs straight: section centres within 15 mm of their median, behind the image centre.
    spread = np.hypot(*((centres - np.median(centres, axis=0)) * [dy, dx]).T)
    assert np.median(spread) <= 5.0 and (centres[:, 0] > volume.hu.shape[1] / 2).all()
    means = [volume.hu[k, r0:r0 + sections.shape[1], c0:c0 + sections.shape[2]][sections[k]].mean()
             for k in np.flatnonzero(present)]
    assert 100.0 <= np.median(means) <= 600.0
    bodies, column_slices = ClassicalVertebraFinder().bodies_and_column(volume)
    vertebrae = trabecular_attenuation(volume, bodies)
    expected = round(volume.hu.shape[0] * volume.spacing_mm[0] / THORACIC_PITCH_MM)
    assert expected - 1 <= len(vertebrae) <= expected + 1, vertebrae
    # Adult thoracic trabecular bone reads about 50-300 HU (osteoporotic to young; Pickhardt 2013's L1
    # thresholds lie inside); cortex or disc in the ROI would read far outside.
    assert all(50.0 <= v["trabecular_hu"] <= 300.0 for v in vertebrae), vertebrae
    summary = bone_summary(vertebrae, column_slices=column_slices)
    if not vertebrae:
        assert "column is in the field of view but no whole vertebral body" in summary["statement"]


def test_the_largest_slab_holds_one_whole_body_between_its_bright_disc_levels(lidc):
    """LIDC-IDRI-0001 (16 x 2.5 mm): the disc levels read brighter than the mid-body (about slices 5-7
    and 13-15); the body between them is measured, its ROI inside it, not split in two."""
    from imaging_server.bone import ClassicalVertebraFinder, trabecular_attenuation

    volume = load_series_folder(lidc / "LIDC-IDRI-0001" / "series")
    (vertebra,) = trabecular_attenuation(volume, ClassicalVertebraFinder().bodies(volume))
    first, last = vertebra["slices"]
    assert 5 <= first and last <= 14 and (last - first + 1) * volume.spacing_mm[0] >= 10.0
