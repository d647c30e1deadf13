"""The crackle export writes the same bytes whatever the interpreter's hash seed: the README's
byte-identical re-issue (``--reuse-weights``) holds only if torch.onnx and the INT8 QDQ quantisation
do not follow ``PYTHONHASHSEED`` (skl2onnx's opset order did, for the tabular models)."""

import resource
import subprocess

import pytest

from common.child_process import module_command

pytest.importorskip("torch", reason="the export needs the training extra (torch)")

#: A child that exports a seeded untrained crackle network to FP32 and INT8 ONNX in the folder it is given.
EXPORT = """
import pathlib, sys
import numpy as np, torch
from audio_models import export
from audio_models.model import WINDOW_SAMPLES, CrackleNet
out = pathlib.Path(sys.argv[1])
torch.manual_seed(0)
fp32 = export.export_fp32(CrackleNet(), out / "auscultation_fp32.onnx")
calibration = np.random.default_rng(0).standard_normal((16, WINDOW_SAMPLES)).astype(np.float32)
export.export_int8(fp32, out / "auscultation_int8.onnx", np.split(calibration, 4))
"""


def _capped():
    """A runaway export fails in the child, not on the shared machine."""
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


def _export(folder, hash_seed):
    folder.mkdir()
    command = module_command("audio_models.export")  # this checkout's code, as a child sees it
    env = {**command["env"], "PYTHONHASHSEED": str(hash_seed), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([command["args"][0], "-c", EXPORT, str(folder)], cwd=command["cwd"], env=env,
                          capture_output=True, text=True, timeout=180, preexec_fn=_capped)
    assert done.returncode == 0, done.stderr
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.onnx"))}


def test_the_fp32_and_int8_files_do_not_follow_the_hash_seed(tmp_path):
    # 9 is one of the seeds that gave skl2onnx's other opset order.
    first, second = _export(tmp_path / "seed0", 0), _export(tmp_path / "seed9", 9)
    assert sorted(first) == ["auscultation_fp32.onnx", "auscultation_int8.onnx"]
    assert first == second
