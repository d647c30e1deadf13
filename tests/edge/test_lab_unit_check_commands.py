"""The commands that score a lab file without storing it (``ildscreen labs score``, ``ildscreen screen
--labs``) name each result that looks like a unit slip: a warning on stderr and ``unit_checks`` in the
JSON, the panel scored as given; a panel without one draws no warning."""
import json

import pytest

from edge.cli import cli
from edge.labs import score_lab_panel
from test_lab_unit_check_entry import SLIP, USUAL

SCREEN = ["screen", "--age", "70", "--sex", "F", "--ctd", "SSc"]


def panel_file(tmp_path, entries) -> str:
    path = tmp_path / "panel.csv"
    path.write_text("analyte,value,unit\n" + "".join(f"{e['analyte']},{e['value']},{e['unit']}\n" for e in entries),
                    encoding="utf-8")
    return str(path)


@pytest.fixture
def data_dir(tmp_path, no_env_settings):
    return str(tmp_path / "data")


def test_labs_score_names_a_likely_slip_and_scores_the_panel_as_given(runner, tmp_path, data_dir):
    panel = panel_file(tmp_path, USUAL + [SLIP])
    as_json = runner.invoke(cli, ["labs", "score", "--json", "--data-dir", data_dir, panel])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    (check,) = body["unit_checks"]
    assert (check["analyte"], check["value"], check["unit"], check["direction"], check["usual_unit"]) == (
        "bilirubin", 0.8, "umol/L", "low", "mg/dL")
    assert body["probability"] == pytest.approx(score_lab_panel(USUAL + [SLIP])["probability"], abs=1e-6)
    assert "warning: bilirubin" in as_json.stderr and "0.8 umol/L" in as_json.stderr and "0.8 mg/dL" in as_json.stderr
    plain = runner.invoke(cli, ["labs", "score", "--data-dir", data_dir, panel])
    assert plain.exit_code == 0 and "ILD probability" in plain.stdout
    assert plain.stderr.count("warning: ") == 1 and "scored as given" in plain.stderr


def test_labs_score_of_a_usual_panel_warns_of_nothing(runner, tmp_path, data_dir):
    panel = panel_file(tmp_path, USUAL)
    as_json = runner.invoke(cli, ["labs", "score", "--json", "--data-dir", data_dir, panel])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["unit_checks"] == [] and as_json.stderr == ""
    plain = runner.invoke(cli, ["labs", "score", "--data-dir", data_dir, panel])
    assert plain.exit_code == 0 and "ILD probability" in plain.stdout and plain.stderr == ""


def test_the_data_folders_setting_decides_what_is_far(runner, tmp_path, data_dir):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "config.toml").write_text("lab_unit_check_factor = 20\n", encoding="utf-8")
    # 0.8 umol/L is inside [3 / 20, 21 x 20]: not far at this programme's factor.
    result = runner.invoke(cli, ["labs", "score", "--json", "--data-dir", data_dir, panel_file(tmp_path, [SLIP])])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unit_checks"] == [] and result.stderr == ""


def test_screen_names_a_likely_slip_in_its_labs_file(runner, tmp_path, data_dir):
    slipped = panel_file(tmp_path, USUAL + [SLIP])
    as_json = runner.invoke(cli, [*SCREEN, "--json", "--data-dir", data_dir, "--labs", slipped])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert [(c["analyte"], c["usual_unit"]) for c in body["unit_checks"]] == [("bilirubin", "mg/dL")]
    assert "labs" in body["contributions"]  # scored as given, not refused
    assert "warning: bilirubin" in as_json.stderr and "0.8 mg/dL" in as_json.stderr
    plain = runner.invoke(cli, [*SCREEN, "--data-dir", data_dir, "--labs", slipped])
    assert plain.exit_code == 0 and "ILD risk" in plain.stdout and "warning: bilirubin" in plain.stderr


def test_screen_with_a_usual_labs_file_or_none_warns_of_nothing(runner, tmp_path, data_dir):
    for labs in (["--labs", panel_file(tmp_path, USUAL)], []):
        result = runner.invoke(cli, [*SCREEN, "--json", "--data-dir", data_dir, *labs])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["unit_checks"] == [] and result.stderr == ""
