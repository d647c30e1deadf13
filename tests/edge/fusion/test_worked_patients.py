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


def screen(args, data_dir):
    script = Path(sys.executable).parent / "ildscreen"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "edge"]
    result = subprocess.run([*command, "screen", "--json", "--data-dir", str(data_dir), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def at(output, dotted):
    for key in dotted.split("."):
        output = output[key]
    return output


def test_the_document_has_three_worked_patients():
    assert len(BLOCKS) == 3


@pytest.mark.parametrize("block", BLOCKS, ids=[f"patient-{c}" for c in "ABC"])
def test_a_worked_patient_is_reproduced_by_the_cli(block, tmp_path):
    patient = json.loads(block)
    output = screen(patient["args"], tmp_path / "data")
    for key, expected in patient["expect"].items():
        value = at(output, key)
        if isinstance(expected, float) or (isinstance(expected, list) and expected and isinstance(expected[0], float)):
            assert value == pytest.approx(expected, abs=1e-4), key
        else:
            assert value == expected, key
