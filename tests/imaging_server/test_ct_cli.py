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
                             "kurtosis", "zones"]
    assert list(metrics["zones"]) == ["upper", "middle", "lower"]
    assert abs(metrics["haa_percent"] - phantom.truth["haa_percent"]) <= 1.0


def test_quantify_table_shows_zones_extent_and_disclaimer(runner, series_dir):
    result = runner.invoke(cli, ["ct", "quantify", str(series_dir)])
    assert result.exit_code == 0, result.output
    for word in ("whole", "upper", "middle", "lower", "extent estimate (unvalidated)",
                 "Not for clinical use until validated."):
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
