"""The worked patients of docs/evidence.md are what `ildscreen screen --json` computes: the
documented arithmetic and the running code cannot drift apart."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BLOCKS = re.findall(r"```worked-patient\n(.*?)```", (ROOT / "docs" / "evidence.md").read_text(encoding="utf-8"),
                    re.S)


def run(args, data_dir):
    """``ildscreen screen`` as a user runs it, from the repository root."""
    script = Path(sys.executable).parent / "ildscreen"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "edge"]
    return subprocess.run([*command, "screen", "--data-dir", str(data_dir), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def screen(args, data_dir):
    result = run(["--json", *args], data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def at(output, dotted):
    for key in dotted.split("."):
        output = output[key]
    return output


def test_the_document_has_four_worked_patients():
    assert len(BLOCKS) == 4


@pytest.mark.parametrize("block", BLOCKS, ids=[f"patient-{c}" for c in "ABCD"])
def test_a_worked_patient_is_reproduced_by_the_cli(block, tmp_path):
    patient = json.loads(block)
    output = screen(patient["args"], tmp_path / "data")
    for key, expected in patient["expect"].items():
        value = at(output, key)
        if isinstance(expected, float) or (isinstance(expected, list) and expected and isinstance(expected[0], float)):
            assert value == pytest.approx(expected, abs=1e-4), key
        else:
            assert value == expected, key


def test_the_cli_summary_names_the_guideline_line_uncertainty_and_validation(tmp_path):
    result = run(["--age", "62", "--sex", "F", "--ctd", "SSc"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "Systemic sclerosis is at increased risk of ILD: screen with HRCT and PFTs." in result.stdout
    assert "We are 90% sure the risk is between" in result.stdout
    assert "The tests not done yet could still move it" in result.stdout
    assert "Not validated for clinical use" in result.stdout


def test_gap_staging_on_the_command_line_needs_confirmed_ild_and_both_pfts(tmp_path):
    base = ["--json", "--age", "66", "--sex", "M", "--ctd", "RA", "--fvc", "49", "--dlco", "35"]
    assert json.loads(run(base, tmp_path / "data").stdout)["staging"] is None
    staged = json.loads(run([*base, "--ild-confirmed"], tmp_path / "data").stdout)["staging"]
    assert staged["gap"] == {"points": [7, 7], "stage": "III"} and staged["ild_gap"]["index"] == [5, 5]
    refused = run(["--age", "66", "--sex", "M", "--ctd", "RA", "--fvc", "49", "--ild-confirmed"], tmp_path / "data")
    assert refused.returncode != 0 and "needs both --fvc and --dlco" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_tracheal_recording_alone_is_refused_as_no_lung_site(tmp_path):
    from support import lung_sound_bytes

    wav = tmp_path / "trachea.wav"
    wav.write_bytes(lung_sound_bytes())
    result = run(["--age", "60", "--sex", "F", "--ctd", "RA", "--audio", f"trachea={wav}"], tmp_path / "data")
    assert result.returncode != 0 and "no recording from a lung site" in result.stderr
