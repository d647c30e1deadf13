"""``ildscreen ct quantify``: the JSON the edge and the server share, a readable table, one-line errors."""
from __future__ import annotations

import json

import pytest

from edge.cli import cli
from ct_fixtures import phantom, series_dir  # noqa: F401 - fixtures
from imaging_server.phantom import make_phantom, write_series


def test_quantify_json_prints_exactly_the_contract_keys(runner, series_dir, phantom):
    result = runner.invoke(cli, ["ct", "quantify", "--json", str(series_dir)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert list(metrics) == ["lung_volume_ml", "mean_lung_density_hu", "haa_percent", "laa_percent", "skewness",
                             "kurtosis", "zones", "lung_mask", "ild_extent", "nodules", "nodule_guideline", "consolidation", "bone"]
    assert set(metrics["consolidation"]) >= {"volume_ml", "percent"}
    assert set(metrics["bone"]) >= {"vertebrae", "trabecular_hu", "flag"}
    assert "progression" not in metrics  # only with --prior
    assert list(metrics["zones"]) == ["upper", "middle", "lower"]
    assert abs(metrics["haa_percent"] - phantom.truth["haa_percent"]) <= 1.0


def test_quantify_table_shows_zones_extent_and_disclaimer(runner, series_dir):
    result = runner.invoke(cli, ["ct", "quantify", str(series_dir)])
    assert result.exit_code == 0, result.output
    for word in ("whole", "upper", "middle", "lower", "extent estimate (unvalidated)", "ILD extent index",
                 "Nodules not assessed: slices thicker than 3 mm", "consolidation", "vertebral trabecular attenuation",
                 "methods: lung mask classical", "kVp", "Not for clinical use until validated.", "ml dense tissue"):
        assert word in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [({"modality": "MR"}, "series is not CT (modality MR)"),
     ({"with_rescale": False}, "missing RescaleSlope/RescaleIntercept")],
)
def test_bad_series_is_a_one_line_error(runner, tmp_path, options, message):
    write_series(make_phantom(shape=(16, 32, 32)), tmp_path, **options)
    result = runner.invoke(cli, ["ct", "quantify", "--json", str(tmp_path)])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_folder_and_non_dicom_file_are_one_line_errors(runner, tmp_path):
    missing = runner.invoke(cli, ["ct", "quantify", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not a folder" in missing.output
    (tmp_path / "a.dcm").write_text("hello")
    junk = runner.invoke(cli, ["ct", "quantify", str(tmp_path)])
    assert junk.exit_code == 1 and "unreadable DICOM: a.dcm" in junk.output and "Traceback" not in junk.output


def test_quantify_with_a_prior_carries_every_new_field(runner, tmp_path):
    """Thin sections (nodules assessed) and an earlier scan with less fibrosis: every field of the
    interface is present, the nodules are followed and progression is stated."""
    earlier = make_phantom(shape=(100, 200, 200), field_of_view_mm=300.0, lower_zone_fibrosis_fraction=0.1, seed=5)
    later = make_phantom(shape=(100, 200, 200), field_of_view_mm=300.0, lower_zone_fibrosis_fraction=0.6, seed=5,
                         noise_seed=9)
    write_series(earlier, tmp_path / "earlier", identifying=False)
    write_series(later, tmp_path / "later", identifying=False)
    result = runner.invoke(cli, ["ct", "quantify", "--json", "--context", "screening", "--prior",
                                 str(tmp_path / "earlier"), str(tmp_path / "later")])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["progression"]["progression"] is True
    assert metrics["nodule_guideline"]["applies"] == "Lung-RADS v2022"
    assert "category 0" in metrics["nodule_guideline"]["note"]  # the phantom's consolidation, in screening
    assert metrics["nodules"], "the phantom's nodules were not found"
    for nodule in metrics["nodules"]:
        assert set(nodule) >= {"type", "mean_diameter_mm", "solid_component_mm", "volume_mm3", "center_mm",
                               "lung_rads", "fleischner"}
        assert nodule["status"] == "stable" and len(nodule["center_mm"]) == 3
    table = runner.invoke(cli, ["ct", "quantify", "--prior", str(tmp_path / "earlier"), str(tmp_path / "later")])
    assert "Progression: ILD extent rose" in table.output and "Nodule 1:" in table.output


@pytest.fixture(scope="module")
def fine_series_dir(tmp_path_factory):
    """Sections thin enough for lesions (2.5 mm): the phantom's round 32 mm consolidation lies more than half,
    not 80%, in the measured consolidation (as in test_findings)."""
    folder = tmp_path_factory.mktemp("fine-ct")
    write_series(make_phantom(shape=(120, 256, 256), seed=4), folder, identifying=False)
    return folder


def test_quantify_follows_the_imaging_settings_as_the_server_does(runner, fine_series_dir, tmp_path, no_env_settings,
                                                                  monkeypatch):
    """A hospital that sets ILDSCREEN_IMAGING_* (or the data folder's config.toml) gets the same analysis from
    ``ct quantify`` as from its server: the command ignored them and reported the defaults."""
    monkeypatch.chdir(tmp_path)  # no ./imaging-data/config.toml of whoever runs the tests

    def quantified(*options: str) -> dict:
        result = runner.invoke(cli, ["ct", "quantify", "--json", *options, str(fine_series_dir)])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def large_lesions(metrics: dict) -> list:
        return [(n["lesion"], n["mean_diameter_mm"]) for n in metrics["nodules"] if n["mean_diameter_mm"] >= 30]

    assert large_lesions(quantified()) == [("consolidation", 32.0)]
    monkeypatch.setenv("ILDSCREEN_IMAGING_CONSOLIDATION_LESION_SHARE", "0.8")
    monkeypatch.setenv("ILDSCREEN_IMAGING_NODULE_GUIDELINE_CONTEXT", "screening")
    metrics = quantified()
    assert ("mass", 32.0) in large_lesions(metrics)
    assert metrics["nodule_guideline"]["applies"] == "Lung-RADS v2022"
    assert quantified("--context", "incidental")["nodule_guideline"]["applies"] == "Fleischner 2017"  # flag first
    monkeypatch.delenv("ILDSCREEN_IMAGING_CONSOLIDATION_LESION_SHARE")
    monkeypatch.delenv("ILDSCREEN_IMAGING_NODULE_GUIDELINE_CONTEXT")
    (tmp_path / "hospital").mkdir()
    (tmp_path / "hospital" / "config.toml").write_text("diffuse_pattern_zone_percent = 40\n")
    rule = quantified("--data-dir", str(tmp_path / "hospital"))["nodule_guideline"]["ild_pattern_rule"]
    assert ">= 40%" in rule


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("ILDSCREEN_IMAGING_CONSOLIDATION_LESION_SHARE", "1.5", "consolidation_lesion_share"),
    ("ILDSCREEN_IMAGING_MASS_MAX_SLICE_MM", "12", "mass_max_slice_mm"),
    ("ILDSCREEN_IMAGING_GROUND_GLASS_MEAN_HU", "dense", "ground_glass_mean_hu"),
    ("ILDSCREEN_IMAGING_GROUND_GLAS_MEAN_HU", "-600", "ILDSCREEN_IMAGING_GROUND_GLAS_MEAN_HU: unknown setting"),
])
def test_a_bad_imaging_setting_is_a_one_line_error_naming_it(runner, series_dir, monkeypatch, variable, value,
                                                             message):
    monkeypatch.setenv(variable, value)
    result = runner.invoke(cli, ["ct", "quantify", "--json", str(series_dir)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_mass_slice_setting_reaches_the_command(runner, series_dir, monkeypatch):
    """The test series has 5 mm slices: its 30 mm consolidation is reported with the thick-section caveat
    by default (masses only), and nothing with mass_max_slice_mm at 3 mm."""
    result = runner.invoke(cli, ["ct", "quantify", "--json", str(series_dir)])
    lines = json.loads(result.output)["nodules"]
    assert len(lines) == 1 and lines[0]["thick_sections"]["slice_mm"] == 5.0
    monkeypatch.setenv("ILDSCREEN_IMAGING_MASS_MAX_SLICE_MM", "3")
    result = runner.invoke(cli, ["ct", "quantify", "--json", str(series_dir)])
    assert result.exit_code == 0 and json.loads(result.output)["nodules"] == []


def test_missing_prior_folder_is_a_one_line_error(runner, series_dir, tmp_path):
    result = runner.invoke(cli, ["ct", "quantify", "--prior", str(tmp_path / "nope"), str(series_dir)])
    assert result.exit_code == 1 and "not a folder" in result.output and "Traceback" not in result.output


def test_missing_onnx_model_is_a_one_line_error(runner, series_dir, tmp_path):
    result = runner.invoke(cli, ["ct", "quantify", "--onnx-model", str(tmp_path / "lung.onnx"), str(series_dir)])
    assert result.exit_code == 1 and "no model file" in result.output


def test_bench_reports_seconds_and_peak_rss_as_json(runner):
    """Shape of the benchmark output only (a tiny series); the real number comes from a manual run."""
    result = runner.invoke(cli, ["ct", "bench", "--json", "--size", "64", "--slices", "24"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["shape"] == [24, 64, 64] and report["target_seconds"] == 30.0
    assert report["total_seconds"] > 0 and report["peak_rss_mb"] > 0
    assert abs(report["measured_haa_percent"] - report["truth_haa_percent"]) <= 1.5
    assert report["previous_total_seconds"] == 19.6
    assert 0 < report["total_cpu_seconds"] <= report["total_seconds"] * 1.1  # one core: CPU time <= wall time
    assert set(report["steps"]) == {"segmentation_seconds", "density_seconds", "ild_extent_seconds",
                                    "nodules_seconds", "consolidation_seconds", "bone_seconds"}
    table = runner.invoke(cli, ["ct", "bench", "--size", "64", "--slices", "24"])
    assert "before the findings: 19.6 s" in table.output and "steps: segmentation" in table.output


def test_bench_measures_the_code_it_was_started_with_from_any_folder(runner, tmp_path, monkeypatch):
    """The benchmark's child is ``python -m imaging_server.bench``, which imports from its working directory
    first: started from a folder holding another ``imaging_server`` (a checkout, a worktree), it timed that
    copy. It must measure the code the command itself imported."""
    decoy = tmp_path / "imaging_server"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    (decoy / "bench.py").write_text('print(\'{"decoy": true}\')\n')
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["ct", "bench", "--json", "--size", "64", "--slices", "16"])
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.output)
    assert "decoy" not in report and report["total_seconds"] > 0


def test_quantify_help_names_every_lung_mask_setting_and_where_they_are_described(runner):
    from imaging_server.config import ImagingSettings

    result = runner.invoke(cli, ["ct", "quantify", "--help"])
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())  # click wraps lines
    lung_settings = [name for name in ImagingSettings.model_fields if name.startswith("lung_")]
    assert lung_settings, "the lung-mask settings moved: update this test"
    for name in lung_settings:
        assert name in help_text, name
    assert "docs/reference/imaging-settings.md" in help_text
